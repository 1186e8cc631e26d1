"""The library face of contactplug: predict contacts with cached model loads.

>>> from contactplug.api import predict
>>> [cmap] = predict("MKTAYIAKQR...", model="esm2_t6_8M_UR50D")
>>> cmap.pairs(min_sep=24, top=10)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from contactplug.files.contactmap import ContactMap
from contactplug.files.methods import READOUT_METHODS
from contactplug.files.sequences import Record, clean_sequence
from contactplug.jacobian import categorical as jacobian
from contactplug.models.base import Model
from contactplug.models.loading import load_model
from contactplug.models.registry import DEFAULT_MODEL
from contactplug.readout import prediction


@lru_cache(maxsize=4)
def cached_model(spec: str, device: str = "auto", dtype: str = "float32") -> Model:
    """One load per (model, device, dtype) per process: the PyMOL plugin calls this often."""
    return load_model(spec, device, dtype)


def _records(items: str | Record | Sequence[str | Record]) -> list[Record]:
    if isinstance(items, (str, Record)):
        items = [items]
    out = []
    for n, item in enumerate(items, 1):
        if isinstance(item, Record):
            out.append(Record(item.id, clean_sequence(item.sequence, item.id)))
        else:
            out.append(Record(f"seq{n}", clean_sequence(item, f"seq{n}")))
    return out


def predict(
    sequences: str | Record | Sequence[str | Record],
    model: str | Model = DEFAULT_MODEL,
    method: str = "attention",
    top_k: int | None = None,
    device: str = "auto",
    dtype: str = "float32",
    batch_size: int = 20,
    progress: bool = False,
    precision: str = "auto",
) -> list[ContactMap]:
    """Contact maps for one or more sequences. `method` is attention | all-heads | esm-head |
    jacobian | jacobian-fast | repr-jacobian | repr-jacobian-fast. `precision` (auto | fp32 |
    bf16) is the readout's matmul precision (`readout.matmul_precision`); the Jacobian runs fp32."""
    loaded = model if isinstance(model, Model) else cached_model(model, device, dtype)
    records = _records(sequences)
    if method in READOUT_METHODS:
        return list(prediction.predict(loaded, records, method, top_k, precision=precision))
    loaded.require(method)
    representation = method.startswith("repr-")
    fast = method.endswith("-fast")
    return [
        jacobian.contact_map(loaded, rec, representation, fast, batch_size, progress)
        for rec in records
    ]
