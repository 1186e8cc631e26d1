"""Bad input, class 3: every I/O error and every damaged file is one line and exit 2.

-o under an existing file, a read-only file system and a full disk (real tmpfs mounts when run
as root), truncated and CRC-damaged Jacobian parts, maps whose fields are not what the schema
says, argparse's own complaints. Each case goes through tests/badinput.refused.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from badinput import SEQ, raw_npz, refused, run_cli, structure_map, toy_map

from contactplug.files.contactmap import load
from contactplug.files.errors import ContactplugError

L = len(SEQ)
FASTA = ">q1\n" + SEQ + "\n>q2\n" + SEQ[:40] + "\n"


@pytest.fixture
def fasta(tmp_path) -> Path:
    path = tmp_path / "in.fa"
    path.write_text(FASTA)
    return path


# ---------------------------------------------------------------- -o in the way
@pytest.mark.parametrize("command", ["predict", "jacobian"])
def test_output_under_an_existing_file(tmp_path, fasta, tiny_model_path, command):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me\n")
    for out in (blocker, blocker / "sub"):
        refused(
            [command, fasta, "-o", out, "--model", tiny_model_path],
            r"notes\.txt is a file, not a folder",
            root=tmp_path,
        )
    assert blocker.read_text() == "keep me\n"


def test_export_and_evaluate_and_gather_under_an_existing_file(tmp_path, data_dir):
    toy_map().save(tmp_path / "maps" / "toy.npz")
    (tmp_path / "f").write_text("x")
    cases = [
        ["export", tmp_path / "maps", "-f", "csv", "-o", tmp_path / "f"],  # folder -> a file
        ["export", tmp_path / "maps" / "toy.npz", "-f", "csv", "-o", tmp_path / "f" / "t.csv"],
        ["gather-jacobian", tmp_path / "maps" / "toy.npz", "-o", tmp_path / "f" / "g"],
    ]
    for argv in cases:
        refused(argv, r"is a file|needs an output folder|not a Jacobian part", root=tmp_path)


# ---------------------------------------------------------------- real file systems
def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


@pytest.fixture
def tmpfs(tmp_path):
    """A real 64 KiB tmpfs (root only: skipped otherwise, with the reason)."""
    import os

    if os.geteuid() != 0:
        pytest.skip("a real tmpfs needs root (mount -t tmpfs); not root here")
    mounts = []

    def make(name: str = "mnt", size: str = "64k", read_only: bool = False) -> Path:
        path = tmp_path / name
        _mount_tmpfs(path, size)
        mounts.append(path)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    yield make
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_file_system(tmp_path, fasta, tiny_model_path, tmpfs, data_dir):
    ro = tmpfs("ro", read_only=True)
    structure_map(data_dir / "1CTF_A.pdb").save(tmp_path / "1CTF_A.npz")
    npz = tmp_path / "1CTF_A.npz"
    for argv in (
        ["predict", fasta, "-o", ro / "out", "--model", tiny_model_path],
        ["predict", fasta, "-o", ro, "--model", tiny_model_path],
        ["jacobian", fasta, "-o", ro, "--model", tiny_model_path, "--positions", "1-3"],
        ["export", npz, "-f", "csv", "-o", ro / "toy.csv"],
        ["export", tmp_path, "-f", "csv", "-o", ro / "exports"],
        ["evaluate", npz, "--structure", data_dir / "1CTF_A.pdb", "-o", ro / "m.json"],
    ):
        refused(argv, r"Read-only file system", root=tmp_path)


def test_full_disk_keeps_whole_maps_and_no_temp_files(tmp_path, tiny_model_path, data_dir, tmpfs):
    full = tmpfs("full", size="64k")
    inputs = [data_dir / f"{name}.pdb" for name in ("1AQT_A", "1CZP_A", "2ZXJ_A", "1PTF_A")]
    line = refused(
        ["predict", *inputs, "-o", full, "--model", tiny_model_path],
        r"No space left on device",
        root=tmp_path,
        partial=True,
    )
    assert str(full) in line
    for path in full.iterdir():  # what made it is whole (badinput loaded each one too)
        assert load(path).length > 0
    big = toy_map(seq=SEQ * 15)  # 975 residues: its CSV of all pairs is far beyond 64 KiB
    big.save(tmp_path / "big.npz")
    refused(
        ["export", tmp_path / "big.npz", "-f", "csv", "--top", "all", "-o", full / "big.csv"],
        r"big\.csv: .*No space left on device",
        root=tmp_path,
    )


# ---------------------------------------------------------------- damaged Jacobian parts
@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_model_path) -> list[Path]:
    """Real Jacobian parts of two proteins: p (30 residues, 2 parts) and q (20, 1 part)."""
    folder = tmp_path_factory.mktemp("parts")
    fa = folder / "p.fa"
    fa.write_text(">p\n" + SEQ[:30] + "\n")
    fq = folder / "q.fa"
    fq.write_text(">q\n" + SEQ[10:30] + "\n")
    for inputs, span in ((fa, "1-12"), (fa, "13-30"), (fq, "1-20")):
        code, _, err = run_cli(
            ["jacobian", inputs, "-o", folder, "--positions", span, "--model", tiny_model_path]
        )
        assert code == 0, err
    return sorted(folder.glob("*.part*.npz"))


def _copy_parts(parts: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    return [Path(shutil.copy(p, folder / p.name)) for p in parts]


def _central_crc_offset(path: Path, member: str) -> int:
    """Where the CRC-32 of `member` sits in the zip's central directory (what zipfile checks)."""
    data = path.read_bytes()
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack("<H", data[pos + 28 : pos + 30])[0]
        if data[pos + 46 : pos + 46 + name_len].decode() == member:
            return pos + 16
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{member} not in {path}")


