"""Attention readout against fair-esm's own per-head weights, and head rankings."""

import numpy as np
import pytest
import torch
from parity import of

from contactplug.files.sequences import Record
from contactplug.models.fair_esm_model import HeadCapture
from contactplug.readout import attention, prediction
from contactplug.readout.ranking import Ranking, get_ranking, rank_heads, read_ranking
from contactplug.readout.selection_set import load as load_selection_set
from contactplug.readout.selection_set import split

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ"


def reference_head_map(model, sequence, layer, head):
    """Straight from fair-esm: need_head_weights, crop, 0.5(A+A^T), APC, zero diagonal."""
    with torch.no_grad():
        att = model.esm(model.tokens([sequence]), need_head_weights=True)["attentions"]
    a = att[0, layer, head, 1:-1, 1:-1].double().numpy()
    a = 0.5 * (a + a.T)
    a = a - np.outer(a.sum(1), a.sum(0)) / a.sum()
    np.fill_diagonal(a, 0)
    return a


def test_captured_heads_equal_fair_esm(tiny_model):
    heads = [(1, 3), (0, 0), (1, 0)]
    maps = attention.head_maps(tiny_model, SEQ, heads).numpy()
    for k, (layer, head) in enumerate(heads):
        np.testing.assert_allclose(
            maps[k], reference_head_map(tiny_model, SEQ, layer, head), atol=1e-6
        )
    assert np.allclose(maps, maps.transpose(0, 2, 1))
    assert np.all(np.diagonal(maps, axis1=1, axis2=2) == 0)


def test_capture_keeps_only_wanted_layers_and_removes_hooks(tiny_model):
    with HeadCapture(tiny_model, [(1, 2)]) as capture:
        tiny_model.esm(tiny_model.tokens([SEQ]))
    assert set(capture.captured) == {1}
    assert capture.captured[1].shape[0] == 1  # one head kept, not all four
    layer = tiny_model.esm.layers[1].self_attn
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_all_heads_is_mean_of_every_head(tiny_model):
    got = attention.contact_map(tiny_model, SEQ, "all-heads")
    want = np.mean(
        [reference_head_map(tiny_model, SEQ, la, h) for la in range(2) for h in range(4)], axis=0
    )
    np.testing.assert_allclose(got, want, **of(tiny_model, 0, 1e-6))


def test_esm_head_is_fair_esm_contact_head(tiny_model):
    got = attention.contact_map(tiny_model, SEQ, "esm-head")
    with torch.no_grad():
        want = tiny_model.esm.predict_contacts(tiny_model.tokens([SEQ]))[0].numpy()
    want = 0.5 * (want + want.T)
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(got, want, **of(tiny_model, 0, 1e-6))


def test_ranking_is_computed_once_and_cached(tiny_model):
    first = get_ranking(tiny_model)
    assert len(first.heads) == 8 and 1 <= first.k <= 8
    assert first.scores == sorted(first.scores, reverse=True)
    assert len(first.k_curve) == 8
    assert first.k_curve[first.k - 1] == max(first.k_curve)
    again = get_ranking(tiny_model)
    assert again.heads == first.heads and again.fingerprint == tiny_model.fingerprint


def test_ranking_round_trips(tmp_path, tiny_model):
    fit, held = split(load_selection_set())
    ranking = rank_heads(tiny_model, fit[:4], held[:2])
    path = ranking.save(tmp_path / "r.json")
    back = read_ranking(path)
    assert back.heads == ranking.heads and back.k == ranking.k
    assert back.info["held_out"]["ids"] == [p.id for p in held[:2]]


def test_predict_attention_uses_top_k(tiny_model):
    ranking = Ranking("tiny", tiny_model.fingerprint, [(1, 1), (0, 2), (1, 3)], [0.3, 0.2, 0.1], 2)
    [cmap] = prediction.predict(tiny_model, [Record("q", SEQ)], "attention", ranking=ranking)
    want = np.mean(
        [reference_head_map(tiny_model, SEQ, 1, 1), reference_head_map(tiny_model, SEQ, 0, 2)],
        axis=0,
    )
    np.testing.assert_allclose(cmap.contacts, want, **of(tiny_model, 0, 1e-6))
    assert cmap.meta["heads"] == [[1, 1], [0, 2]] and cmap.n_forward == 1
    [three] = prediction.predict(tiny_model, [Record("q", SEQ)], "attention", 3, ranking=ranking)
    assert three.meta["k"] == 3


def test_selection_set_is_shipped_and_consistent():
    proteins = load_selection_set()
    assert len(proteins) == 40
    fit, held = split(proteins)
    assert len(fit) == 30 and len(held) == 10 and not {p.id for p in fit} & {p.id for p in held}
    for p in proteins:
        assert p.contacts.shape == (len(p.sequence),) * 2
        assert np.array_equal(p.contacts, p.contacts.T) and not (p.contacts & ~p.valid).any()


def test_bad_top_k(tiny_model):
    from contactplug.files.errors import ContactplugError

    with pytest.raises(ContactplugError, match="between 1 and 8"):
        list(prediction.predict(tiny_model, [Record("q", SEQ)], "attention", top_k=99))
