"""contactplug: protein contacts from ESM-2 attention in one forward pass, against the Categorical Jacobian."""

__version__ = "0.1.0"
