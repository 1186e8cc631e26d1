# Version: 0.1.0
# Author: contactplug
# Citation-Required: No
"""
contactplug for PyMOL: draw attention contacts (ESM-2, ESM-1b/1v, ESM C, ProtT5) on a structure.

Commands: attncontacts, loadcontacts, attncontacts_clear (type `help attncontacts`).
Install: Plugin > Plugin Manager > Install New Plugin > Install from local file
(contactplug_pymol.zip), or `run .../contactplug_pymol/__init__.py` in a script.
The contactplug core is used in-process when PyMOL's Python can import it; otherwise the
`contactplug` executable (PATH, or CONTACTPLUG_EXE) is run in a subprocess.
"""

try:
    from . import pymol_commands
except ImportError:  # `run .../contactplug_pymol/__init__.py`: not imported as a package
    import os as _os
    import sys as _sys

    _here = globals().get("__script__") or __file__
    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(_here))))
    from contactplug_pymol import pymol_commands

from pymol import cmd
from pymol.shortcut import Shortcut

__version__ = "0.1.0"
COMMANDS = (
    pymol_commands.attncontacts,
    pymol_commands.loadcontacts,
    pymol_commands.attncontacts_clear,
)


def register(_self=cmd) -> None:
    """Add the commands and their tab completion to one PyMOL instance (pymol2 or global)."""
    for function in COMMANDS:
        _self.extend(function.__name__, function)
    methods = [_methods_sc, "method", ", "]
    selection = [_self.selection_sc, "selection", ", "]
    completion = {
        0: {"attncontacts": selection, "attncontacts_clear": [_self.selection_sc, "selection", ""]},
        1: {"loadcontacts": selection},
        2: {"attncontacts": methods},
    }
    for position, entries in completion.items():
        while len(_self.auto_arg) <= position:
            _self.auto_arg.append({})
        _self.auto_arg[position].update(entries)


def _methods_sc():
    return Shortcut(pymol_commands.method_names())


def __init_plugin__(app=None) -> None:
    """PyMOL's plugin entry point (the commands are registered on import): a Plugin-menu
    dialog when PyMOL runs its Qt GUI."""
    try:
        from pymol.plugins import addmenuitemqt
    except ImportError:
        return
    try:
        addmenuitemqt("Attention contacts (contactplug)", _open_dialog)
    except Exception:  # headless or Tk-only PyMOL: commands only, no menu
        pass


def _open_dialog() -> None:
    import importlib

    importlib.import_module(".dialog", pymol_commands.__package__).open_dialog(cmd)


# Importing the package is enough in a script (`import contactplug_pymol`).
register(cmd)
