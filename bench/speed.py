"""Speed benchmark: the default preset across mesh and image sizes, against PyTorch3D's stock path.

    .venv/bin/python -m bench.speed [--faces 1000 5000 20000 200000] [--sizes 128 256 512]

For each mesh size (a UV sphere refined towards a squashed sphere's silhouette) and image size S
(a square S x S camera; the preset renders up to S): a full default-preset run (total seconds,
seconds per iteration, peak memory) and, at equal settings on the same inputs, seconds per
iteration in the final stage for our silhouette path and for PyTorch3D's stock
SoftSilhouetteShader path (`backend="pytorch3d"`). Each cell runs in its own process so its peak
memory is its own. Stock cells predicted to take longer than --stock-budget seconds per iteration
are skipped (the prediction scales the measured time with faces x pixels).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import resource
import time
from pathlib import Path

import torch

from engine.camera import BlenderCamera
from engine.refine import refine
from engine.settings import preset

from .report import BENCHMARKS_MD, machine, write_section
from .synthetic import job_inputs, sphere_with_faces


def per_iteration(verts, faces, camera, mask, size: int, backend: str, iterations: int) -> float:
    """Seconds per iteration at the final resolution only (one stage), after a warm-up iteration."""
    settings = preset("default").with_overrides(
        max_size=size, stages=(1.0,), iterations=iterations + 1, backend=backend, patience=10_000
    )
    times: list[float] = []

    def progress(p) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # time the work, not its queueing
        times.append(time.perf_counter())

    refine(verts, faces, mask, camera, settings, progress=progress)
    return (times[-1] - times[0]) / (len(times) - 1)


def run_cell(faces_target: int, size: int, stock: bool) -> dict:
    verts, faces = sphere_with_faces(faces_target)
    camera_fields, mask = job_inputs(verts, faces, size)
    camera = BlenderCamera.from_dict(camera_fields)
    mask = mask / 255.0
    out: dict = {"faces": len(faces), "size": size}
    result = refine(verts, faces, mask, camera, preset("default").with_overrides(max_size=size))
    r = result.report
    out.update(total=r.seconds["total"], iterations=r.iterations_run, per_it=r.seconds["per_iteration"])
    out["proxy_faces"] = r.proxy["faces"] if r.proxy else None
    out["fast_it"] = per_iteration(verts, faces, camera, mask, size, "fast", 5)
    out["stock_it"] = per_iteration(verts, faces, camera, mask, size, "pytorch3d", 2) if stock else None
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, nargs="+", default=[1000, 5000, 20000, 200000])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--stock-budget", type=float, default=40.0, help="skip stock cells predicted slower than this (s/iteration)")
    ap.add_argument("--out", type=Path, default=BENCHMARKS_MD)
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    rows, stock_rate = [], None  # stock seconds per (face x pixel), from the last measured cell
    for n in args.faces:
        for size in args.sizes:
            work = min(n, preset("default").proxy_faces) * size * size
            stock = stock_rate is None or stock_rate * work <= args.stock_budget
            with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                r = pool.submit(run_cell, n, size, stock).result()
            if r["stock_it"]:
                stock_rate = r["stock_it"] / work
            rows.append(r)
            stock_txt = f"{r['stock_it']:.3f}" if r["stock_it"] else "skipped"
            print(
                f"{r['faces']:7d} faces {size:4d} px: total {r['total']:6.1f} s ({r['iterations']} it, {r['per_it']:.3f} s/it), "
                f"final stage {r['fast_it']:.3f} s/it vs stock {stock_txt}, peak {r['peak_mb']:.0f} MB",
                flush=True,
            )
    lines = [
        "| faces | image | default preset total | iterations | s/iteration (all stages) | final stage s/it, ours | final stage s/it, stock PyTorch3D | speed-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        proxy = f" (proxy {r['proxy_faces']:,})" if r["proxy_faces"] else ""
        stock = f"{r['stock_it']:.3f}" if r["stock_it"] else f"not run (> {args.stock_budget:.0f} s predicted)"
        ratio = f"{r['stock_it'] / r['fast_it']:.0f}x" if r["stock_it"] else "-"
        lines.append(
            f"| {r['faces']:,}{proxy} | {r['size']}² | {r['total']:.1f} s | {r['iterations']} | {r['per_it']:.3f} | "
            f"{r['fast_it']:.3f} | {stock} | {ratio} | {r['peak_mb']:.0f} MB |"
        )
    table = "\n".join(lines)
    print(table)
    gpu = "" if torch.cuda.is_available() else "\n\nGPU (CUDA): not measured (no GPU was available to this run).\n"
    write_section(args.out, "speed", f"## Speed ({machine()})\n\nCommand: `.venv/bin/python -m bench.speed`.\n\n{table}{gpu}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
