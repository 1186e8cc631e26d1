"""The `contactplug` subcommands; each module exposes `register(subparsers)` and keeps its heavy
imports inside the functions that run, so `contactplug --help` does not load torch.
"""
