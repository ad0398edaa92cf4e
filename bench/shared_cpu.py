"""Shared-CPU benchmark: an engine run alone and beside busy neighbours, per thread configuration.

    .venv/bin/python -m bench.shared_cpu [--job exact|search] [--neighbours 0 1 2] [--configs NAME ...]

The measured run is a `python -m engine refine` of the bundled example (`exact`: its camera;
`search`: the README's job, a plain photo and no camera). Each neighbour is the same job, restarted
as soon as it ends, until the measured run is over. A configuration is the environment of every
process (measured and neighbours alike: they are the same engine):
- `engine`: the engine's own choice (engine/threads.py);
- `before`: one thread per core whatever the load (torch's default pool, as the engine was before
  engine/threads.py);
- `one`: one thread per process.
The table gives the engine's own seconds (the report's `total`) and the ratio to the same
configuration alone. Everything runs in one go, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import BENCHMARKS_MD, machine, write_section

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cow"
JOBS = {
    "exact": ["--image", str(EXAMPLE / "photo.png"), "--camera", str(EXAMPLE / "camera.json")],
    "search": ["--image", str(EXAMPLE / "photo.jpg"), "--fit-camera", "search"],
}
CONFIGS = {
    "engine": {},
    "before": {"REFINE_THREADS": str(os.cpu_count() or 1)},
    "one": {"REFINE_THREADS": "1"},
}


def _command(job: str, out: Path, report: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "engine", "refine", "--mesh", str(EXAMPLE / "coarse.obj"), *JOBS[job], "--quiet"]
    cmd += ["--out", str(out)]
    return cmd + (["--report", str(report)] if report else [])


def _environment(config: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "REFINE_THREADS", "OMP_NUM_THREADS")}
    return env | CONFIGS[config]


def _neighbour(job: str, env: dict[str, str], folder: Path, index: int) -> subprocess.Popen:
    """A shell loop running the job again and again (killed with its process group)."""
    cmd = " ".join(_command(job, folder / f"n{index}.obj", None))
    loop = f"while true; do {cmd} >/dev/null 2>&1; done"
    return subprocess.Popen(["bash", "-c", loop], env=env, cwd=ROOT, start_new_session=True)


def measure(job: str, config: str, neighbours: int) -> float:
    """The engine's seconds for one run beside `neighbours` busy copies of the same job."""
    env = _environment(config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        others = [_neighbour(job, env, folder, i) for i in range(neighbours)]
        try:
            time.sleep(3.0 if others else 0.0)  # the neighbours past their imports, computing
            report = folder / "report.json"
            subprocess.run(_command(job, folder / "out.obj", report), env=env, cwd=ROOT, check=True)
            return float(json.loads(report.read_text())["seconds"]["total"])
        finally:
            for p in others:
                os.killpg(p.pid, 9)
                p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=list(JOBS), default="exact")
    parser.add_argument("--neighbours", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--write", action="store_true", help=f"write the table into {BENCHMARKS_MD.name}")
    args = parser.parse_args()
    rows = ["| configuration | " + " | ".join(f"beside {n}" for n in args.neighbours) + " |"]
    rows.append("|---" * (len(args.neighbours) + 1) + "|")
    for config in args.configs:
        seconds = []
        for n in args.neighbours:
            seconds.append(measure(args.job, config, n))
            print(f"{config} beside {n}: {seconds[-1]:.1f} s", flush=True)
        cells = [f"{s:.1f} s ({s / seconds[0]:.2f}x)" for s in seconds]
        rows.append(f"| {config} | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        section = f"## Shared CPU, {args.job} job ({machine()})\n\nCommand: `.venv/bin/python -m bench.shared_cpu --job {args.job}`.\n\n{table}\n"
        write_section(BENCHMARKS_MD, f"shared-cpu-{args.job}", section)


if __name__ == "__main__":
    main()
