"""Run the core on chain sequences: in-process when contactplug imports in PyMOL's Python,
else the `contactplug` executable on a temporary FASTA file, whose npz the plugin reads itself.

CONTACTPLUG_PYMOL_FORCE_CLI=1 takes the executable path even when the core imports.
The executable: plugin preference CONTACTPLUG_EXE, env var CONTACTPLUG_EXE, or PATH.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile

from pymol import CmdException

from .contact_files import ContactMap, read_npz
from .messages import MARKED_ENV, core_messages, feedback, pymol_words

try:
    from contactplug.files.atomic import safe_name
    from contactplug.files.methods import DEFAULT_MODEL, READOUT_METHODS, get_method, jacobian_for
    from contactplug.files.sequences import Record, fasta_id, write_fasta
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files.atomic import safe_name
    from ._files.methods import DEFAULT_MODEL, READOUT_METHODS, get_method, jacobian_for
    from ._files.sequences import Record, fasta_id, write_fasta

# rows of the core's method table; `jacobian` is the logit CJ, or the representation CJ on a
# checkpoint without an MLM head (as `contactplug jacobian` decides), `repr-jacobian` always
METHODS = [*READOUT_METHODS, "jacobian", "repr-jacobian"]


def _core():
    """The core's api and error type, or None when it cannot (or must not) be used."""
    if os.environ.get("CONTACTPLUG_PYMOL_FORCE_CLI", "") not in ("", "0"):
        return None
    try:
        from contactplug import api
        from contactplug.files.errors import ContactplugError
    except (ImportError, OSError):  # no torch, or a torch that cannot load its libraries
        return None
    return api, ContactplugError


def find_exe() -> str:
    """The contactplug executable to run when the core is not importable."""
    exe = ""
    try:
        from pymol import plugins

        exe = plugins.pref_get("CONTACTPLUG_EXE", "") or ""
    except ImportError:
        pass
    exe = exe or os.environ.get("CONTACTPLUG_EXE", "") or shutil.which("contactplug") or ""
    if not exe:
        raise CmdException(
            "contactplug is not importable in PyMOL's Python and no `contactplug` executable "
            "was found; install contactplug, or set CONTACTPLUG_EXE to its path"
        )
    exe = os.path.expanduser(exe)
    if not os.path.isfile(exe):
        raise CmdException(f"CONTACTPLUG_EXE={exe}: no such file")
    return exe


def record_id(text: str) -> str:
    """The id a chain's record gets: the FASTA reader's rule (`fasta_id`), not safe_name alone,
    since the executable reads these ids back from a FASTA file and names each map's file by
    safe_name of what it read; the map is then found by the same two rules."""
    return fasta_id(text) or "chain"


def predict(
    records: list[Record],
    model: str = DEFAULT_MODEL,
    method: str = "attention",
    top_k: int | None = None,
) -> list[ContactMap]:
    """One ContactMap per record (a chain, or a complex of chains), in order."""
    if method not in METHODS:
        raise CmdException(f"method={method!r}: choose from {', '.join(METHODS)}")
    recs = [dataclasses.replace(rec, id=record_id(rec.id)) for rec in records]
    core = _core()
    if core is None:
        maps = _predict_cli(recs, model, method, top_k)
    else:
        maps = _predict_core(core, recs, model, method, top_k)
    return [_checked(rec, m) for rec, m in zip(recs, maps, strict=True)]


def _checked(rec: Record, cmap: ContactMap) -> ContactMap:
    """The map of a complex names the structure's chains (a FASTA for the executable letters
    them A, B, ...); a core that returns no complex map for a complex is refused, never drawn
    as if its joined chains were one protein."""
    if not rec.is_complex:
        return cmap
    if not cmap.is_complex or list(cmap.chain_lengths) != list(rec.chain_lengths):
        raise CmdException(
            "this contactplug core predicts no complexes (complex=1); update contactplug, "
            "or leave complex out to predict each chain alone"
        )
    return dataclasses.replace(cmap, chain_ids=list(rec.chain_ids))


