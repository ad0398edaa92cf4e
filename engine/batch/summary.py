"""The batch's summary: one line per row, as a CSV file and a printed table."""

from __future__ import annotations

import csv
from pathlib import Path

from .runner import RowResult

COLUMNS = ("row", "name", "status", "seconds", "iou_before", "iou_after", "warnings", "message")


def rows_of(results: list[RowResult]) -> list[dict[str, str]]:
    out = []
    for r in sorted(results, key=lambda r: r.row.index):
        o = r.outcome
        cells = {"row": str(r.row.index), "name": r.row.name, "status": r.status}
        if o is not None:
            cells.update(
                seconds=f"{o.seconds:.1f}",
                iou_before="" if o.iou_before is None else f"{o.iou_before:.3f}",
                iou_after="" if o.iou_after is None else f"{o.iou_after:.3f}",
                warnings="; ".join(o.warnings),
                message=o.message,
            )
        out.append({c: cells.get(c, "") for c in COLUMNS})
    return out


def write_csv(path: Path, results: list[RowResult]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows_of(results))


def table(results: list[RowResult]) -> str:
    """A plain text table (warnings and messages cut to fit a terminal line)."""
    rows = [{**r, "warnings": r["warnings"][:40], "message": r["message"][:60]} for r in rows_of(results)]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
