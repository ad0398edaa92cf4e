"""Batch throughput: 20 small jobs (the bundled cow, the fast preset at 40 iterations, each with
its own seed) run as a process per job (the CLI in a loop), by `refine-engine batch` on the local
pool, and on a local Ray cluster (`--ray local`).

    .venv/bin/python -m bench.batch

Per way: wall seconds, jobs per minute, and the overhead per job beyond the refinement itself
(wall x workers / jobs - the mean refinement time the reports give); the peak memory of a worker
(from the rows' done.json).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import write_section

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cow"
JOBS, ITERATIONS = 20, 40


def manifest(folder: Path) -> Path:
    rows = ["name,mesh,image,camera,preset,iterations,seed"]
    rows += [
        f"job{i:02d},{EXAMPLE / 'coarse.obj'},{EXAMPLE / 'photo.png'},{EXAMPLE / 'camera.json'},fast,{ITERATIONS},{i}"
        for i in range(JOBS)
    ]
    path = folder / "jobs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def cli_loop(folder: Path) -> tuple[float, list[float]]:
    """A process per job, as a shell loop over `python -m engine refine` does."""
    t0, seconds = time.perf_counter(), []
    for i in range(JOBS):
        report = folder / f"cli{i}.json"
        cmd = [sys.executable, "-m", "engine", "refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--image", str(EXAMPLE / "photo.png"),
               "--camera", str(EXAMPLE / "camera.json"), "--out", str(folder / f"cli{i}.obj"), "--preset", "fast",
               "--iterations", str(ITERATIONS), "--seed", str(i), "--quiet", "--report", str(report)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        seconds.append(json.loads(report.read_text())["seconds"]["total"])
    return time.perf_counter() - t0, seconds


def batch(folder: Path, jobs: Path, *extra: str) -> tuple[float, list[float], list[float]]:
    out = folder / ("out" + "".join(extra).replace("-", "_").replace(" ", ""))
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "engine", "batch", str(jobs), "--out", str(out), "--quiet", *extra]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    reports = [json.loads((out / f"job{i:02d}" / "report.json").read_text()) for i in range(JOBS)]
    done = [json.loads((out / f"job{i:02d}" / "done.json").read_text()) for i in range(JOBS)]
    return wall, [r["seconds"]["total"] for r in reports], [d["peak_rss_mb"] for d in done]


def main() -> None:
    from .report import machine

    lines = [
        "| way | workers | wall s | jobs/min | mean refinement s | overhead per job s | peak RSS per worker (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs = manifest(folder)
        ways = [("process per job (CLI loop)", 1, *cli_loop(folder), [])]
        ways.append(("refine-engine batch", 1, *batch(folder, jobs, "--workers", "1")))
        ways.append(("refine-engine batch --ray local", 1, *batch(folder, jobs, "--ray", "local")))
        for name, workers, wall, seconds, rss in ways:
            overhead = wall * workers / JOBS - float(np.mean(seconds))
            peak = f"{max(rss):.0f}" if rss else ""
            lines.append(
                f"| {name} | {workers} | {wall:.1f} | {60 * JOBS / wall:.1f} | {np.mean(seconds):.2f} | {overhead:.2f} | {peak} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    section = (
        f"## Batch throughput ({machine()})\n\n"
        f"Command: `.venv/bin/python -m bench.batch`: {JOBS} jobs, the cow at the fast preset, {ITERATIONS} iterations each.\n\n{text}\n"
    )
    write_section(ROOT / "docs" / "benchmarks.md", "batch", section)


if __name__ == "__main__":
    main()
