"""The one assertion for bad input, used by every tests/test_bad_input_*.py:

    refused(argv, "message regex", root=tmp_path)

runs `contactplug argv` and checks, all at once, the house rule for bad input: exit code 2;
exactly one stderr line, `contactplug: error: ...`, matching the regex; no traceback; nothing
half-written (no temporary file anywhere under `root`, every npz that appeared loads); nothing
written outside -o (the files under `root` other than -o are byte for byte as before); and,
unless `partial=True` (runs that write their good records and then say what failed), nothing
new even inside -o.

In-process (`main(argv)`, fast) by default; `subprocess=True` runs the real executable, for
signals, standard input and a process's whole stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess as sp
import sys
from pathlib import Path

from contactplug.cli import main
from contactplug.files.contactmap import PART_FILE, load

OUTPUT_FLAGS = ("-o", "--output", "--outdir")
TEMP = re.compile(r"^\..*\.tmp$")


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under root (links as their target)."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "link:" + os.readlink(path)
        elif path.is_file():
            try:
                found[str(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
            except OSError:
                found[str(path.relative_to(root))] = "unreadable"
    return found


def output_of(argv: list) -> Path | None:
    for flag in OUTPUT_FLAGS:
        if flag in argv:
            return Path(argv[argv.index(flag) + 1])
    return None


def run_cli(argv: list, subprocess: bool = False, stdin: bytes | None = None, env=None):
    """(exit code, stdout, stderr) of `contactplug -q argv`."""
    argv = ["-q", *map(str, argv)]
    if subprocess:
        proc = sp.run(
            [sys.executable, "-m", "contactplug.cli", *argv],
            input=stdin,
            capture_output=True,
            env={**os.environ, **(env or {})},
            timeout=300,
        )
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exits (its errors, --help)
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_clean(root: Path, before: dict[str, str], out: Path | None, partial: bool) -> None:
    """No temp files, nothing changed outside `out`, new npz files whole (and none at all
    inside `out` unless partial)."""
    root = Path(root)
    after = snapshot(root)
    temps = [p for p in after if TEMP.match(Path(p).name)]
    assert not temps, f"half-written temporary files left: {temps}"
    changed = sorted(p for p in after.keys() | before.keys() if after.get(p) != before.get(p))
    inside = []
    if out is not None:
        rel = os.path.relpath(Path(out).resolve(), root.resolve())
        inside = [p for p in changed if rel != ".." and not rel.startswith(".." + os.sep)
                  and (p == rel or p.startswith(rel + os.sep))]  # fmt: skip
    outside = [p for p in changed if p not in inside]
    assert not outside, f"written or changed outside -o: {outside}"
    if not partial:
        assert not inside, f"a refused run wrote into -o: {inside}"
    for p in inside:
        if p in after and p.endswith(".npz") and not PART_FILE.search(p):
            load(root / p)  # whole, readable maps only


def refused(
    argv: list,
    match: str,
    root: Path,
    partial: bool = False,
    subprocess: bool = False,
    stdin: bytes | None = None,
) -> str:
    """Run and assert the bad-input rule (module docstring); returns the error line."""
    before = snapshot(root)
    code, out, err = run_cli(argv, subprocess, stdin)
    assert "Traceback" not in err + out, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("contactplug: error:")]
    others = [line for line in lines if not line.lower().startswith("contactplug: warning:")]
    assert code == 2, f"exit {code}, expected 2; stderr: {err}"
    assert len(errors) == 1 and others == errors, f"not one error line: {lines}"
    assert re.search(match, errors[0]), f"{match!r} not in {errors[0]!r}"
    assert_clean(root, before, output_of(list(map(str, argv))), partial)
    return errors[0]


def accepted(argv: list, root: Path, subprocess: bool = False, stdin: bytes | None = None):
    """Run and assert success with nothing written outside -o and nothing half-written;
    returns (stdout, stderr)."""
    before = snapshot(root)
    code, out, err = run_cli(argv, subprocess, stdin)
    assert code == 0, err
    assert "Traceback" not in err
    assert_clean(root, before, output_of(list(map(str, argv))), partial=True)
    return out, err


# ---------------------------------------------------------------- real files to damage
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"


def toy_map(pid: str = "toy", seq: str = SEQ, method: str = "attention", seed: int = 0):
    """A valid map: symmetric random scores, zero diagonal."""
    import numpy as np

    from contactplug.files.contactmap import ContactMap

    rng = np.random.default_rng(seed)
    s = rng.random((len(seq), len(seq)))
    s = s + s.T
    np.fill_diagonal(s, 0)
    return ContactMap(s, seq, pid, method, "esm2_t6_8M_UR50D")


def raw_npz(path: Path, base=None, drop: tuple[str, ...] = (), **fields) -> Path:
    """A map's npz with some fields replaced by anything (what another tool might write),
    bypassing the schema's checks."""
    import numpy as np

    arrays = (base or toy_map()).arrays()
    for key in drop:
        arrays.pop(key)
    arrays.update({k: np.asarray(v) for k, v in fields.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return Path(path)


def pdb_lines(path: Path) -> list[str]:
    return Path(path).read_text().splitlines()


def residue_numbers(lines: list[str]) -> list[int]:
    seen: list[int] = []
    for line in lines:
        if line.startswith(("ATOM", "HETATM")):
            n = int(line[22:26])
            if not seen or seen[-1] != n:
                seen.append(n)
    return seen


def structure_map(path: Path, method: str = "attention"):
    """A valid map of a structure's chain (its id, sequence and numbering), random scores."""
    from contactplug.inputs.queries import from_structure

    query = from_structure(path)
    return query.fill(toy_map(query.record.id, query.record.sequence, method))