def _predict_core(core, recs: list[Record], model: str, method: str, top_k) -> list[ContactMap]:
    api, error = core
    # the core's progress lines and notes go to PyMOL's output; stderr is no terminal here,
    # so no bar is drawn (contactplug.progress)
    with core_messages(), contextlib.redirect_stderr(ProgressLines()):
        try:
            loaded = api.cached_model(model)
            method = _method_to_run(loaded, method)
            slow = get_method(method).kind == "jacobian"
            if slow:  # only once it is sure to run
                n = sum(20 * len(rec.sequence) + 1 for rec in recs)
                feedback(f"{method} needs {n} forward passes; this is slow (minutes on a CPU)")
            maps = api.predict(recs, model=loaded, method=method, top_k=top_k, progress=slow)
        except error as exc:
            raise CmdException(pymol_words(exc)) from None
    return maps


def _method_to_run(model, method: str) -> str:
    """The table's method for PyMOL's `method=`: `jacobian` on a checkpoint without an MLM
    head is the representation CJ, said in one line; anything it cannot run is refused."""
    if method in ("jacobian", "repr-jacobian"):
        method, note = jacobian_for(model.has_lm_head, representation=method == "repr-jacobian")
        if note:
            feedback(note)
    model.require(method)
    return method


def _command(exe: str) -> list[str]:
    # A script without its executable bit (a zip-extracted checkout) runs through Python.
    if os.access(exe, os.X_OK):
        return [exe]
    return [sys.executable, exe]


def _predict_cli(recs: list[Record], model, method, top_k) -> list[ContactMap]:
    exe = find_exe()
    with tempfile.TemporaryDirectory(prefix="attncontacts_") as tmp:
        fasta = os.path.join(tmp, "query.fasta")
        write_fasta(recs, fasta)  # a complex as its chains joined by ':'
        out = os.path.join(tmp, "out")
        args = _command(exe)
        if method in ("jacobian", "repr-jacobian"):  # no MLM head: the CLI falls back itself
            args += ["jacobian", fasta, "-o", out, "--model", model]
            args += ["--repr"] if method == "repr-jacobian" else []
        else:
            args += ["predict", fasta, "-o", out, "--model", model, "--method", method]
            if top_k:
                args += ["--top-k", str(top_k)]
        feedback(f"running {os.path.basename(exe)} ({method}, {model}) in a subprocess")
        code, lines = _run(args)
        if code != 0:
            errors = [ln for ln in lines if "error:" in ln]
            last = errors[-1] if errors else (lines[-1] if lines else "")
            last = last.split("error:", 1)[-1].strip() if errors else last
            raise CmdException(f"contactplug failed (exit {code}): {pymol_words(last)}")
        # the executable names each map by the core's one rule for file names
        return [read_npz(os.path.join(out, f"{safe_name(rec.id)}.npz")) for rec in recs]


class ProgressLines:
    """A file-like sink for the core's stderr text: its lines (progress every tenth, notes,
    warnings) go to PyMOL's feedback in PyMOL's words, and all are kept for error messages."""

    LEVEL = re.compile(r"^contactplug: (INFO|WARNING): ")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        parts = re.split(r"[\r\n]", self._buf)
        self._buf = parts.pop()
        for part in filter(None, (p.strip() for p in parts)):
            self.lines.append(part)
            if "error:" not in part:
                feedback(pymol_words(self.LEVEL.sub("", part)))
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> list[str]:
        if self._buf.strip():
            self.lines.append(self._buf.strip())
        self._buf = ""
        return self.lines


def _run(args: list[str]) -> tuple[int, list[str]]:
    """Run the executable, its stderr read line by line as it comes: not a terminal, so the
    CLI writes a plain progress line every tenth of the work (contactplug.progress)."""
    sink = ProgressLines()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **MARKED_ENV},  # its messages keep their arguments as data
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    for line in proc.stderr:
        sink.write(line)
    proc.stderr.close()
    return proc.wait(), sink.close()