def test_gather_refuses_truncated_and_crc_damaged_parts(tmp_path, parts):
    good = _copy_parts(parts, tmp_path / "good")
    code, _, err = run_cli(["gather-jacobian", *good, "-o", tmp_path / "ok"])
    assert code == 0, err
    assert {load(p).length for p in (tmp_path / "ok").iterdir()} == {30, 20}

    def damaged(name: str, damage) -> list[Path]:
        copies = _copy_parts(parts, tmp_path / name)
        target = next(p for p in copies if p.name == "p.part13-30.npz")
        data = bytearray(target.read_bytes())
        target.write_bytes(bytes(damage(data, target)))
        return copies

    def cut(data, _):
        return data[: len(data) // 2]

    def crc(data, target):
        at = _central_crc_offset(target, "rows.npy")
        data[at : at + 4] = bytes(b ^ 0xFF for b in data[at : at + 4])
        return data

    def flip(data, _):  # the deflate stream damaged mid-way
        for k in range(len(data) // 2, len(data) // 2 + 64):
            data[k] ^= 0x5A
        return data

    # every call also holds protein q's good parts: a bad part of p leaves no output at all
    for name, damage, message in (
        ("cut", cut, r"p\.part13-30\.npz: not an \.npz file \(or a truncated one\)"),
        ("crc", crc, r"p\.part13-30\.npz: damaged npz \(Bad CRC-32 for file 'rows\.npy'\)"),
        ("flip", flip, r"p\.part13-30\.npz: damaged"),
    ):
        copies = damaged(name, damage)
        refused(["gather-jacobian", *copies, "-o", tmp_path / f"out-{name}"], message, tmp_path)


def test_gather_refuses_foreign_and_reheaded_parts(tmp_path, parts):
    a, b, _ = _copy_parts(parts, tmp_path / "p")
    with np.load(b) as data:
        fields = {k: data[k] for k in data.files}
    cases = {
        "norows": ({k: v for k, v in fields.items() if k != "rows"}, r"no rows"),
        "start": ({**fields, "start": np.array(2.5)}, r"start is not an integer"),
        "range": ({**fields, "end": np.array(99)}, r"positions 13-99 are not within 1-30"),
        "shape": ({**fields, "rows": fields["rows"][:3]}, r"rows of shape .* do not fit"),
        "meta": ({**fields, "meta": np.array("{oops")}, r"meta or seconds is damaged"),
        "seq": ({**fields, "sequence": np.array("mktay")}, r"not upper-case amino-acid"),
        "id": ({**fields, "id": np.array("a\nb")}, r"control characters"),
    }
    for name, (arrays, message) in cases.items():
        bad = tmp_path / f"{name}.part13-30.npz"
        with open(bad, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        refused(["gather-jacobian", a, bad, "-o", tmp_path / "out"], message, root=tmp_path)
    toy_map().save(tmp_path / "map.npz")
    refused(
        ["gather-jacobian", a, tmp_path / "map.npz", "-o", tmp_path / "out"],
        r"map\.npz: not a Jacobian part",
        root=tmp_path,
    )


# ---------------------------------------------------------------- maps whose fields lie
BAD_FIELDS = {
    "meta not JSON": ({"meta": "{not json"}, r"meta is not JSON"),
    "meta a list": ({"meta": "[1, 2]"}, r"meta is not a JSON object"),
    "n_forward float": ({"n_forward": 3.5}, r"n_forward 3\.5 is not an integer"),
    "n_forward text": ({"n_forward": "abc"}, r"n_forward 'abc' is not an integer"),
    "n_forward array": ({"n_forward": [1, 2]}, r"n_forward is not a single value"),
    "n_forward negative": ({"n_forward": -4}, r"n_forward -4 is negative"),
    "seconds text": ({"seconds": "soon"}, r"seconds 'soon' is not a number"),
    "seconds NaN": ({"seconds": float("nan")}, r"seconds nan is not a duration"),
    "contacts text": ({"contacts": np.full((L, L), "x")}, r"contacts are not numbers"),
    "contacts shape": ({"contacts": np.zeros((L, L - 1))}, rf"shape \({L}, {L - 1}\), expected"),
    "contacts NaN": ({"contacts": np.full((L, L), np.nan)}, r"NaN or infinite"),
    "schema newer": ({"schema_version": 99}, r"schema version 99 is newer"),
    "id empty": ({"id": ""}, r"the id is empty"),
    "id newline": ({"id": "a\nTARGET evil"}, r"control characters"),
    "id number": ({"id": 7}, r"id is not text"),
    "resnum text": ({"resnum": np.array(["1"] * L), "icode": np.array([""] * L)}, r"resnum"),
    "resnum short": ({"resnum": np.arange(3), "icode": np.array([""] * 3)}, r"resnum/icode"),
    "chain number": ({"chain": 5}, r"chain is not text"),
    "method empty": ({"method": ""}, r"method is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_maps_with_bad_fields_are_refused_by_every_consumer(tmp_path, case, data_dir):
    fields, message = BAD_FIELDS[case]
    bad = raw_npz(tmp_path / "maps" / "1CTF_A.npz", **fields)
    with pytest.raises(ContactplugError, match=message) as err:  # the plugin's reader
        load(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)
    for argv in (
        ["export", bad, "-f", "casp-rr", "--pseudo-prob", "-o", tmp_path / "x.rr"],
        ["export", tmp_path / "maps", "-f", "boltz", "-o", tmp_path / "exports"],
        ["evaluate", bad, "--structure", data_dir / "1CTF_A.pdb", "-o", tmp_path / "m.json"],
        ["plot", bad, "-o", tmp_path / "m.png"],
    ):
        refused(argv, message, root=tmp_path)


def test_unreadable_npz_files(tmp_path):
    good = toy_map().save(tmp_path / "good.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:300])
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, contacts=np.array([{"a": 1}], dtype=object))
    bare = tmp_path / "bare.npz"
    with open(bare, "wb") as handle:
        np.save(handle, np.zeros(3))
    text = tmp_path / "text.npz"
    text.write_text("hello\n")
    for path, message in (
        (cut, r"cut\.npz: not an \.npz file \(or a truncated one\)"),
        (pickled, r"pickled\.npz: .*(damaged|pickle)"),
        (bare, r"bare\.npz: not an \.npz file \(a bare \.npy"),
        (text, r"text\.npz: not an \.npz file"),
        (tmp_path / "absent.npz", r"absent\.npz: no such"),
    ):
        refused(["export", path, "-f", "csv", "-o", tmp_path / "x.csv"], message, root=tmp_path)
        with pytest.raises(ContactplugError, match=message):
            load(path)


# ---------------------------------------------------------------- the command line itself
@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "x.fa", "-o", "o", "--top-k", "abc"], r"--top-k: invalid int value: 'abc'"),
        (["predict", "x.fa"], r"required: -o/--output"),
        (["export", "x.npz", "-o", "y", "-f", "csv", "--max-sep", "1.5"], r"--max-sep"),
        (["evaluate", "x.npz", "--structure", "s", "-o", "o", "--cutoff", "-3"], r"cutoff"),
        (["nonsense"], r"invalid choice: 'nonsense'"),
    ],
)
def test_argparse_errors_are_one_line(tmp_path, argv, message):
    refused(argv, message, root=tmp_path)
