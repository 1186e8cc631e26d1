"""One run's outputs in one folder: names from ids, and nothing silently replaced.

A file is named `safe_name(id) + suffix`. An existing map (or Jacobian part) there is replaced
only when it is the same thing made again (same owner key: id, sequence and method); an export
(a derived text file) is replaced by a rerun. Otherwise (another protein's map, another
method's map, an input of the run, a folder), and when two ids of this run clean to the same
name, the next free `~2`, `~3`, ... name is taken and a warning says so. The choice of name and the
rename happen under an exclusive lock on the folder, so two runs writing into the same folder
at once (say attention and Jacobian maps) cannot take the same name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import check_folder, remove_stale_temps, safe_name, temp_beside

try:  # not on Windows: there the lock is skipped, names are still checked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

log = logging.getLogger("contactplug")

Key = Hashable
Identify = Callable[[Path], "Key | None"]


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive flock on the folder itself (no lock file left behind); where the file system
    does not support it (some network mounts), the block runs unlocked."""
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(folder, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the lock


class OutputFolder:
    """Where one run writes its per-id files; see the module docstring for the rule."""

    def __init__(self, folder: str | os.PathLike, inputs: list[str | os.PathLike] = ()):
        self.folder = check_folder(folder)  # made at the first write
        self.inputs = {_key(p) for p in inputs if p != "-" and Path(p).exists()}
        self.claimed: dict[Path, Key] = {}
        if self.folder.is_dir():
            for path in remove_stale_temps(self.folder):
                log.info("removed a stale temporary file of an interrupted run: %s", path.name)

    def _free(self, candidate: Path, key: Key, identify: Identify | None) -> bool:
        if candidate in self.claimed:
            return self.claimed[candidate] == key
        if _key(candidate) in self.inputs:
            return False
        if not (candidate.exists() or candidate.is_symlink()):
            return True
        if candidate.is_symlink() or not candidate.is_file():
            return False
        # no identify: files of this kind are derived (exports), and a rerun replaces them
        return identify is None or identify(candidate) == key

    def write(
        self,
        name: str,
        suffix: str,
        key: Key,
        write: Callable[[Path], None],
        identify: Identify | None = None,
        describe: Callable[[Key | None], str] = lambda key: "another file",
    ) -> Path:
        """Write one file via `write(temp_path)`, then move it to its name; returns the path.
        `identify(path)` gives an existing file's owner key (None: unknown), `describe(key)`
        words it for the warning."""
        stem = safe_name(name)
        first = self.folder / f"{stem}{suffix}"
        with temp_beside(first) as tmp:
            write(tmp)
            with folder_lock(self.folder):
                n = 1
                target = first
                while not self._free(target, key, identify):
                    n += 1
                    target = self.folder / f"{stem}~{n}{suffix}"
                if target != first:
                    if first in self.claimed:
                        held = describe(self.claimed[first]) + " (written by this run)"
                    elif _key(first) in self.inputs:
                        held = "an input of this run"
                    else:
                        held = describe(identify(first) if identify else None)
                os.replace(tmp, target)
        self.claimed[target] = key
        if target != first:
            log.warning("%s holds %s; wrote %s as %s", first, held, describe(key), target.name)
        return target


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(path)
