"""The families contactplug reads, and the one-line refusal of every other checkpoint.

DPLM, SaProt and the rest are named when their config says what they are,
so the user learns which model was refused and which ones would be read instead.
"""

from __future__ import annotations

import os

from contactplug.files.errors import ContactplugError

SUPPORTED = "ESM-2, ESM-1b, ESM-1v, ESM C, ProtT5, AMPLIFY, ProGen2"
WHAT_IS_READ = (
    f"contactplug reads {SUPPORTED} (a fair-esm .pt, an HF folder of ESM-2, T5, AMPLIFY or "
    "ProGen2, a ProGen2 checkpoint folder, an ESM C .pth or snapshot, or a model name)"
)


def refuse(where: str | os.PathLike, what: str) -> ContactplugError:
    """`where: what; contactplug reads ...` as one line."""
    return ContactplugError(f"{where}: {what}; {WHAT_IS_READ}")


def known_family(config: dict) -> str | None:
    """The name of a family we do not read, recognised from an HF config.json (else None)."""
    model_type = str(config.get("model_type", "")).lower()
    architectures = " ".join(config.get("architectures") or []).lower()
    if "dplm" in model_type or "dplm" in architectures:
        return "DPLM"
    if model_type == "esm" and config.get("vocab_size") == 446:
        return "SaProt (structure-aware tokens)"
    if "saprot" in architectures:
        return "SaProt (structure-aware tokens)"
    return None
