"""The pipeline's inputs, checked: a samplesheet, or a FASTA plus a folder of structures, becomes
the protein table that the Nextflow pipeline fans out over.

Every problem stops with one line naming the row at fault (`samplesheet row 3 (1TEN_A): ...`).
A row may be a complex: a sequence (or FASTA record) holding chains separated by ':' (the
ColabFold convention), or a structure with a `chains` column (`A,B` or `all`), whose chains'
sequences are then read from the structure. A complex is stored as one ':'-joined sequence,
its length the sum of its chains'.
Sequences are cleaned by contactplug's own rules (files.sequences), structure files are
recognised, matched by id and their chains checked by the structure module, so the pipeline and
the CLI accept exactly the same proteins. The pipeline's first task runs this through
`contactplug samplesheet`; nf/assets/schema_input.json states the same columns for nf-schema.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from contactplug.files.atomic import MAX_STEM, safe_name, write_text
from contactplug.files.errors import ContactplugError, arg
from contactplug.files.sequences import fasta_id, parse_chains, read_fasta
from contactplug.inputs.samplesheet_chains import (
    CHAIN_RULE,
    as_text,
    chains_sequence,
    check_complex,
    complex_chains,
    default_chains,
    is_remote,
    n_chains,
)
from contactplug.inputs.structure import (
    index_structures,
    is_structure_file,
    match_structure,
    protein_chains,
)

COLUMNS = ("id", "sequence", "fasta", "structure", "chain", "chains")
# An id names the output files of its protein, which the pipeline's tasks expect as <id>.npz:
# so an id must be its own `safe_name` (no leading '.', at most MAX_STEM bytes), and of the
# FASTA reader's narrower alphabet (`files.sequences.fasta_id`), since the tasks pass proteins
# to contactplug as FASTA records. Refused, never renamed: a renamed id would miss its files.
GLOB = re.compile(r"[*?\[\]{}]")
# The validated table: what each pipeline task needs, one row per protein, sorted by id.
PROTEIN_COLUMNS = ("id", "sequence", "length", "structure", "chain", "chains", "chunks", "fasta")
JACOBIAN_COLUMNS = ("id", "length", "chain", "chains", "chunks", "first", "last", "fasta")


@dataclass(frozen=True)
class Protein:
    id: str
    sequence: str  # a complex's chains joined by ':', as ColabFold writes them
    structure: str  # an absolute local path or a remote URL; '' when none
    chain: str  # '' when not given: the best-aligned chain is scored
    where: str  # how error messages name its row
    chains: tuple[str, ...] = ()  # a complex's structure chains, in sequence order

    @property
    def length(self) -> int:
        """Residues, every chain's together (the model reads a complex as one sequence)."""
        return len(self.sequence.replace(":", ""))


def sheet_path(sheet: Path, value: str) -> Path | None:
    """A path written in a samplesheet: absolute, or relative to the samplesheet's own folder.
    None for a glob pattern, which would name no single file."""
    if GLOB.search(value):
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(sheet.parent / path))


def check_id(pid: str, where: str) -> None:
    if not pid:
        raise ContactplugError(f"{where}: empty id")
    if fasta_id(pid) != pid:
        raise ContactplugError(
            f"{where}: id '{pid}' may only hold letters, digits, '_', '.' and '-' (it names files)"
        )
    if safe_name(pid) != pid:
        raise ContactplugError(
            f"{where}: id '{pid[:40]}' names files, so it may not start with '.' or be longer "
            f"than {MAX_STEM} characters"
        )


def check_unique(proteins: list[Protein], source: str) -> None:
    seen: dict[str, str] = {}
    for p in proteins:
        key = p.id.lower()
        if key in seen:
            raise ContactplugError(
                f"{source}: id '{p.id}' appears twice ({seen[key]} and {p.where}); "
                "ids must be unique, ignoring case"
            )
        seen[key] = p.where


def check_chain(structure: str, chain: str, where: str) -> None:
    """The structure must hold a protein chain (the named one, when a chain is given)."""
    if is_remote(structure):
        return  # staged by Nextflow into the task that reads it; it checks it there
    try:
        chains = protein_chains(structure)
    except ContactplugError as exc:
        raise ContactplugError(f"{where}: {exc.marked}") from None
    if not chains:
        raise ContactplugError(f"{where}: structure '{structure}' holds no protein chain")
    if chain and chain not in chains:
        raise ContactplugError(
            f"{where}: chain '{chain}' is not a protein chain of '{structure}' "
            f"(protein chains: {', '.join(chains)})"
        )


def _cells(line: str) -> list[str]:
    [cells] = list(csv.reader([line], skipinitialspace=True))
    return [cell.strip() for cell in cells] or [""]


def _sequence_from_fasta(sheet: Path, value: str, pid: str, where: str) -> str:
    path = None if is_remote(value) else sheet_path(sheet, value)
    if path is None or not path.is_file():
        looked = "" if path is None else f" (looked at {path})"
        raise ContactplugError(f"{where}: fasta file '{value}' does not exist{looked}")
    try:
        records = read_fasta(path)
    except ContactplugError as exc:
        raise ContactplugError(f"{where}: {exc.marked}") from None
    hits = [rec for rec in records if rec.id == pid]
    if not hits and len(records) == 1:
        hits = records  # a one-record file is that protein, whatever its header says
    if not hits:
        raise ContactplugError(
            f"{where}: '{value}' holds {len(records)} records and none is named '{pid}'"
        )
    return as_text(hits[0])


