"""A batch manifest: one refinement per row, from a CSV file (a header row) or JSON lines.

Columns / keys: the request's files (refine_protocol.request.FILES: `mesh` and `image` required,
`camera`, `mask`, `occluder`, a mesh of what hides the object in the photo, `hints`, an image of
hint strokes: red on the object, blue on the background), `name` (the row's
output folder; default: the mesh file's stem), and the request's options (request.OPTIONS, e.g.
`preset`, `iterations`, `fit_camera`; `exif_orientation` defaults to true: photos turned as their
EXIF orientation says).
Relative paths are relative to the manifest's folder. A row that cannot be read (a missing file, a
bad option) is kept with its problem: it fails alone.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refine_protocol.messages import FIT_SEARCH
from refine_protocol.request import FILES, OPTION

from ..errors import InputError
from ..settings import Settings, resolve

COLUMNS = (*FILES, "name", *OPTION)


@dataclass(frozen=True)
class Row:
    index: int  # 1-based, in the manifest's order
    name: str  # the output folder's name, unique in the batch
    files: dict[str, Path] = field(default_factory=dict)  # role (request.FILES) -> absolute path
    options: dict[str, Any] = field(default_factory=dict)  # request.OPTIONS given on the row
    problem: str = ""  # why the row cannot run ("" if it can)

    def settings(self, defaults: dict[str, Any]) -> Settings:
        """The row's settings: its preset with the batch's then the row's overrides, validated."""
        return resolve({**defaults, **self.options})


def read_manifest(path: Path, defaults: dict[str, Any] | None = None) -> list[Row]:
    """Rows of a .csv or .jsonl (JSON lines) manifest, checked with the batch's `defaults` (request.OPTIONS).
    Raises InputError when the file itself cannot be read (a bad row only gets its `problem`)."""
    if not path.is_file():
        raise InputError(f"manifest: file not found: {path}")
    try:
        records = _jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"manifest: cannot read {path.name}: {exc}") from None
    rows: list[Row] = []
    taken: set[str] = set()
    for index, record in enumerate(records, 1):
        row = _row(index, record, path.parent, defaults or {})
        name = row.name if row.name not in taken else f"{row.name}-{index}"
        taken.add(name)
        rows.append(Row(index, name, row.files, row.options, row.problem))
    if not rows:
        raise InputError(f"manifest: {path.name} lists no rows")
    return rows


def _csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        return [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(f)]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                record = {"_problem": f"line {number} is not JSON: {exc.msg}"}
            out.append(record if isinstance(record, dict) else {"_problem": f"line {number} is not an object"})
    return out


def _row(index: int, record: dict[str, Any], folder: Path, defaults: dict[str, Any]) -> Row:
    name = str(record.get("name") or Path(str(record.get("mesh") or f"row-{index}")).stem)
    try:
        if "_problem" in record:
            raise InputError(record["_problem"])
        unknown = sorted(set(record) - set(COLUMNS))
        if unknown:
            raise InputError(f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}")
        files = {role: _path(record[role], folder) for role in FILES if record.get(role)}
        for role in ("mesh", "image"):
            if role not in files:
                raise InputError(f"no {role}")
        options = {k: _option(k, record[k]) for k in OPTION if record.get(k) not in (None, "")}
        row = Row(index, name, files, options)
        if "camera" not in files and row.settings(defaults).fit_camera != FIT_SEARCH:
            raise InputError("a camera is required unless fit_camera is search")
        if options.get("find_silhouette") and "mask" in files:
            raise InputError("find_silhouette and a mask exclude each other")
        missing = [f"{role} {p}" for role, p in files.items() if not p.is_file()]
        if missing:
            raise InputError(f"file not found: {'; '.join(missing)}")
        return row
    except InputError as exc:
        return Row(index, name, problem=str(exc))


def _path(value: Any, folder: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (folder / path).resolve()


def _option(key: str, value: Any) -> Any:
    """A cell's value as its option's type (CSV cells are text), checked like a socket field."""
    option = OPTION[key]
    if isinstance(value, str) and option.kind is not str:
        text = value.lower()
        if option.kind is bool and text in ("true", "1", "yes", "false", "0", "no"):
            value = text in ("true", "1", "yes")
        elif option.kind is int and text.lstrip("-").isdigit():
            value = int(text)
        else:
            raise InputError(f"{key}: {value!r} is not a valid {option.kind.__name__}")
    if type(value) is not option.kind:
        raise InputError(f"{key}: {value!r} is not a valid {option.kind.__name__}")
    return value
