"""`contactplug samplesheet`, the pipeline's input check: real samplesheets, FASTA files and
structures from tests/data; every refusal is one line naming the row at fault, exit 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from complex_maps import TII

from contactplug.cli import main
from contactplug.commands.samplesheet import versions_yaml
from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import read_fasta
from contactplug.inputs.samplesheet import (
    COLUMNS,
    jacobian_ranges,
    read_proteins,
    store_fasta,
    write_tables,
)
from contactplug.inputs.structure import read_chain

DATA = Path(__file__).parent / "data"
SHEET = DATA / "nf" / "samplesheet.csv"
SCHEMA_INPUT = Path(__file__).parents[1] / "nf" / "assets" / "schema_input.json"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["-q", "samplesheet", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_samplesheet_sorted_with_sequences_and_structures():
    proteins = read_proteins(str(SHEET))
    ids = [p.id for p in proteins]
    assert ids == sorted(ids)
    assert set(ids) == {
        "1AQT_A", "1CTF_A", "1GUU_A", "1TEN_A", "2BWF_A", "2O9S_A", "1eaz", "ubiquitin"
    }  # fmt: skip
    by = {p.id: p for p in proteins}
    # the fasta column: the one record of 1eaz.fasta, whatever its header says
    assert by["1eaz"].sequence == read_fasta(DATA / "1eaz.fasta")[0].sequence
    assert Path(by["1eaz"].structure) == (DATA / "1eaz.pdb").resolve()
    assert by["1AQT_A"].chain == "A" and by["1CTF_A"].chain == ""
    assert by["ubiquitin"].structure == ""
    for p in proteins:
        if p.structure:
            assert Path(p.structure).is_absolute() and Path(p.structure).is_file()
            assert read_chain(p.structure, p.chain or None).sequence  # a readable chain


def test_fasta_and_structures_folder():
    proteins = read_proteins(fasta=str(DATA / "nf" / "proteins.fasta"), structures=str(DATA))
    assert [p.id for p in proteins] == ["1CTF_A", "1GUU_A", "2O9S_A"]
    assert [Path(p.structure).name for p in proteins] == ["1CTF_A.pdb", "1GUU_A.pdb", "2O9S_A.pdb"]


def test_structures_folder_matches_by_id_and_gives_the_chain(tmp_path):
    # 1AQT_A -> 1AQT.pdb chain A (the rule `contactplug evaluate` uses), case ignored
    folder = tmp_path / "structures"
    folder.mkdir()
    shutil.copy(DATA / "1AQT_A.pdb", folder / "1aqt.pdb")
    seq = read_chain(DATA / "1AQT_A.pdb", "A").sequence
    sheet = tmp_path / "s.csv"
    sheet.write_text(f"id,sequence\n1AQT_A,{seq}\nother,ACDEFGHIK\n")
    by = {p.id: p for p in read_proteins(str(sheet), structures=str(folder))}
    assert Path(by["1AQT_A"].structure).name == "1aqt.pdb" and by["1AQT_A"].chain == "A"
    assert by["other"].structure == "" and by["other"].chain == ""


def test_comments_blank_lines_quotes_and_case(tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text('# proteins\n\nID,Sequence\n"P1", acdef* \n\n# done\nP2,KLMNP\n')
    proteins = read_proteins(str(sheet))
    assert [(p.id, p.sequence, p.where) for p in proteins] == [
        ("P1", "ACDEF", "samplesheet row 1 (P1)"),
        ("P2", "KLMNP", "samplesheet row 2 (P2)"),
    ]


ROW1 = r"^samplesheet row 1 \(P1\): "
BAD_SHEETS = [  # (samplesheet text, the error it must give): every check the pipeline makes
    ("id,sequence,foo\nP1,ACDEF,x\n", r"unknown column\(s\) foo \(columns: id, sequence"),
    (
        "id,structure\nP1,x.pdb\n",
        r"needs 'id' and 'sequence' or 'fasta' \(or 'structure' and 'chains'\) "
        r"\(got: id,structure\)",
    ),
    ("id,sequence,id\nP1,ACDEF,P2\n", r"a column name is repeated in the header"),
    ("id,sequence\n", r"no rows below the header"),
    ("\n# nothing\n", r"the samplesheet is empty"),
    (
        "id,sequence,structure\nP1,ACDEFGHIK,missing.pdb\n",
        ROW1 + r"structure file 'missing.pdb' does not exist \(looked at /",
    ),
    (
        "id,sequence,structure\nP1,ACDEFGHIK,notes.txt\n",
        ROW1 + r"structure 'notes.txt' is not \.pdb, \.ent, \.cif or \.mmcif",
    ),
    ("id,sequence,structure\nP1,ACDEFGHIK,x*.pdb\n", ROW1 + r"structure file 'x\*.pdb' does not"),
    ("id,sequence,structure\nP1,ACDEFGHIK,text.pdb\n", ROW1 + r".*text.pdb: not a structure file"),
    (
        "id,sequence\nP1,ACDEF\nP2,ACD-EF\n",
        r"^samplesheet row 2 \(P2\): characters '-' are not amino acids",
    ),
    (
        "id,sequence\nP1,ACDEF\nP2, \n",
        r"^samplesheet row 2 \(P2\): no sequence and no fasta file \(",
    ),
    ("id,sequence\nP1,*\n", ROW1 + "empty sequence"),
    ("id,sequence\nP1,ACDEF\np1,ACDEF\n", r"id 'p1' appears twice \(samplesheet row 1 \(P1\) and"),
    (
        "id,sequence,fasta\nP1,ACDEF,multi.fasta\n",
        ROW1 + "give a sequence or a fasta file, not both",
    ),
    ("id,sequence,fasta\nP1,,\n", ROW1 + "no sequence and no fasta file"),
    (
        "id,sequence\nP1,ACDEF,extra\n",
        r"^samplesheet row 1: 3 fields, the header has 2 \(line 2 of",
    ),
    ("id,sequence,chain\nP1,ACDEF,A\n", ROW1 + r"a chain \('A'\) is given but no structure"),
    (
        "id,sequence,structure,chain\nP1,ACDEF,1GUU_A.pdb,A_B\n",
        ROW1 + r"chain 'A_B' is not a chain name \(1-4 letters or digits\)",
    ),
    (
        "id,sequence,structure,chain\nP1,ACDEF,1GUU_A.pdb,B\n",
        ROW1 + r"chain 'B' is not a protein chain of '.*1GUU_A.pdb' \(protein chains: A\)",
    ),
    (
        "id,fasta\nP9,multi.fasta\n",
        r"^samplesheet row 1 \(P9\): 'multi.fasta' holds 2 records and none is named 'P9'",
    ),
    ("id,fasta\nP1,bad.fasta\n", ROW1 + r".*bad.fasta:P1: characters 'J' are not amino acids"),
    ("id,sequence\nP 1,ACDEF\n", r"^samplesheet row 1: id 'P 1' may only hold letters, digits"),
    ("id,sequence\n,ACDEF\n", r"^samplesheet row 1: empty id"),
    ("id,fasta\nP1,nofasta.fasta\n", ROW1 + "fasta file 'nofasta.fasta' does not exist"),
]


@pytest.fixture
def sheet_folder(tmp_path) -> Path:
    """A folder of small real inputs the bad samplesheets point at."""
    (tmp_path / "multi.fasta").write_text(">P1\nACDEF\n>P2\nKLMNP\n")
    (tmp_path / "bad.fasta").write_text(">P1\nACJEF\n")
    (tmp_path / "notes.txt").write_text("not a structure\n")
    (tmp_path / "text.pdb").write_text("not a structure either\n")
    shutil.copy(DATA / "1GUU_A.pdb", tmp_path / "1GUU_A.pdb")
    return tmp_path


@pytest.mark.parametrize(("text", "pattern"), BAD_SHEETS, ids=[p for _, p in BAD_SHEETS])
def test_bad_samplesheets_stop_with_the_row_at_fault(sheet_folder, capsys, text, pattern):
    sheet = sheet_folder / "sheet.csv"
    sheet.write_text(text)
    with pytest.raises(ContactplugError) as caught:
        read_proteins(str(sheet))
    assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))
    # the command: one line on stderr, exit 2, no tables written
    code, _, err = run(capsys, "--input", sheet, "-o", sheet_folder / "out")
    assert code == 2 and err.count("\n") == 1 and err.startswith("contactplug: error: "), err
    assert re.search(pattern, err.removeprefix("contactplug: error: ")), err
    assert not (sheet_folder / "out" / "proteins.csv").exists()


def test_bad_fasta_inputs_and_options(tmp_path):
    fasta = tmp_path / "p.fasta"
    cases = [
        (">P1\nACDEF\n>p1\nKLMNP\n", {}, r"--fasta .*p.fasta: id 'p1' appears twice"),
        (">P1\nACDEF\n>P1\nKLMNP\n", {}, r"--fasta .*p.fasta: .*duplicate record id 'P1'"),
        ("ACDEF\n", {}, r"line 1 comes before any '>' header; not a FASTA file"),
        (">P1\nAC1EF\n", {}, r"P1: characters '1' are not amino acids"),
        (
            ">P1\nACDEF\n",
            {"structures": str(tmp_path / "none")},
            r"--structures .*: no such folder",
        ),
        (">P1\nACDEF\n", {"sheet": "x.csv"}, r"^give --input \(a samplesheet\) or --fasta, not"),
    ]
    for text, extra, pattern in cases:
        fasta.write_text(text)
        with pytest.raises(ContactplugError, match=pattern):
            read_proteins(**{"fasta": str(fasta), **extra})
    with pytest.raises(ContactplugError, match=r"^no proteins: give --input samplesheet.csv"):
        read_proteins()
    with pytest.raises(ContactplugError, match=r"--fasta .*none.fasta: no such FASTA file"):
        read_proteins(fasta=str(tmp_path / "none.fasta"))
    with pytest.raises(ContactplugError, match=r"--input .*none.csv: no such samplesheet file"):
        read_proteins(str(tmp_path / "none.csv"))
    # a structure that matches by id but has no chain of that name
    folder = tmp_path / "structures"
    folder.mkdir()
    shutil.copy(DATA / "1GUU_A.pdb", folder / "1GUU.pdb")
    fasta.write_text(">1GUU_B\nKTRWTREEDEKLKKLVEQNGTDDWKVIANYLPNRTDVQCQHRWQKVLNPE\n")
    with pytest.raises(ContactplugError, match=r"record '1GUU_B': chain 'B' is not a protein"):
        read_proteins(fasta=str(fasta), structures=str(folder))


def test_jacobian_ranges_tile_the_sequence():
    assert jacobian_ranges(135, 40) == [(1, 40), (41, 80), (81, 120), (121, 135)]
    assert jacobian_ranges(50, 0) == [(1, 50)]
    assert jacobian_ranges(40, 40) == [(1, 40)]
    assert jacobian_ranges(41, 40) == [(1, 40), (41, 41)]
    for length, chunk in [(103, 80), (7, 3), (1000, 33)]:
        ranges = jacobian_ranges(length, chunk)
        covered = [k for a, b in ranges for k in range(a, b + 1)]
        assert covered == list(range(1, length + 1))


def test_fasta_store_is_content_addressed_and_never_rewritten(tmp_path):
    store = tmp_path / "store"
    [p] = read_proteins(fasta=str(DATA / "nf" / "proteins.fasta"))[:1]
    first = store_fasta(store, p)
    assert first.name.startswith(f"{p.id}.") and first.suffix == ".fasta"
    assert read_fasta(first)[0].sequence == p.sequence
    stamp = first.stat().st_mtime_ns
    assert store_fasta(store, p) == first and first.stat().st_mtime_ns == stamp  # -resume
    edited = store_fasta(store, type(p)(p.id, p.sequence[:-1] + "W", "", "", p.where))
    assert edited != first and first.is_file()
    assert sorted(f.name for f in store.iterdir()) == sorted([first.name, edited.name])  # no tmp


def test_command_writes_the_tables_the_pipeline_fans_out_over(tmp_path, capsys):
    code, out, err = run(capsys, "--input", SHEET, "--cj-chunk", 40, "-o", tmp_path / "inputs")
    assert code == 0, err
    assert out.startswith("8 proteins (7 with a structure), 20 Jacobian tasks")
    rows = read_csv(tmp_path / "inputs" / "proteins.csv")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    by = {r["id"]: r for r in rows}
    assert by["1AQT_A"]["length"] == "135" and by["1AQT_A"]["chunks"] == "4"
    assert by["1AQT_A"]["chain"] == "A" and by["ubiquitin"]["structure"] == ""
    for r in rows:
        [rec] = read_fasta(r["fasta"])  # the default store: OUTDIR/fasta
        assert rec.id == r["id"] and rec.sequence == r["sequence"]
        assert Path(r["fasta"]).parent == (tmp_path / "inputs" / "fasta").resolve()
    tasks = read_csv(tmp_path / "inputs" / "jacobian.csv")
    assert len(tasks) == sum(int(r["chunks"]) for r in rows) == 20
    for pid, r in by.items():
        mine = [(int(t["first"]), int(t["last"])) for t in tasks if t["id"] == pid]
        assert mine == jacobian_ranges(int(r["length"]), 40)
        assert {t["fasta"] for t in tasks if t["id"] == pid} == {r["fasta"]}
    # unsplit: one task per protein, over all its positions
    code, _, err = run(
        capsys, "--input", SHEET, "-o", tmp_path / "whole", "--store", tmp_path / "s"
    )
    assert code == 0, err
    tasks = read_csv(tmp_path / "whole" / "jacobian.csv")
    assert [(t["first"], t["last"]) for t in tasks] == [("1", r["length"]) for r in rows]
    assert {Path(t["fasta"]).parent for t in tasks} == {(tmp_path / "s").resolve()}
    code, _, err = run(capsys, "--input", SHEET, "--cj-chunk", -1, "-o", tmp_path / "x")
    assert code == 2 and "give a whole number of positions >= 0" in err


def test_write_tables_needs_no_structure(tmp_path):
    proteins = read_proteins(fasta=str(DATA / "nf" / "proteins.fasta"))
    table, jacobian = write_tables(proteins, tmp_path, tmp_path / "store", 0)
    assert [r["structure"] for r in read_csv(table)] == ["", "", ""]
    assert len(read_csv(jacobian)) == 3


def test_versions_yml_names_the_process_and_its_tools(tmp_path):
    import platform

    import torch

    import contactplug

    doc = yaml.safe_load(versions_yaml("CONTACTPLUG:ATTENTION:ATTENTION_CONTACTS"))
    assert doc == {
        "CONTACTPLUG:ATTENTION:ATTENTION_CONTACTS": {
            "contactplug": contactplug.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
    }
    assert main(["versions", "--process", "X", "-o", str(tmp_path / "versions.yml")]) == 0
    assert list(yaml.safe_load((tmp_path / "versions.yml").read_text())) == ["X"]


def test_schema_input_states_the_same_columns_and_rules():
    """nf-schema checks nf/assets/schema_input.json before the task runs: it must accept what
    the Python check accepts and refuse, by its patterns, what the Python check refuses."""
    schema = json.loads(SCHEMA_INPUT.read_text())
    items = schema["items"]
    assert tuple(items["properties"]) == COLUMNS and items["required"] == ["id"]
    assert items["additionalProperties"] is False and schema["uniqueEntries"] == ["id"]
    assert {frozenset(alt["required"]) for alt in items["oneOf"]} == {
        frozenset({"sequence"}), frozenset({"fasta"}), frozenset({"structure", "chains"})
    }  # fmt: skip

    def accepts(column: str, value: str) -> bool:
        return re.search(items["properties"][column]["pattern"], value) is not None

    # every cell of the shipped samplesheet passes
    for row in read_csv(SHEET):
        for column, value in row.items():
            if value:
                assert accepts(column, value), (column, value)
    for good in ("1AQT_A", "p.1-x"):
        assert accepts("id", good)
    for bad in ("P 1", "a/b", "é"):
        assert not accepts("id", bad)
    for good in ("x.pdb", "../a/1TEN.CIF.gz", "/abs/x.mmcif", "b.ent.GZ"):
        assert accepts("structure", good)
    for bad in ("notes.txt", "x.pdb.zip", "x*.pdb"):
        assert not accepts("structure", bad)
    for good in ("A", "AB12", "1"):
        assert accepts("chain", good)
    for bad in ("A_B", "ABCDE", ""):
        assert not accepts("chain", bad)
    for good in ("ACDEF", "acdefXBZUO*"):
        assert accepts("sequence", good)
    for bad in ("ACD-EF", "ACJ", "AC*DE", "ACD::EF", "ACD:", ":ACD"):
        assert not accepts("sequence", bad)
    for good in ("ACD:EF", "acd*:EF*:K"):
        assert accepts("sequence", good)
    for good in ("A,B", "A, C", "H,L,A1", "all", "ALL"):
        assert accepts("chains", good)
    for bad in ("A", "A;B", "A,B_1", "A,", "alls", ""):
        assert not accepts("chains", bad)


def test_schema_input_takes_the_rows_the_python_check_takes():
    """The whole row rules (which columns go together), checked by a JSON Schema validator as
    nf-schema checks them: each row a map of its non-empty cells."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(SCHEMA_INPUT.read_text()))

    def errors(*rows: dict) -> list:
        return list(validator.iter_errors(list(rows)))

    assert not errors(*({k: v for k, v in r.items() if v} for r in read_csv(SHEET)))
    assert not errors({"id": "c", "structure": "x.pdb", "chains": "A,B"})
    assert not errors({"id": "c", "sequence": "ACD:EF", "structure": "x.pdb", "chains": "all"})
    assert not errors({"id": "c", "sequence": "ACD:EF"})
    for bad in (
        {"id": "c", "structure": "x.pdb"},  # no sequence, and no chains to read one from
        {"id": "c", "sequence": "ACD", "chains": "A,B"},  # chains without a structure
        {"id": "c", "sequence": "ACD", "fasta": "a.fasta"},
        {"id": "c", "structure": "x.pdb", "chains": "A,B", "chain": "A"},
    ):
        assert errors(bad), bad