def _structure_cell(sheet: Path, value: str, where: str) -> str:
    if is_remote(value):
        if not is_structure_file(value):
            raise ContactplugError(
                f"{where}: structure '{value}' is not .pdb, .ent, .cif or .mmcif (optionally .gz)"
            )
        return value
    path = sheet_path(sheet, value)
    if path is None or not path.is_file():
        looked = "" if path is None else f" (looked at {path})"
        raise ContactplugError(f"{where}: structure file '{value}' does not exist{looked}")
    if not is_structure_file(path):
        raise ContactplugError(
            f"{where}: structure '{value}' is not .pdb, .ent, .cif or .mmcif (optionally .gz)"
        )
    return str(path.resolve())


def _find_structure(index: dict[str, Path] | None, pid: str) -> tuple[str, str]:
    """[file, chain] for an id in the --structures folder, ('', '') when none: the rule
    `contactplug evaluate` uses (1AQT_A -> 1AQT_A.pdb, else 1AQT.pdb chain A)."""
    found = match_structure(pid, index) if index else None
    if not found:
        return "", ""
    path, chain = found
    return str(Path(path).resolve()), chain or ""


def _sheet_lines(sheet: Path, label: str) -> list[tuple[int, str]]:
    if not sheet.is_file():
        raise ContactplugError(f"{label}: no such samplesheet file")
    try:
        text = sheet.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactplugError(f"{label}: cannot read ({exc.__class__.__name__})") from None
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")
    ]


def _read_header(lines: list[tuple[int, str]], label: str) -> list[str]:
    if not lines:
        raise ContactplugError(f"{label}: the samplesheet is empty")
    header = [name.lower() for name in _cells(lines[0][1])]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ContactplugError(
            f"{label}: unknown column(s) {', '.join(unknown)} (columns: {', '.join(COLUMNS)})"
        )
    if "id" not in header or not ({"sequence", "fasta"} & set(header) or
                                  {"structure", "chains"} <= set(header)):  # fmt: skip
        raise ContactplugError(
            f"{label}: the header needs 'id' and 'sequence' or 'fasta' (or 'structure' and "
            f"'chains') (got: {lines[0][1].strip()})"
        )
    if len(set(header)) != len(header):
        raise ContactplugError(f"{label}: a column name is repeated in the header")
    if len(lines) < 2:
        raise ContactplugError(f"{label}: no rows below the header")
    return header


def _row_structure(
    sheet: Path, values: dict, pid: str, where: str, index: dict | None
) -> tuple[str, str]:
    """(structure, chain) of a row: its structure cell, else its id in the structures folder."""
    chain = values.get("chain", "")
    if values.get("structure"):
        return _structure_cell(sheet, values["structure"], where), chain
    if index is not None:
        structure, found_chain = _find_structure(index, pid)
        return structure, chain or found_chain
    return "", chain


def _read_row(sheet: Path, values: dict, where: str, index: dict | None) -> Protein:
    pid = values["id"]
    check_id(pid, where)
    where = f"{where} ({pid})"
    sequence, fasta, chains_cell = (values.get(k, "") for k in ("sequence", "fasta", "chains"))
    if sequence and fasta:
        raise ContactplugError(f"{where}: give a sequence or a fasta file, not both")
    structure, chain = _row_structure(sheet, values, pid, where, index)
    if chains_cell and not structure:
        raise ContactplugError(f"{where}: chains ('{chains_cell}') are given but no structure")
    if chain and chains_cell:
        raise ContactplugError(f"{where}: give a chain (one chain) or chains (a complex), not both")
    if chain and not structure:
        raise ContactplugError(f"{where}: a chain ('{chain}') is given but no structure")
    if chain and not CHAIN_RULE.fullmatch(chain):
        raise ContactplugError(
            f"{where}: chain '{chain}' is not a chain name (1-4 letters or digits)"
        )
    chains = complex_chains(structure, chains_cell, where) if chains_cell else ()
    if fasta:
        sequence = _sequence_from_fasta(sheet, fasta, pid, where)  # cleaned by read_fasta
    elif sequence:
        sequence = as_text(parse_chains(sequence, where))
    elif chains:
        sequence = chains_sequence(structure, chains)
    else:
        raise ContactplugError(
            f"{where}: no sequence and no fasta file (nor a structure with chains to read)"
        )
    check_complex(sequence, chains, where)
    if chain and n_chains(sequence) > 1:
        raise ContactplugError(
            f"{where}: the sequence is a complex of {n_chains(sequence)} chains; name the "
            f"structure's chains in the chains column, not one chain ('{chain}')"
        )
    if structure and n_chains(sequence) > 1:
        chains = chains or default_chains(structure, sequence, where)
    elif structure:
        check_chain(structure, chain, where)
    return Protein(pid, sequence, structure, chain, where, chains)


