"""The compact Jacobian store against the plain whole-tensor map (`to_map`)."""

import numpy as np
import pytest

from contactplug.jacobian import categorical as jacobian
from contactplug.jacobian.block_store import SymmetricStore, choose_precision, helmert

SEQ = "MKTAYIAKQRQISFVKSHFSRQ"


@pytest.fixture(scope="module")
def rows(tiny_model):
    return jacobian.rows(tiny_model, SEQ, batch_size=40, progress=False)[0]


def test_helmert_basis_is_orthonormal_and_centred():
    q = helmert(20)
    np.testing.assert_allclose(q.T @ q, np.eye(19), atol=1e-12)
    np.testing.assert_allclose(q.sum(0), 0, atol=1e-12)


def fold(rows, precision, order):
    store = SymmetricStore(len(rows), 20, precision)
    for i in order:
        store.add(i, rows[i])
    return jacobian.finish_map(store.scores(), True)


@pytest.mark.parametrize("precision, tol", [("float32", 1e-6), ("int16", 1e-4)])
def test_store_equals_whole_tensor_map(rows, precision, tol):
    want = jacobian.to_map(rows)
    for order in (range(len(rows)), reversed(range(len(rows)))):
        got = fold(rows, precision, order)
        np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max(), rtol=0)


def test_map_from_rows_is_the_fold_and_refuses_repeats(rows):
    stream = ((i, r) for i, r in enumerate(rows))
    got = jacobian.map_from_rows(stream, len(rows), "int16")
    assert np.array_equal(got, fold(rows, "int16", range(len(rows))))
    store = SymmetricStore(len(rows))
    store.add(0, rows[0])
    with pytest.raises(ValueError, match="twice"):
        store.add(0, rows[0])
    with pytest.raises(ValueError, match="never added"):
        store.scores()


def test_memory_at_1000_residues_is_under_a_quarter_of_the_tensor():
    tensor = 4 * (1000 * 20) ** 2  # 1.6 GB
    assert choose_precision(1000) == "int16"
    store = SymmetricStore(1000, 20, "auto")  # zeros: pages are not touched until written
    assert store.nbytes <= 0.235 * tensor  # 726 bytes a pair + float64 marginals
    assert choose_precision(100) == "float32"


def test_contact_map_records_the_store(tiny_model):
    from contactplug.files.sequences import Record

    cmap = jacobian.contact_map(tiny_model, Record("q", SEQ[:10]), progress=False)
    assert cmap.meta["store"] == "float32" and cmap.meta["batch_size"] == 20
