"""contactplug: protein contacts from ESM-2 attention in one forward pass, set against the
Categorical Jacobian."""

__version__ = "0.1.0"