# ---- complexes: ':' sequences and FASTA records, structures with a chains column -----------

A_SEQ, C_SEQ, D_SEQ = (read_chain(TII, name).sequence for name in "ACD")


def complex_sheet(tmp_path: Path, rows: str, header: str = "id,sequence,fasta,structure,chains"):
    shutil.copy(TII, tmp_path / "1tii.pdb")
    shutil.copy(DATA / "1GUU_A.pdb", tmp_path / "1GUU_A.pdb")
    (tmp_path / "dimer.fasta").write_text(f">AC\n{A_SEQ}:\n{C_SEQ}\n")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"{header}\n{rows}")
    return sheet


def test_complexes_from_structures_sequences_and_fasta_records(tmp_path, capsys):
    """A structure with chains (named, or all) reads its chains' sequences from the structure;
    a ':' sequence or FASTA record is a complex too, scored against the named chains or, when
    as many, the structure's protein chains; single chains mix with complexes."""
    rows = (
        'AC,,,1tii.pdb,"A, C"\n'  # chains named: their sequences read from the structure
        f'DA,{D_SEQ}:{A_SEQ},,1tii.pdb,"D,A"\n'  # a ':' sequence against named chains
        "fromfasta,,dimer.fasta,,\n"  # a ':' FASTA record, no structure
        "all7,,,1tii.pdb,all\n"  # every protein chain, in file order
        f"single,{D_SEQ},,,\n"
    )
    proteins = {p.id: p for p in read_proteins(str(complex_sheet(tmp_path, rows)))}
    assert proteins["AC"].chains == ("A", "C") and proteins["AC"].sequence == f"{A_SEQ}:{C_SEQ}"
    assert proteins["AC"].length == len(A_SEQ) + len(C_SEQ) and proteins["AC"].chain == ""
    assert proteins["DA"].chains == ("D", "A") and proteins["DA"].sequence == f"{D_SEQ}:{A_SEQ}"
    assert proteins["fromfasta"].chains == () and proteins["fromfasta"].structure == ""
    assert proteins["fromfasta"].sequence == f"{A_SEQ}:{C_SEQ}"
    assert proteins["all7"].chains == ("D", "E", "F", "G", "H", "A", "C")
    assert proteins["all7"].sequence.count(":") == 6 and proteins["single"].chains == ()
    # the tables: chains as 'A,C', the length of every chain together, the Jacobian's tasks
    # over the joined positions, and a store FASTA that reads back as the same complex
    code, _, err = run(capsys, "--input", tmp_path / "sheet.csv", "--cj-chunk", 100,
                       "-o", tmp_path / "out")  # fmt: skip
    assert code == 0, err
    by = {r["id"]: r for r in read_csv(tmp_path / "out" / "proteins.csv")}
    assert by["AC"]["chains"] == "A,C" and by["single"]["chains"] == ""
    assert by["AC"]["length"] == str(len(A_SEQ) + len(C_SEQ)) == "222"
    [rec] = read_fasta(by["AC"]["fasta"])
    assert rec.is_complex and rec.chains() == [A_SEQ, C_SEQ]
    tasks = [r for r in read_csv(tmp_path / "out" / "jacobian.csv") if r["id"] == "AC"]
    assert [(r["first"], r["last"], r["chains"]) for r in tasks] == [
        ("1", "100", "A,C"), ("101", "200", "A,C"), ("201", "222", "A,C")
    ]  # fmt: skip


