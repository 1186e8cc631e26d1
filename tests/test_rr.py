"""CASP RR reader and writer: real CONFOLD files, our own output, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contactplug.files.errors import ContactplugError
from contactplug.files.rr import format_rr, parse_rr, read_rr, write_rr
from contactplug.files.sequences import read_fasta

DATA = Path(__file__).parent / "data"


def test_read_confold_1eaz():
    rr = read_rr(DATA / "1eaz.rr")
    fasta = read_fasta(DATA / "1eaz.fasta")[0].sequence
    assert rr.sequence == fasta
    lines = [ln.split() for ln in (DATA / "1eaz.rr").read_text().splitlines()[1:] if ln.strip()]
    assert len(rr.pairs) == len(lines) == 4851
    assert rr.pairs[0] == (24, 33, pytest.approx(12.279515))
    assert rr.pairs[1] == (5, 90, pytest.approx(12.240359))
    assert all(1 <= i < j <= len(fasta) for i, j, _ in rr.pairs)
    # order of the file is kept
    assert [(i, j) for i, j, _ in rr.pairs[:5]] == [(int(a), int(b)) for a, b, *_ in lines[:5]]


def test_round_trip_our_writer(tmp_path):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
    pairs = [(3, 40, 0.25), (12, 2, 0.875), (5, 30, 0.5), (1, 66, 0.125)]
    path = write_rr(tmp_path / "x.rr", seq, pairs, target="T1", method=["m1", "m2"])
    text = path.read_text()
    assert text.startswith("PFRMAT RR\nTARGET T1\nAUTHOR contactplug\n")
    assert text.rstrip().endswith("END")
    seq_lines = text.split("MODEL  1\n")[1].splitlines()[:2]
    assert seq_lines == [seq[:50], seq[50:]]
    rr = read_rr(path)
    assert rr.sequence == seq
    assert rr.pairs == [(2, 12, 0.875), (5, 30, 0.5), (3, 40, 0.25), (1, 66, 0.125)]
    assert not list(tmp_path.glob(".*tmp"))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_three_column_and_models():
    text = "ACDEFGHIKLMN\n1 9 0.7\n2 10 0.6\nEND\nMODEL 2\n3 11 0.1\nEND\n"
    rr = parse_rr(text)
    assert rr.pairs == [(1, 9, 0.7), (2, 10, 0.6)]
    assert parse_rr("1 9 0 8 0.3\n").sequence is None


@pytest.mark.parametrize(
    "text, words",
    [
        ("ACDE\n1 9 0 8 0.5\n", "beyond"),
        ("1 1 0 8 0.5\n", "bad residue pair"),
        ("1 9 0 8\n", "expected"),
        ("REMARK chains A 1-3 B 4-9\nA1 A9 0 8 0.5\n", "lies in chain B"),
        ("A1x B9 0 8 0.5\n", "chain letter and a number"),
        ("1 9 0 8 0.5\nACDE\n", "sequence line after"),
    ],
)
def test_bad_rr(text, words):
    with pytest.raises(ContactplugError, match=words):
        parse_rr(text)


def test_writer_refuses_non_probabilities():
    with pytest.raises(ContactplugError, match="outside"):
        format_rr("ACDEFGHIK", [(1, 8, 12.3)])
    with pytest.raises(ContactplugError, match="outside"):
        format_rr("ACDEFGHIK", [(1, 10, 0.3)])


def test_missing_file(tmp_path):
    with pytest.raises(ContactplugError, match="cannot read"):
        read_rr(tmp_path / "none.rr")
