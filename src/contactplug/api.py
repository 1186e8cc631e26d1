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
from contactplug.files.sequences import Record, clean_sequence, complex_record, parse_chains
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
    """Records, each chain cleaned; a string holding ':' is a complex (SEQA:SEQB)."""
    if isinstance(items, (str, Record)):
        items = [items]
    out = []
    for n, item in enumerate(items, 1):
        if isinstance(item, Record) and item.is_complex:
            chains = [clean_sequence(c, f"{item.id} chain {name}")
                      for c, name in zip(item.chains(), item.chain_ids, strict=True)]  # fmt: skip
            out.append(complex_record(item.id, chains, list(item.chain_ids)))
        elif isinstance(item, Record):
            out.append(Record(item.id, clean_sequence(item.sequence, item.id)))
        else:
            got = parse_chains(item, f"seq{n}")
            out.append(Record(f"seq{n}", got) if isinstance(got, str) else got)
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
    linker: str | None = None,
) -> list[ContactMap]:
    """Contact maps for one or more sequences. `method` is attention | all-heads | esm-head |
    jacobian | jacobian-fast | repr-jacobian | repr-jacobian-fast. `precision` (auto | fp32 |
    bf16) is the readout's matmul precision (`readout.matmul_precision`); the Jacobian runs fp32.
    A complex (a Record with chains, or a string SEQA:SEQB) gives one map over all its chains,
    joined by `linker` (`models.joining`; None: the model's default)."""
    loaded = model if isinstance(model, Model) else cached_model(model, device, dtype)
    records = _records(sequences)
    if method in READOUT_METHODS:
        stream = prediction.predict(loaded, records, method, top_k, precision=precision,
                                    linker=linker)  # fmt: skip
        return list(stream)
    loaded.require(method)
    representation = method.startswith("repr-")
    fast = method.endswith("-fast")
    return [
        jacobian.contact_map(
            loaded, rec, representation, fast, batch_size, progress, linker=linker
        )
        for rec in records
    ]
