"""Camera benchmark: refinement from a wrong camera, with and without the camera fit.

    .venv/bin/python -m bench.camera --split tune
    .venv/bin/python -m bench.camera --split test --runs near-off near-refine far-off far-search

Per case and run: the camera's rotation error against the true camera (degrees), camera IoU (the
ground-truth mesh's silhouettes under the used and the true camera, 1 = perfect), and the 3D
metrics of bench.quality; for a fitted camera also "fit IoU" (the rigid coarse mesh's silhouette
under it against the photo's) and "input IoU" (the refined mesh's). "exact" is the default preset
with the true camera (bench.quality's "default" row, shared cache). Camera errors:
bench.cases.CAMERA_ERRORS; "unknown" starts with no camera at all (engine.camera.start.search_start:
a front view, 50 mm, the photo's size), while each case's photo is taken from a random direction of
an object in a random pose.
"""

from __future__ import annotations

import time

import numpy as np

from engine.camera.pose import rotation_between_deg
from engine.camera.start import search_start
from engine.refine import refine
from engine.render.view import mask_iou
from engine.settings import preset
from refine_protocol.report import ReportSummary

from .cases import SPLITS, make_case, perturb_camera, render_mask
from .quality import CACHE, cached_run, evaluate, run_one
from .report import split_parser, write_split_section

RUNS = {  # name -> (camera error or None for the true camera, fit mode)
    "exact": (None, "off"),
    "near-off": ("near", "off"),
    "near-refine": ("near", "refine"),
    "far-off": ("far", "off"),
    "far-search": ("far", "search"),
    "unknown-search": ("unknown", "search"),  # no camera: a front view at Blender's default lens
}


def camera_iou(case, camera) -> float:
    """The ground-truth mesh's silhouettes under `camera` and the true camera (1 = the same picture)."""
    return mask_iou(
        render_mask(case.gt_verts, case.gt_faces, camera, 1) > 0.5,
        render_mask(case.gt_verts, case.gt_faces, case.camera, 1) > 0.5,
    )


def run_camera(case_name: str, run: str, seed: int) -> dict:
    """One run on one case (in a child process)."""
    if run == "exact":
        return run_one(case_name, "default", seed)
    case = make_case(case_name, seed)
    kind, mode = RUNS[run]
    wh = case.camera.image_size_wh
    given = search_start(None, case.coarse_verts, wh) if kind == "unknown" else perturb_camera(case, kind, seed)
    settings = preset("default").with_overrides(seed=seed, fit_camera=mode)
    t = time.perf_counter()
    result = refine(case.coarse_verts, case.coarse_faces, case.mask, given, settings)
    out: dict = {"case": case_name, "config": run, "seconds": time.perf_counter() - t}
    out["fit_seconds"] = result.report.seconds["camera_fit"]
    out["rotation_in"] = rotation_between_deg(given, case.camera)
    out["rotation_out"] = rotation_between_deg(result.camera, case.camera)
    out["camera_iou_in"] = camera_iou(case, given)
    out["camera_iou_out"] = camera_iou(case, result.camera)
    out["accepted"] = bool(result.report.camera and result.report.camera["accepted"])
    if result.report.camera:  # the rigid coarse mesh's silhouette under the fitted camera vs the photo
        out["fit_iou"] = result.report.camera["iou_after"]
        out["input_iou"] = result.report.silhouette_iou["after"]  # the refined mesh's, under the camera used
    out.update(evaluate(case, result.vertices, case.coarse_faces))
    said = ReportSummary.from_dict(result.report.to_dict())
    out["stopped"], out["warned"] = float(bool(said.stopped)), float(bool(said.warnings))
    out["chamfer_in"] = evaluate(case, case.coarse_verts, case.coarse_faces)["chamfer"]
    out["verts"] = result.vertices
    return out


def doubt_summary(results: dict, cases: list[str], runs: list[str]) -> str:
    """Per fitting run: how many refinements stopped before the mesh changed, and whether the
    warnings speak when they should (runs worse than their input: warned or stopped; better: warned)."""
    lines = []
    for run in runs:
        rows = [results[(c, run)] for c in cases if (c, run) in results and "stopped" in results[(c, run)]]
        if not rows:
            continue
        worse = [r for r in rows if r["chamfer"] > r["chamfer_in"] and not r["stopped"]]
        better = [r for r in rows if r["chamfer"] < r["chamfer_in"]]
        lines.append(
            f"- {run}: stopped {sum(r['stopped'] > 0 for r in rows)} of {len(rows)}; worse than the input "
            f"{len(worse)} (warned {sum(r['warned'] > 0 for r in worse)}); better {len(better)} "
            f"(warned {sum(r['warned'] > 0 for r in better)})"
        )
    return "\n".join(lines)


def table(results: dict, cases: list[str], runs: list[str]) -> str:
    keys = [
        "rotation_in",
        "rotation_out",
        "camera_iou_in",
        "camera_iou_out",
        "fit_iou",
        "input_iou",
        "chamfer",
        "fscore",
        "iou_unseen",
        "fit_seconds",
        "seconds",
    ]
    head = (
        "| case | run | rot. error in (deg) | out | camera IoU in | out | fit IoU | input IoU | Chamfer x1000 | F@0.02 "
        "| IoU unseen | fit s | s |"
    )
    lines = [head, "|" + "---|" * 13]

    def fmt(v) -> str:
        return "" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")

    for name in [*cases, "**mean**"]:
        for run in runs:
            rows = [results[(c, run)] for c in cases if (c, run) in results] if name == "**mean**" else [results.get((name, run))]
            rows = [r for r in rows if r is not None]
            if not rows:
                continue
            row = {k: float(np.mean([r[k] for r in rows])) if all(k in r for r in rows) else None for k in keys}
            lines.append(f"| {name} | {run} | " + " | ".join(fmt(row[k]) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = split_parser(__doc__ or "", SPLITS)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args(argv)
    cases = SPLITS[args.split]
    results: dict = {}
    for name in cases:
        for run in args.runs:
            cached = CACHE / (
                f"{name}-default-seed{args.seed}.npz" if run == "exact" else f"{name}-camera-{run}-seed{args.seed}.npz"
            )
            r = results[(name, run)] = cached_run(cached, args.fresh, run_camera, name, run, args.seed)
            print(
                f"{name:15s} {run:12s} rot {r.get('rotation_in', 0):5.1f}->{r.get('rotation_out', 0):5.1f} "
                f"camIoU {r.get('camera_iou_in', 1):.3f}->{r.get('camera_iou_out', 1):.3f} chamfer {r['chamfer']:7.3f} "
                f"F {r['fscore']:5.1f} unseen {r['iou_unseen']:.3f} {r.get('seconds', 0):5.1f}s",
                flush=True,
            )
    text = table(results, cases, args.runs) + "\n\n" + doubt_summary(results, cases, args.runs)
    print(text)
    write_split_section("Camera benchmark", "camera", args.split, args.seed, text)


if __name__ == "__main__":
    main()
