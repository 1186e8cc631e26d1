"""Length-sorted padded batches give the maps of one-at-a-time runs; batch plans obey their
limits; predict keeps input order (or says which record each map is)."""

import random

import numpy as np
import pytest
import torch
from parity import of

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.models import batching
from contactplug.readout import attention, prediction
from contactplug.readout.ranking import Ranking

random.seed(7)
LENGTHS = [17, 64, 23, 41, 40, 5, 90, 64]
SEQS = ["".join(random.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(n)) for n in LENGTHS]


def ranking_for(model):
    heads = [(1, 1), (0, 2), (1, 3)]
    return Ranking("tiny", model.fingerprint, heads, [0.3, 0.2, 0.1], 3)


@pytest.mark.parametrize("method", ["attention", "all-heads", "esm-head"])
def test_padded_batch_equals_one_at_a_time(tiny_model, method):
    heads = ranking_for(tiny_model).top()
    batched = attention.batch_maps(tiny_model, SEQS, method, heads)
    for seq, got in zip(SEQS, batched, strict=True):
        [alone] = attention.batch_maps(tiny_model, [seq], method, heads)
        assert got.shape == (len(seq), len(seq))
        np.testing.assert_allclose(got, alone, **of(tiny_model))


def test_padded_esm_head_equals_fair_esm_single(tiny_model):
    """fair-esm's own contact head run alone on each sequence is the reference; its padded
    batch output has the longest sequence's shape, so a map must be cropped to its own length."""
    batched = attention.batch_maps(tiny_model, SEQS, "esm-head")
    for seq, got in zip(SEQS, batched, strict=True):
        with torch.no_grad():
            want = tiny_model.esm.predict_contacts(tiny_model.tokens([seq]))[0].numpy()
        want = 0.5 * (want + want.T)
        np.fill_diagonal(want, 0)
        np.testing.assert_allclose(got, want, **of(tiny_model))


def test_predict_batched_equals_unbatched_and_keeps_order(tiny_model):
    records = [Record(f"r{n}", s) for n, s in enumerate(SEQS)]
    ranking = ranking_for(tiny_model)
    one = list(prediction.predict(tiny_model, records, ranking=ranking, batch_size=1))
    many = list(prediction.predict(tiny_model, records, ranking=ranking, batch_size=8))
    assert [c.id for c in one] == [c.id for c in many] == [r.id for r in records]
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(a.contacts, b.contacts, **of(tiny_model))
        assert a.n_forward == b.n_forward == 1
    assert max(c.meta["batch"] for c in many) > 1 and {c.meta["batch"] for c in one} == {1}
    done = [n for n, _ in prediction.predict_unordered(tiny_model, records, ranking=ranking)]
    assert sorted(done) == list(range(len(records))) and done != list(range(len(records)))


@pytest.mark.parametrize("method", ["attention", "esm-head"])
def test_batches_side_by_side_equal_one_worker(tiny_model, method):
    """Workers (one torch thread each) give the maps one worker gives, every record once,
    and torch's thread count is back afterwards, also when the caller stops early."""
    records = [Record(f"r{n}", s) for n, s in enumerate(SEQS)]
    ranking = ranking_for(tiny_model)
    threads = torch.get_num_threads()
    kw = dict(method=method, ranking=ranking, batch_size=2)
    one = list(prediction.predict(tiny_model, records, workers=1, **kw))
    side = list(prediction.predict(tiny_model, records, workers=3, **kw))
    assert [c.id for c in side] == [r.id for r in records]
    for a, b in zip(one, side, strict=True):
        np.testing.assert_allclose(a.contacts, b.contacts, **of(tiny_model, 0, 1e-6))
    assert torch.get_num_threads() == threads
    stream = prediction.predict_unordered(tiny_model, records, workers=2, **kw)
    next(stream)
    assert torch.get_num_threads() == max(1, threads // 2)  # inside: the threads shared out
    stream.close()
    assert torch.get_num_threads() == threads
    # on CPU, auto is one worker per torch thread
    assert batching.cpu_workers(tiny_model) == threads
    with pytest.raises(ContactplugError, match="--workers 0: give 1 or more"):
        batching.cpu_workers(tiny_model, 0)


def test_a_failing_batch_is_raised_and_the_threads_restored(tiny_model):
    threads = torch.get_num_threads()

    def work(group):
        if 3 in group:
            raise ContactplugError("batch 3 failed")
        return len(group)

    with pytest.raises(ContactplugError, match="batch 3 failed"):
        list(batching.run_groups([[0], [1, 2], [3], [4]], work, workers=2))
    assert torch.get_num_threads() == threads


def test_plan_sorts_caps_and_limits_padding(tiny_model):
    lengths = [300, 20, 21, 22, 150, 23, 299, 24, 25]
    groups = batching.plan(lengths, tiny_model, batch_size=3, budget=10**12)
    assert sorted(n for g in groups for n in g) == list(range(len(lengths)))
    flat = [lengths[n] for g in groups for n in g]
    assert flat == sorted(flat)
    assert all(len(g) <= 3 for g in groups)
    for g in groups:
        longest = max(lengths[n] for n in g) + 2
        padded = sum(longest - lengths[n] - 2 for n in g) / (len(g) * longest)
        assert padded <= batching.MAX_PADDING
    # a budget that holds one long sequence only splits the batch
    one = batching.forward_bytes(tiny_model, 1, 302)
    tight = batching.plan([300] * 4, tiny_model, batch_size=4, budget=int(1.5 * one))
    assert tight == [[0], [1], [2], [3]]


def test_auto_batch_size_follows_memory(tiny_model):
    one = batching.forward_bytes(tiny_model, 1, 302)
    assert batching.auto_batch_size(tiny_model, 300, budget=5 * one) == 5
    assert batching.auto_batch_size(tiny_model, 300, budget=1) == 1
    assert 1 <= batching.auto_batch_size(tiny_model, 300) <= batching.MAX_BATCH["cpu"]
    assert batching.free_memory(torch.device("cpu")) > 0


@pytest.mark.parametrize("text", ["0", "-3", "many"])
def test_bad_batch_size(text):
    with pytest.raises(ContactplugError, match="batch-size"):
        batching.parse_batch_size(text)


def test_batch_size_parsing():
    assert batching.parse_batch_size("auto") is None and batching.parse_batch_size("7") == 7
