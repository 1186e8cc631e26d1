"""The one table of contact methods: what each reads, how many forwards it costs, and what a
checkpoint needs for it. The CLI, the library, the PyMOL plugin and the pipeline read it."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ContactplugError, arg

# The model every interface runs when none is named, written once here because this layer is
# the one the PyMOL plugin carries without the core (models.registry re-exports it; the
# pipeline's Groovy config names it too, and tests/test_design.py holds it to this)
DEFAULT_MODEL = "esm2_t6_8M_UR50D"


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # "readout" (one forward) or "jacobian" (20L+1 forwards)
    needs_mlm_head: bool
    needs_contact_head: bool
    summary: str
    needs_mask_token: bool = False  # the `fast` variants mask each position once


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("attention", "readout", False, False, "mean of the model's top-K ranked heads"),
        Method("esm-head", "readout", False, True, "ESM's logistic-regression contact head"),
        Method("all-heads", "readout", False, False, "mean of every head"),
        Method("jacobian", "jacobian", True, False, "Categorical Jacobian of the MLM logits"),
        Method(
            "jacobian-fast", "jacobian", True, False, "logit Jacobian, one masked pass each", True
        ),
        Method("repr-jacobian", "jacobian", False, False, "Jacobian of the final hidden states"),
        Method(
            "repr-jacobian-fast", "jacobian", False, False, "repr-CJ, one masked pass each", True
        ),
    )
}
READOUT_METHODS = tuple(name for name, m in METHODS.items() if m.kind == "readout")
JACOBIAN_METHODS = tuple(name for name, m in METHODS.items() if m.kind == "jacobian")

NO_MLM_HEAD = (
    "the checkpoint has no MLM head (" + arg("repr", phrase="use {} for representation-CJ") + ")"
)
REPR_FALLBACK = (
    "the checkpoint has no MLM head: running the representation Jacobian (repr-jacobian, "
    "final hidden states) instead of the logit Jacobian"
)
NO_CONTACT_HEAD = "the checkpoint has no contact regression weights"
NO_MASK_TOKEN = (
    "the model has no mask token (" + arg("fast", phrase="use the full variant, without {}") + ")"
)


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ContactplugError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def jacobian_method(representation: bool, fast: bool) -> str:
    """The table's name of a Jacobian variant."""
    return ("repr-" if representation else "") + "jacobian" + ("-fast" if fast else "")


def jacobian_for(
    has_mlm_head: bool, representation: bool = False, logits: bool = False, fast: bool = False
) -> tuple[str, str | None]:
    """(the Jacobian variant to run, a note when it is not the logit CJ that was the default).

    The logit CJ needs an MLM head. Without one the representation CJ runs instead, with the
    note, so every command works on a fine-tuned encoder; only an explicit request for the
    logits (`logits`) keeps the logit CJ, which `Model.require` then refuses (NO_MLM_HEAD)."""
    if representation and logits:
        raise ContactplugError("ask for the representation Jacobian or the logit one, not both")
    if representation or logits or has_mlm_head:
        return jacobian_method(representation, fast), None
    return jacobian_method(True, fast), REPR_FALLBACK


def why_unavailable(
    name: str, has_mlm_head: bool, has_contact_head: bool, has_mask_token: bool = True
) -> str | None:
    """None when a checkpoint with these heads (and tokens) can run the method, else why not."""
    method = get_method(name)
    if method.needs_mlm_head and not has_mlm_head:
        return NO_MLM_HEAD
    if method.needs_contact_head and not has_contact_head:
        return NO_CONTACT_HEAD
    if method.needs_mask_token and not has_mask_token:
        return NO_MASK_TOKEN
    return None
