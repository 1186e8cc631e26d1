"""Bad input, class 4: exports check what they write, because a map's fields are checked once,
where it is read (`files.contactmap.load` and `ContactMap` itself), for every consumer:
export in each format, evaluate, compare, plot, the PyMOL plugin's reader and the library.

Decided: a sequence that is not upper-case one-letter amino acids (digits, lowercase, gaps,
spaces, accents) is refused, never "fixed", since the map's rows are indexed by it.
"""

from __future__ import annotations

import pytest
import yaml
from badinput import SEQ, accepted, raw_npz, refused, structure_map, toy_map

from contactplug.files.contactmap import ContactMap, load
from contactplug.files.errors import ContactplugError
from contactplug.files.rr import read_rr
from contactplug.restraints.pairs import FORMATS

BAD_SEQUENCES = {
    "digits": "MKT1AY2" + SEQ[7:],
    "lowercase": SEQ[:10].lower() + SEQ[10:],
    "gap": "MK-" + SEQ[3:],
    "space": "MK " + SEQ[3:],
    "accent": "MKÉ" + SEQ[3:],
    "star": SEQ[:-1] + "*",
}


@pytest.mark.parametrize("case", sorted(BAD_SEQUENCES))
def test_bad_map_sequences_are_refused_for_every_format(tmp_path, case):
    bad = raw_npz(tmp_path / "maps" / "toy.npz", sequence=BAD_SEQUENCES[case])
    message = r"toy\.npz: .*sequence holds .* not upper-case amino-acid letters"
    for fmt in FORMATS:
        extra = ["--pseudo-prob"] if fmt == "casp-rr" else []
        refused(
            ["export", bad, "-f", fmt, "-o", tmp_path / f"x{FORMATS[fmt]}", *extra],
            message,
            tmp_path,
        )
        refused(
            ["export", tmp_path / "maps", "-f", fmt, "-o", tmp_path / fmt, *extra],
            message,
            tmp_path,
        )
    with pytest.raises(ContactplugError, match="not upper-case amino-acid letters"):
        load(bad)  # what the plugin's loadcontacts calls
    with pytest.raises(ContactplugError, match="not upper-case amino-acid letters"):
        ContactMap(toy_map().contacts, BAD_SEQUENCES[case], "toy", "attention", "m")


def test_bad_maps_are_refused_by_evaluate_compare_and_plot(tmp_path, data_dir):
    good = structure_map(data_dir / "1CTF_A.pdb")
    raw_npz(tmp_path / "attn" / "1CTF_A.npz", base=good, sequence=good.sequence.lower())
    good.save(tmp_path / "cj" / "1CTF_A.npz")
    npz = tmp_path / "attn" / "1CTF_A.npz"
    for argv in (
        ["evaluate", npz, "--structure", data_dir / "1CTF_A.pdb", "-o", tmp_path / "m.json"],
        ["evaluate", tmp_path / "attn", "--structure", data_dir, "-o", tmp_path / "m.csv"],
        [
            "compare",
            tmp_path / "attn",
            tmp_path / "cj",
            "--structures",
            data_dir,
            "-o",
            tmp_path / "r",
        ],
        ["plot", npz, "-o", tmp_path / "m.png"],
    ):
        refused(argv, r"1CTF_A\.npz: .*not upper-case amino-acid letters", tmp_path)


def test_what_the_exports_write_parses_back(tmp_path, data_dir):
    """The other side of the rule: a valid map's files are valid in every format."""
    cmap = structure_map(data_dir / "1GUU_A.pdb")
    npz = cmap.save(tmp_path / "1GUU_A.npz")
    rr = tmp_path / "1GUU_A.rr"
    accepted(["export", npz, "-f", "casp-rr", "--pseudo-prob", "-o", rr], tmp_path)
    assert read_rr(rr).sequence == cmap.sequence
    target = [line for line in rr.read_text().splitlines() if line.startswith("TARGET")]
    assert target == ["TARGET 1GUU_A"]
    boltz = tmp_path / "1GUU_A.yaml"
    accepted(["export", npz, "-f", "boltz", "-o", boltz], tmp_path)
    doc = yaml.safe_load(boltz.read_text())
    assert doc["sequences"][0]["protein"]["sequence"] == cmap.sequence


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"resnum": [1, 2, 3]}, r"resnum/icode of 'toy' do not match length"),
        ({"icode": ["A"] * len(SEQ)}, r"icode without resnum"),
        ({"meta": [1]}, r"meta is not a JSON object"),
        ({"n_forward": 2.0}, r"n_forward 2\.0 is not an integer"),
        ({"n_forward": True}, r"n_forward True is not an integer"),
        ({"id": "x\x00y"}, r"control characters"),
        ({"method": ""}, r"method is empty"),
    ],
)
def test_maps_made_in_memory_are_checked_as_read_ones(fields, message):
    base = toy_map()
    kwargs = {k: getattr(base, k) for k in ("contacts", "sequence", "id", "method", "model")}
    with pytest.raises(ContactplugError, match=message) as err:
        ContactMap(**{**kwargs, **fields})
    assert "\n" not in str(err.value)
