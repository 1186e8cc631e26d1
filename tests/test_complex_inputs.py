"""Complexes in the files layer: FASTA records of chains joined by ':', the npz schema's chain
fields (round trip, old single-chain files, bad fields in one line) and pairs by kind."""

from __future__ import annotations

import numpy as np
import pytest

from contactplug.files.contactmap import ContactMap, load
from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import parse_fasta, read_fasta, write_fasta


def complex_map(**kw) -> ContactMap:
    rng = np.random.default_rng(0)
    a = rng.random((9, 9)).astype(np.float32)
    a = a + a.T
    np.fill_diagonal(a, 0)
    fields = dict(contacts=a, sequence="MKVLAGGAW", id="cx", method="attention", model="m",
                  chain_ids=["A", "B"], chain_lengths=[5, 4], linker="G25")  # fmt: skip
    fields.update(kw)
    return ContactMap(**fields)


def test_fasta_chains_separated_by_colons(tmp_path):
    [cx, one] = parse_fasta(">1AK4 complex\nMKV\nL:GGA\nW\n>single\nMKVL\n")
    assert cx.is_complex and cx.sequence == "MKVLGGAW" and cx.chain_ids == ("A", "B")
    assert cx.chain_lengths == (4, 4) and cx.chains() == ["MKVL", "GGAW"]
    assert not one.is_complex and one.chains() == ["MKVL"]
    write_fasta([cx, one], tmp_path / "back.fa")
    assert read_fasta(tmp_path / "back.fa") == [cx, one]


@pytest.mark.parametrize(
    "text, words",
    [
        (">x\nMKV::GGA\n", "chain 2 of 3 is empty"),
        (">x\nMKV:\n", "chain 2 of 2 is empty"),
        (">x\n:MKV\n", "chain 1 of 2 is empty"),
        (">x\nMKV:G1A\n", "chain B: characters '1'"),
    ],
)
def test_bad_chain_separators_are_one_line(text, words):
    with pytest.raises(ContactplugError, match=words):
        parse_fasta(text)


def test_complex_fields_round_trip(tmp_path):
    cmap = complex_map()
    back = load(cmap.save(tmp_path / "cx.npz"))
    assert back.chain_ids == ["A", "B"] and back.chain_lengths == [5, 4] and back.linker == "G25"
    assert back.chain_spans() == [("A", 0, 5), ("B", 5, 9)] and back.chain_of(6) == "B"
    np.testing.assert_array_equal(back.contacts, cmap.contacts)


def test_a_single_chain_map_has_no_chain_fields(tmp_path):
    one = complex_map(chain_ids=None, chain_lengths=None, linker=None)
    arrays = one.arrays()
    assert not {"chain_ids", "chain_lengths", "linker"} & set(arrays)
    back = load(one.save(tmp_path / "one.npz"))
    assert not back.is_complex and back.chain_spans() == [("A", 0, 9)]


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"chain_lengths": [5, 5]}, r"do not add up to 9"),
        ({"chain_ids": ["A", "A"]}, "not distinct"),
        ({"chain_ids": ["A"], "chain_lengths": [9]}, "two or more"),
        ({"chain_lengths": None}, "come together"),
        ({"chain_ids": None, "chain_lengths": None}, "linker without chains"),
        ({"chain_lengths": [0, 9]}, "do not add up"),
    ],
)
def test_bad_chain_fields_are_one_line(fields, words):
    with pytest.raises(ContactplugError, match=words):
        complex_map(**fields)


def test_pairs_by_kind():
    cmap = complex_map()
    inter = cmap.pairs(kind="inter")
    assert len(inter) == 5 * 4 and all(i < 5 <= j for i, j, _ in inter)
    assert [s for *_, s in inter] == sorted((s for *_, s in inter), reverse=True)
    intra = cmap.pairs(min_sep=1, kind="intra")
    assert len(intra) == 10 + 6 and all((i < 5) == (j < 5) for i, j, _ in intra)
    both = cmap.pairs(min_sep=1, top=3, kind="all")
    assert both == intra[:3] + inter[:3]
    with pytest.raises(ContactplugError, match="unknown pair kind"):
        cmap.pairs(kind="between")