def read_samplesheet(
    sheet: str | os.PathLike, structures: str | os.PathLike | None = None
) -> list[Protein]:
    """Samplesheet CSV -> proteins, in file order. Columns: id, sequence and/or fasta (one of
    them filled per row, or neither for a structure with chains), structure, chain, chains.
    Rows without a structure are matched by id in the structures folder, when one is given."""
    label = arg("input", value=sheet)
    sheet = Path(sheet)
    index = index_structures(structures) if structures else None
    lines = _sheet_lines(sheet, label)
    header = _read_header(lines, label)
    proteins = []
    for row, (number, line) in enumerate(lines[1:], 1):
        cells = _cells(line)
        if len(cells) != len(header):
            raise ContactplugError(
                f"samplesheet row {row}: {len(cells)} fields, the header has {len(header)} "
                f"(line {number} of {sheet})"
            )
        values = dict(zip(header, cells, strict=True))
        proteins.append(_read_row(sheet, values, f"samplesheet row {row}", index))
    check_unique(proteins, label)
    return proteins


def read_fasta_input(
    fasta: str | os.PathLike, structures: str | os.PathLike | None = None
) -> list[Protein]:
    """--fasta (and --structures DIR, matched by id) -> the same proteins as read_samplesheet."""
    label = arg("fasta", value=fasta)
    if not Path(fasta).is_file():
        raise ContactplugError(f"{label}: no such FASTA file")
    index = index_structures(structures) if structures else None
    try:
        records = read_fasta(fasta)
    except ContactplugError as exc:
        raise ContactplugError(f"{label}: {exc.marked}") from None
    proteins = []
    for rec in records:
        where = f"{label}: record '{rec.id}'"
        check_id(rec.id, where)
        structure, chain = _find_structure(index, rec.id)
        sequence, chains = as_text(rec), ()
        if structure and rec.is_complex:
            chain, chains = "", default_chains(structure, sequence, where)
        elif structure:
            check_chain(structure, chain, where)
        proteins.append(Protein(rec.id, sequence, structure, chain, where, chains))
    check_unique(proteins, label)
    return proteins


def read_proteins(
    sheet: str | None = None, fasta: str | None = None, structures: str | None = None
) -> list[Protein]:
    """All proteins from a samplesheet or a FASTA, sorted by id (so tasks are reproducible)."""
    if sheet and fasta:
        raise ContactplugError(f"give {arg('input')} (a samplesheet) or {arg('fasta')}, not both")
    if not sheet and not fasta:
        raise ContactplugError(
            f"no proteins: give {arg('input', value='samplesheet.csv')} or "
            f"{arg('fasta', value='proteins.fasta')} (see nf/README.md)"
        )
    if structures and not Path(structures).is_dir():
        raise ContactplugError(f"{arg('structures', value=structures)}: no such folder")
    found = read_samplesheet(sheet, structures) if sheet else read_fasta_input(fasta, structures)
    return sorted(found, key=lambda p: p.id)


def jacobian_ranges(length: int, chunk: int) -> list[tuple[int, int]]:
    """1-based inclusive (first, last) position ranges of one protein's Jacobian tasks."""
    if chunk <= 0 or chunk >= length:
        return [(1, length)]
    return [(start, min(start + chunk - 1, length)) for start in range(1, length + 1, chunk)]


def store_fasta(store: str | os.PathLike, protein: Protein) -> Path:
    """The protein's FASTA in a content-addressed store: <id>.<digest>.fasta, written once.

    An existing file already holds this very text, so it is never rewritten: a pipeline rerun
    (-resume) sees the same path and timestamp for an unchanged protein and reuses its tasks,
    while an edited sequence gets a new file and new tasks."""
    text = f">{protein.id}\n{protein.sequence}\n"
    digest = hashlib.md5(text.encode()).hexdigest()[:12]
    path = Path(store) / f"{protein.id}.{digest}.fasta"
    if not path.is_file():
        write_text(path, text)
    return path.resolve()


def _csv_text(columns: tuple[str, ...], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_tables(
    proteins: list[Protein], outdir: str | os.PathLike, store: str | os.PathLike, chunk: int
) -> tuple[Path, Path]:
    """proteins.csv (one row per protein) and jacobian.csv (one row per Jacobian task)."""
    outdir = Path(outdir)
    rows, tasks = [], []
    for p in proteins:
        ranges = jacobian_ranges(p.length, chunk)  # a complex: positions of its joined chains
        fasta = store_fasta(store, p)
        base = {"id": p.id, "length": p.length, "chain": p.chain, "chains": ",".join(p.chains),
                "chunks": len(ranges)}  # fmt: skip
        rows.append(dict(base, sequence=p.sequence, structure=p.structure, fasta=fasta))
        tasks += [dict(base, first=a, last=b, fasta=fasta) for a, b in ranges]
    table = write_text(outdir / "proteins.csv", _csv_text(PROTEIN_COLUMNS, rows))
    jacobian = write_text(outdir / "jacobian.csv", _csv_text(JACOBIAN_COLUMNS, tasks))
    return table, jacobian
