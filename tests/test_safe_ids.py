"""Ids made safe by one rule each (issue 21, item 3): file names by files.atomic.safe_name, FASTA
record ids by files.sequences.fasta_id; the pipeline's samplesheet and the PyMOL plugin use
those two, and the names existing ids get are as before."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contactplug.cli import main
from contactplug.files.atomic import MAX_STEM, safe_name
from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record, fasta_id, parse_fasta, write_fasta
from contactplug.inputs.samplesheet import read_samplesheet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugin"))

from contactplug_pymol import predictor  # noqa: E402

# (a chain's PyMOL name, the record id the plugin gave it before this change, by its own regex)
PLUGIN_IDS = [
    ("1TEN_A", "1TEN_A"),
    ("my obj_B", "my_obj_B"),
    ("a+b=c,d@e_A", "a_b_c_d_e_A"),
    ("../x/y", ".._x_y"),
    ("tii_C", "tii_C"),
    ("", "chain"),
]


@pytest.mark.parametrize("name, before", PLUGIN_IDS)
def test_plugin_record_ids_are_as_before_and_survive_the_fasta(tmp_path, name, before):
    rid = predictor.record_id(name)
    assert rid == before
    # the executable path: the id read back from the FASTA is the same, and the map file the
    # CLI names by safe_name is the one the plugin opens
    write_fasta([Record(rid, "ACDEFGHIK")], tmp_path / "q.fasta")
    [back] = parse_fasta((tmp_path / "q.fasta").read_text())
    assert back.id == rid and safe_name(back.id) == safe_name(rid)


def test_fasta_ids_keep_the_fasta_rule():
    assert [fasta_id(w) for w in ("sp|P69905|HBA", "a+b", "x.y-z_1")] == [
        "sp_P69905_HBA",
        "a_b",
        "x.y-z_1",
    ]
    [rec] = parse_fasta(">tr|A0A|X y z\nACDEF\n")
    assert rec.id == "tr_A0A_X"


def _sheet(tmp_path: Path, pid: str) -> Path:
    path = tmp_path / "samples.csv"
    path.write_text(f"id,sequence\n{pid},ACDEFGHIK\n")
    return path


@pytest.mark.parametrize("pid", ["P1", "1TEN_A", "a.b-c_9", "x" * MAX_STEM])
def test_samplesheet_ids_accepted_as_before(tmp_path, pid):
    [protein] = read_samplesheet(_sheet(tmp_path, pid))
    assert protein.id == pid == safe_name(pid)


@pytest.mark.parametrize(
    "pid, why",
    [
        ("P 1", "may only hold letters, digits"),
        ("a+b", "may only hold letters, digits"),
        # these passed the old rule, yet the maps they name would be x.npz and a hashed name,
        # not the <id>.npz the pipeline's tasks expect
        (".x", "may not start with '.' or be longer than 180"),
        ("y" * (MAX_STEM + 1), "may not start with '.' or be longer than 180"),
    ],
)
def test_samplesheet_refuses_ids_that_are_not_their_own_file_name(tmp_path, pid, why):
    with pytest.raises(ContactplugError, match=why):
        read_samplesheet(_sheet(tmp_path, pid))


def test_samplesheet_refusal_is_one_line_exit_2(tmp_path, capsys):
    code = main(["samplesheet", "--input", str(_sheet(tmp_path, ".hidden")), "-o", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("contactplug: error: ")
    assert "'.hidden' names files" in err[0]


def test_the_pipelines_schema_refuses_what_the_check_refuses():
    """nf-schema checks the id column by schema_input.json's pattern before any task runs."""
    import json
    import re

    schema = json.loads((ROOT / "nf" / "assets" / "schema_input.json").read_text())
    pattern = schema["items"]["properties"]["id"]["pattern"]
    for good in ("P1", "1TEN_A", "a.b-c_9", "x" * MAX_STEM, "-x", "_x."):
        assert re.search(pattern, good) and safe_name(good) == fasta_id(good) == good, good
    for bad in ("P 1", "a+b", ".x", "y" * (MAX_STEM + 1), ""):
        assert not re.search(pattern, bad), bad