def test_a_fasta_complex_is_matched_to_a_structure_of_as_many_chains(tmp_path):
    folder = tmp_path / "structures"
    folder.mkdir()
    shutil.copy(TII, folder / "1tii.pdb")
    fasta = tmp_path / "p.fasta"
    fasta.write_text(f">1tii\n{A_SEQ}:{C_SEQ}\n")
    with pytest.raises(
        ContactplugError,
        match=r"record '1tii': the sequence holds 2 chains but"
        r" .*1tii.pdb' has 7 protein chains \(D, E, F, G, H, A, C\); name",
    ):
        read_proteins(fasta=str(fasta), structures=str(folder))  # fmt: skip
    # in a samplesheet, the chains column names them; a two-chain structure needs none
    sheet = complex_sheet(tmp_path, f"two,{A_SEQ}:{C_SEQ},,two.pdb,\n")
    import gemmi

    st = gemmi.read_structure(str(TII))
    for name in ["D", "E", "F", "G", "H"]:
        st[0].remove_chain(name)
    st.write_pdb(str(tmp_path / "two.pdb"))
    [two] = read_proteins(str(sheet))
    assert two.chains == ("A", "C") and two.chain == ""


BAD_COMPLEXES = [  # (rows, the error): each complex rule, one line naming the row
    ('P1,ACDEF,,,"A,B"\n', ROW1 + r"chains \('A,B'\) are given but no structure"),
    ('P1,,,1tii.pdb,"A,A"\n', ROW1 + r"chains 'A,A' names chain A twice"),
    (
        'P1,,,1tii.pdb,"A,B"\n',
        ROW1 + r"chain 'B' is not a protein chain of '.*1tii.pdb' "
        r"\(protein chains: D, E, F, G, H, A, C\)",
    ),  # fmt: skip
    ("P1,,,1tii.pdb,A\n", ROW1 + r"chains 'A' gives 1 protein chain of .*a complex needs two"),
    ("P1,,,1GUU_A.pdb,all\n", ROW1 + r"chains 'all' gives 1 protein chain of .*1GUU_A.pdb'"),
    (
        'P1,,,1tii.pdb,"A,C_1"\n',
        ROW1 + r"chains 'A,C_1': 'C_1' is not a chain name \(1-4 letters or digits\)",
    ),
    (
        f'P1,{A_SEQ},,1tii.pdb,"A,C"\n',
        ROW1 + r"the sequence holds 1 chain\(s\) separated by "
        r"':', but chains names 2 \(A,C\)",
    ),  # fmt: skip
    ("P1,ACDEF::KLMN,,,\n", ROW1 + r"chain 2 of 3 is empty \(a stray ':'"),
    ("P1,,,https://x.org/1tii.pdb,all\n", ROW1 + r"chains 'all' needs a local structure file"),
    ("P1,,,1tii.pdb,\n", ROW1 + r"no sequence and no fasta file \(nor a structure with chains"),
    (
        f"P1,{A_SEQ}:{C_SEQ},,1tii.pdb,\n",
        ROW1 + r"the sequence holds 2 chains but .* has 7 "
        "protein chains",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("rows", "pattern"), BAD_COMPLEXES, ids=[p for _, p in BAD_COMPLEXES])
def test_bad_complexes_stop_with_the_row_at_fault(tmp_path, capsys, rows, pattern):
    sheet = complex_sheet(tmp_path, rows)
    with pytest.raises(ContactplugError) as caught:
        read_proteins(str(sheet))
    assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))
    code, _, err = run(capsys, "--input", sheet, "-o", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and err.startswith("contactplug: error: "), err
    assert not (tmp_path / "out" / "proteins.csv").exists()


def test_a_complex_sequence_with_one_chain_named_is_refused(tmp_path):
    sheet = complex_sheet(tmp_path, f"P1,{A_SEQ}:{C_SEQ},,1tii.pdb,A,\n",
                          header="id,sequence,fasta,structure,chain,chains")  # fmt: skip
    with pytest.raises(
        ContactplugError,
        match=ROW1 + r"the sequence is a complex of 2 chains; "
        r"name the structure's chains in the chains column, not one chain \('A'\)",
    ):
        read_proteins(str(sheet))  # fmt: skip


def test_chain_and_chains_together_are_refused(tmp_path):
    sheet = complex_sheet(tmp_path, "P1,,,1tii.pdb,A,\"A,C\"\n",
                          header="id,sequence,fasta,structure,chain,chains")  # fmt: skip
    with pytest.raises(ContactplugError, match=ROW1 + r"give a chain \(one chain\) or chains"):
        read_proteins(str(sheet))
