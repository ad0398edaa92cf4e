"""How soon a person at the button sees the mesh move: seconds from sending a refine job to a warm
engine (torch loaded, one job done) to the first progress frame that carries vertices (what the
add-on draws), for the bundled example with its exact camera and with Find (no camera).

    .venv/bin/python -m bench.first_change [--repeats 3]

Each job is cancelled as soon as its first vertices arrive; the median of the repeats is kept.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine.io import load_mesh
from refine_protocol.launcher import launch
from refine_protocol.request import RefineRequest

from .report import BENCHMARKS_MD, machine, write_section

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cow"


def first_vertices_s(client, job: str, request: RefineRequest) -> tuple[float, float]:
    """(seconds to the first frame with vertices, seconds to the job's start frame)."""
    t0 = time.perf_counter()
    client.submit(job, request)
    started = None
    for frame in client.job_frames(job):
        if frame.type == "started" and started is None:
            started = time.perf_counter() - t0
        if frame.type == "progress" and "vertices" in frame.blobs:
            seconds = time.perf_counter() - t0
            client.cancel(job)
            for _ in client.job_frames(job):  # drain to the job's end
                pass
            return seconds, started or 0.0
        if frame.type in ("result", "error", "cancelled"):
            raise RuntimeError(f"job {job} ended before any vertices: {frame.header}")
    raise RuntimeError(f"job {job} ended without frames")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=BENCHMARKS_MD)
    args = ap.parse_args(argv)
    verts, faces = load_mesh(EXAMPLE / "coarse.obj")
    camera = json.loads((EXAMPLE / "camera.json").read_text())
    jobs = {
        "exact camera (photo.png, alpha)": RefineRequest(verts, faces, camera, image=(EXAMPLE / "photo.png").read_bytes()),
        "Find, no camera (photo.jpg, no alpha)": RefineRequest(
            verts, faces, None, image=(EXAMPLE / "photo.jpg").read_bytes(), settings={"fit_camera": "search"}
        ),
    }
    rows = []
    log = Path(tempfile.mkdtemp()) / "engine.log"
    with launch([sys.executable, "-m", "engine", "serve"], log=log) as engine, engine.client() as client:
        first_vertices_s(client, "warm", jobs["exact camera (photo.png, alpha)"])  # torch's first-call costs
        for k, (name, request) in enumerate(jobs.items()):
            runs = [first_vertices_s(client, f"job{k}-{i}", request) for i in range(args.repeats)]
            first, started = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(f"{name}: first vertices after {first:.2f} s (started after {started:.3f} s)", flush=True)
            rows.append(f"| {name} | {first:.2f} s | {started:.3f} s |")
    section = (
        f"## First visible change ({machine()})\n\n"
        f"Command: `.venv/bin/python -m bench.first_change` (warm engine, median of {args.repeats}).\n\n"
        "| job (the bundled example) | first frame with vertices | job started |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    write_section(args.out, "first-change", section)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
