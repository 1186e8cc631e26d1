"""Atomic file writes and the one rule for file names made from ids.

A write goes to a temporary file beside the target, then a rename: a crash, a signal or a full
disk never leaves a half-written output, and the file gets the usual umask permissions
(mkstemp alone would make it private, and pipeline results are shared). Temporary files carry
this host's tag and the writer's pid, so a later run can tell its own stale ones (left by a
SIGKILL) from a live writer's and remove them.

Every writer that names a file after an id goes through `safe_name`: no path separators, no
leading dot, no control bytes, at most `MAX_STEM` bytes (longer ids keep a prefix plus a hash
of the whole id, so two long ids never share a name).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_STEM = 180  # bytes; leaves room for suffixes, `~N` and the temp decoration in 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,@-]")
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
# .<name>.<host>-<pid>.<mkstemp's 8 characters>.tmp
_OURS = re.compile(r"^\..*\.([0-9a-f]{6})-(\d+)\.[a-z0-9_]{8}\.tmp$")
# the layout before host and pid were recorded: .<name>.<8 characters>.tmp
_OLD = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
OLD_TEMP_AGE = 3600.0  # seconds: an undated temp file this old is no live write
_swept: set[Path] = set()


def safe_name(text: str) -> str:
    """A file-name stem for an id: `../../X` -> `.._.._X` minus leading dots, NUL and other
    bytes outside [A-Za-z0-9._+=,@-] -> `_`; over MAX_STEM bytes -> a prefix + `~` + hash."""
    stem = _UNSAFE.sub("_", str(text)).lstrip(".") or "_"
    if len(stem) > MAX_STEM:
        digest = hashlib.sha1(str(text).encode("utf-8", "surrogateescape")).hexdigest()[:10]
        stem = f"{stem[: MAX_STEM - 11]}~{digest}"
    return stem


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_folder(path: str | os.PathLike) -> Path:
    """Create a folder (and its parents); a file in the way is one clear OSError."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"{parent} is a file, not a folder", str(path)
                )
            break
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_folder(path: str | os.PathLike) -> Path:
    """That a folder exists or can be made, and can be written, without making it: a run fails
    before its work, not at its first write, and a refused run leaves no empty folder."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"{parent} is a file, not a folder", str(path)
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                read_only = os.statvfs(parent).f_flag & os.ST_RDONLY
                code = errno.EROFS if read_only else errno.EACCES
                raise PermissionError(
                    code, f"cannot write in {parent} ({os.strerror(code)})", str(path)
                )
            break
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Our temporary files in `folder` whose writer is gone (this host, pid not running; or
    the undated layout, older than OLD_TEMP_AGE): removed, and returned."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _OURS.match(entry.name)
        try:
            if match:
                stale = match.group(1) == _HOST and not _alive(int(match.group(2)))
            elif _OLD.match(entry.name):
                stale = now - entry.stat(follow_symlinks=False).st_mtime > OLD_TEMP_AGE
            else:
                continue
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _sweep_once(folder: Path) -> None:
    key = folder.resolve()
    if key not in _swept:
        _swept.add(key)
        remove_stale_temps(folder)


@contextmanager
def temp_beside(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file in `path`'s folder, removed if the block fails (or is interrupted).
    The caller renames it into place. OSErrors name the target, not the temp file."""
    path = Path(path)
    ensure_folder(path.parent)
    _sweep_once(path.parent)
    prefix = f".{path.name[:100]}.{_HOST}-{os.getpid()}."
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write here ({exc.strerror})", str(path)) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename in (None, tmp):
            raise OSError(exc.errno, f"cannot write ({exc.strerror})", str(path)) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` only if the block succeeds."""
    path = Path(path)
    with temp_beside(path) as tmp:
        yield tmp
        os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            handle.write(text)
    return Path(path)


# A signal raised as an exception inside a library's writer can leave that writer half-open:
# np.savez then fails to close its zip and that ValueError replaces the signal, so the run ends
# in a traceback instead of its one line. The CLI's signal handlers hand the raise to
# `deliver`, which holds it while a `signals_held` block runs and raises it when the block ends
# (a map write takes milliseconds); outside such a block it raises at once.
_held_depth = 0
_held: list[Callable[[], None]] = []


@contextmanager
def signals_held() -> Iterator[None]:
    """A block no signal delivered through `deliver` interrupts; a held one is raised after."""
    global _held_depth
    _held_depth += 1
    try:
        yield
    finally:
        _held_depth -= 1
        if _held_depth == 0 and _held:
            raise_signal = _held.pop()
            _held.clear()
            raise_signal()


def deliver(raise_signal: Callable[[], None]) -> None:
    """Call `raise_signal` (which raises) now, or when the current `signals_held` block ends."""
    if _held_depth:
        _held.append(raise_signal)
    else:
        raise_signal()
