"""The house rules, checked: every module is on the design page, the layers import without
circles (function-level imports counted), the torch-free layer imports with numpy alone,
and the top level stays small."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "contactplug"
DESIGN = ROOT / "docs" / "DESIGN.md"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """contactplug modules that `name` imports anywhere in its file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def test_every_module_is_on_the_design_page():
    text = DESIGN.read_text()
    missing = [name for name in modules() if f"`{name.removeprefix('contactplug.')}`" not in text]
    assert not missing, f"docs/DESIGN.md lacks a line for: {', '.join(missing)}"


def test_no_import_circles():
    mods = modules()
    known = set(mods)
    # a package's __init__ is imported by its modules implicitly; only explicit edges count
    graph = {name: imports_of(name, path, known) for name, path in mods.items()}
    for name in graph:
        graph[name] -= {p for p in known if name.startswith(p + ".")}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_files_layer_needs_numpy_alone():
    code = (
        "import sys\n"
        "for name in ('torch', 'esm', 'gemmi', 'scipy', 'matplotlib', 'transformers', 'yaml'):\n"
        "    sys.modules[name] = None\n"
        "import contactplug.files.contactmap, contactplug.files.rr, contactplug.files.specs\n"
        "import contactplug.files.sequences, contactplug.files.residues\n"
        "import contactplug.files.methods, contactplug.files.atomic\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_files_layer_imports_only_itself():
    """Relative imports only, so the PyMOL zip can carry a copy under another name."""
    for path in (PACKAGE / "files").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                assert not node.module.startswith("contactplug"), f"{path.name}: {node.module}"


def test_top_level_stays_small():
    top = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 15, sorted(p.name for p in top)


def test_one_version_everywhere():
    """The package's version is the one the plugin, the pipeline and the wheel carry
    (pyproject reads it from contactplug.__version__)."""

    import contactplug

    plugin = (ROOT / "plugin" / "contactplug_pymol" / "__init__.py").read_text()
    pipeline = (ROOT / "nf" / "nextflow.config").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'__version__ = "([^"]+)"', plugin)[1] == contactplug.__version__
    assert re.search(r"version\s*=\s*'([^']+)'", pipeline)[1] == contactplug.__version__
    assert 'attr = "contactplug.__version__"' in pyproject and '\nversion = "' not in pyproject


def test_one_default_model_everywhere():
    """The registry's default model is the one the pipeline's config names (the plugin's is
    held to it in tests/test_plugin.py, without importing the core)."""

    from contactplug.models.registry import DEFAULT_MODEL

    pipeline = (ROOT / "nf" / "nextflow.config").read_text()
    assert re.search(r"^\s*model\s*=\s*'([^']+)'", pipeline, re.M)[1] == DEFAULT_MODEL


# Top-level modules that make one layer together (the `bench` command's measurements)
LAYER_OF = {"timing": "bench", "memory_peaks": "bench"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return None if len(parts) == 1 else LAYER_OF.get(parts[1], parts[1])


def named_modules(path: Path, known: set[str]) -> set[str]:
    """Modules a file names as strings to import later (cli's COMMAND_MODULES table)."""
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known
    }


def real_arrows() -> set[tuple[str, str]]:
    mods = modules()
    known = set(mods)
    arrows = set()
    for name, path in mods.items():
        here = layer_of(name)
        for target in imports_of(name, path, known) | named_modules(path, known):
            there = layer_of(target)
            if here and there and there != here:
                arrows.add((here, there))
    return arrows


def drawn_layers() -> tuple[set[tuple[str, str]], dict[str, int]]:
    """The arrows the design page lists, and the level it draws each layer at."""
    text = DESIGN.read_text()
    arrows = set(re.findall(r"^- `(\w+)` → `(\w+)`", text, re.M))
    levels = {}
    for level, names in re.findall(r"^level (\d+): (.+)$", text, re.M):
        for name in re.findall(r"\w+", names.split("(")[0]):
            levels[name] = int(level)
    return arrows, levels


def test_the_drawn_arrows_are_the_imports_both_ways():
    drawn, _ = drawn_layers()
    real = real_arrows()
    assert not real - drawn, f"imports docs/DESIGN.md does not draw: {sorted(real - drawn)}"
    ghost = sorted(drawn - real)
    assert not ghost, f"arrows docs/DESIGN.md draws that no import makes: {ghost}"


def test_every_arrow_points_down_the_drawing():
    drawn, levels = drawn_layers()
    layers = {layer_of(name) for name in modules()} - {None}
    assert layers <= set(levels), f"layers not drawn at a level: {sorted(layers - set(levels))}"
    up = [(a, b) for a, b in drawn if levels[a] >= levels[b]]
    assert not up, f"arrows that do not point down: {up}"
