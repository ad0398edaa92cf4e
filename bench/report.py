"""Shared by the benchmarks: the machine's description and the generated sections of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from datetime import date
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """e.g. "2026-11-25, AMD EPYC 7B13, 2 cores, torch 2.12.0, CPU" (without torch: Blender's Python)."""
    try:
        import torch
    except ImportError:
        return f"{date.today().isoformat()}, {cpu_model()}, {os.cpu_count()} cores"
    device = "CUDA " + torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return f"{date.today().isoformat()}, {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {device}"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the generated block `name` of the benchmark page, keeping the text around it."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    block = f"{start}\n{section}{end}\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) + 1 :]
    else:
        text += "\n" + block
    path.write_text(text)


def write_split_section(
    title: str, module: str, split: str, seed: int, text: str, options: str = "", path: Path = BENCHMARKS_MD
) -> None:
    """One split's results as the generated block "<module>-<split>" of `path` (docs/benchmarks.md;
    with another seed than 0, the fresh cases: "<module>-<split>-seed<N>"), with the machine and
    the command that made them (`options`: its arguments beyond the split and the seed)."""
    heading, block = (
        (f"{split} split, seed {seed}", f"{module}-{split}-seed{seed}") if seed else (f"{split} split", f"{module}-{split}")
    )
    command = f".venv/bin/python -m bench.{module} --split {split} --seed {seed}{options}"
    section = f"## {title}, {heading} ({machine()})\n\nCommand: `{command}`.\n\n{text}\n"
    write_section(path, block, section)


def split_parser(description: str, splits: dict[str, list[str]], fresh: bool = True) -> argparse.ArgumentParser:
    """A split benchmark's command line: --split, --seed and (`fresh`) --fresh."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=list(splits), default="tune")
    parser.add_argument("--seed", type=int, default=0)
    if fresh:
        parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    return parser


def run_split_rows(
    description: str,
    title: str,
    module: str,
    splits: dict[str, list[str]],
    row: Callable[[str, int], dict[str, float]],
    table: Callable[[dict[str, dict[str, float]]], str],
    argv: list[str] | None = None,
) -> None:
    """The command line of a benchmark with one row per case (--split, --seed): `row(case, seed)`
    for each case of the split, printed as it comes, then `table(rows)` printed and written as
    the split's block (write_split_section)."""
    args = split_parser(description, splits, fresh=False).parse_args(argv)
    rows = {}
    for name in splits[args.split]:
        rows[name] = row(name, args.seed)
        print(name, " ".join(f"{k} {v:.3f}" for k, v in rows[name].items()), flush=True)
    text = table(rows)
    print(text)
    write_split_section(title, module, args.split, args.seed, text)


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
