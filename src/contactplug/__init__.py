"""contactplug: protein contacts from a protein language model's attention (ESM-2,
ESM-1b/1v, ESM C, ProtT5) in one forward pass, set against the Categorical Jacobian."""

__version__ = "0.1.0"
