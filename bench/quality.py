"""Quality benchmark: how much each refinement configuration improves simulated coarse meshes.

    .venv/bin/python -m bench.quality            # all cases and configurations, writes docs/
    .venv/bin/python -m bench.quality --cases cow --configs default naive

Each (case, configuration) runs in a fresh process so its peak memory is its own. Metrics
(GT max extent = 1): Chamfer-L2 x1000 (mean squared nearest-neighbour distance, both directions
summed, 10k samples each), F-score at 0.02 (%), silhouette IoU on the input view and mean IoU
over 4 views the refinement never saw.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

from engine.preview import overlay
from engine.refine import refine
from engine.render.view import mask_iou
from engine.settings import preset

from .cases import CASES, SPLITS, Case, make_case, render_mask, unseen_cameras
from .metrics import mesh_accuracy
from .report import machine, write_section, write_split_section

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"  # one .npz per (case, config, seed): reruns only what is missing
# name -> (preset, overrides). "coarse" is the unrefined input.
# The network-* and offsets rows use the default losses and schedule, so they compare
# parameterizations alone; "paper" is the whole published recipe.
CONFIGS: dict[str, tuple[str, dict]] = {
    "coarse": ("default", {}),
    "naive": ("naive", {}),
    "network-random": ("default", {"parameterization": "network", "encoder": "random", "lr": 1e-4}),
    "network-noenc": ("default", {"parameterization": "network", "encoder": "none", "lr": 1e-4}),
    "offsets": ("default", {"parameterization": "offsets", "lr": 3e-3}),
    "largesteps-nosym": ("default", {"symmetry": "none"}),
    "default": ("default", {}),
    "paper": ("paper", {}),
    # Candidates for the along-ray weight (chosen on the tuning split only).
    "ray-100": ("default", {"along_ray": 100.0}),
    "ray-1000": ("default", {"along_ray": 1000.0}),
    "ray-10000": ("default", {"along_ray": 10000.0}),
    "offset-10": ("default", {"offset": 10.0}),
    "offset-100": ("default", {"offset": 100.0}),
    "offset-100-ray-1000": ("default", {"offset": 100.0, "along_ray": 1000.0}),
    "previous-default": ("default", {"offset": 1.0, "along_ray": 0.0}),  # before the never-worse work
    "no-stretch": ("default", {"stretch": False}),  # before the image-plane stretch
}


def evaluate(case: Case, verts: np.ndarray, faces: np.ndarray) -> dict[str, float]:
    chamfer, fscore = mesh_accuracy(verts, faces, case.gt_verts, case.gt_faces)
    views = unseen_cameras(case)
    unseen = [
        mask_iou(render_mask(verts, faces, c, 1) > 0.5, render_mask(case.gt_verts, case.gt_faces, c, 1) > 0.5) for c in views
    ]
    return {
        "chamfer": 1000 * chamfer,
        "fscore": 100 * fscore,
        "iou_input": mask_iou(render_mask(verts, faces, case.camera) > 0.5, case.mask > 0.5),
        "iou_unseen": float(np.mean(unseen)),
    }


def run_one(case_name: str, config: str, seed: int) -> dict:
    """Run one configuration on one case (in a child process); returns metrics and timings."""
    case = make_case(case_name, seed)
    name, overrides = CONFIGS[config]
    out: dict = {"case": case_name, "config": config}
    if config == "coarse":
        verts = case.coarse_verts
    else:
        settings = preset(name).with_overrides(seed=seed, **overrides)
        t = time.perf_counter()
        result = refine(case.coarse_verts, case.coarse_faces, case.mask, case.camera, settings, image=case.rgb)
        out["seconds"] = time.perf_counter() - t
        out["iterations"] = result.report.iterations_run
        out["sec_per_iter"] = result.report.seconds["per_iteration"]
        out["symmetry"] = result.report.symmetry_plane is not None
        verts = result.vertices
    out.update(evaluate(case, verts, case.coarse_faces))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["verts"] = verts
    return out


def montage(results: dict[tuple[str, str], dict], cases: list[str], path: Path, seed: int = 0, tile: int = 150) -> None:
    """Rows = cases (drawn with `seed`, as the results were). The input view as silhouettes
    (coarse, refined; yellow: both, red: mesh only, green: ground truth only), then two views the
    refinement never saw, shaded: from the side and from the top, each coarse | refined | truth."""
    from PIL import Image, ImageDraw

    from .shading import shaded

    cols = [("input", "coarse"), ("input", "default")]
    cols += [(view, cfg) for view in ("side", "top") for cfg in ("coarse", "default", "truth")]
    sheet = Image.new("RGB", (tile * len(cols), (tile + 16) * len(cases) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (view, cfg) in enumerate(cols):
        draw.text((j * tile + 4, 2), f"{view}, {cfg.replace('default', 'refined')}", fill="black")
    for i, name in enumerate(cases):
        case = make_case(name, seed)
        side, _, _, top = unseen_cameras(case)
        gt_input = render_mask(case.gt_verts, case.gt_faces, case.camera, 1) > 0.5
        for j, (view, cfg) in enumerate(cols):
            if cfg != "truth" and (name, cfg) not in results:
                continue
            faces = case.gt_faces if cfg == "truth" else case.coarse_faces
            verts = case.gt_verts if cfg == "truth" else results[(name, cfg)]["verts"]
            if view == "input":
                img = Image.fromarray(overlay(render_mask(verts, faces, case.camera, 1) > 0.5, gt_input))
            else:
                grey = shaded(verts, faces, side if view == "side" else top)
                img = Image.fromarray((grey * 255).astype(np.uint8)).convert("RGB")
            img.thumbnail((tile, tile))
            sheet.paste(img, (j * tile, 16 + i * (tile + 16)))
            draw.text((j * tile + 4, 16 + i * (tile + 16) + tile), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def table(results: dict[tuple[str, str], dict], cases: list[str], configs: list[str]) -> str:
    keys = ["chamfer", "fscore", "iou_input", "iou_unseen", "seconds", "sec_per_iter", "peak_rss_mb"]
    head = "| case | config | Chamfer-L2 x1000 | F@0.02 (%) | IoU input | IoU unseen | s | s/iter | peak RSS (MB) |"
    lines = [head, "|" + "---|" * 9]

    def fmt(v):
        return "" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")

    for name in cases + ["**mean**"]:
        for cfg in configs:
            if name == "**mean**":
                rows = [results[(c, cfg)] for c in cases if (c, cfg) in results]
                if not rows:
                    continue
                row = {k: float(np.mean([r[k] for r in rows])) if all(k in r for r in rows) else None for k in keys}
                if len(rows) < len(cases):  # a mean over fewer cases is not comparable: say so
                    cfg = f"{cfg} ({len(rows)} of {len(cases)} cases)"
            elif (name, cfg) in results:
                row = {k: results[(name, cfg)].get(k) for k in keys}
            else:
                continue
            lines.append(f"| {name} | {cfg} | " + " | ".join(fmt(row[k]) for k in keys) + " |")
    return "\n".join(lines)


def cached_run(path: Path, fresh: bool, fn, *args) -> dict:
    """fn(*args) in a fresh spawned process (its peak memory its own), or its result cached at `path`."""
    if path.exists() and not fresh:
        return {k: (v if k == "verts" else v.item()) for k, v in np.load(path, allow_pickle=False).items()}
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        r = pool.submit(fn, *args).result()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **r)
    return r


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["cow", "airplane", "ant", "bunny"], choices=CASES)
    parser.add_argument(
        "--split", choices=list(SPLITS), help="the tuning or the test half of the broader benchmark (instead of --cases)"
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="ignore results cached in .cache/bench/ by earlier runs")
    parser.add_argument("--cached-only", action="store_true", help="run nothing: tabulate what .cache/bench/ holds")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    if args.split:
        args.cases = SPLITS[args.split]
    configs = args.configs if "coarse" in args.configs else ["coarse"] + args.configs
    results: dict[tuple[str, str], dict] = {}
    for name in args.cases:
        for cfg in configs:
            cached = CACHE / f"{name}-{cfg}-seed{args.seed}.npz"
            if args.cached_only and not cached.exists():
                continue
            r = results[(name, cfg)] = cached_run(cached, args.fresh, run_one, name, cfg, args.seed)
            print(
                f"{name:9s} {cfg:17s} chamfer {r['chamfer']:7.3f} F {r['fscore']:5.1f} IoU {r['iou_input']:.3f} "
                f"unseen {r['iou_unseen']:.3f} {r.get('seconds', 0):6.1f}s peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    text = table(results, args.cases, configs)
    print(text)
    seeded = f"-seed{args.seed}" if args.seed else ""
    picture = f"benchmark_montage-{args.split}{seeded}.png" if args.split else f"benchmark_montage{seeded}.png"
    montage(results, args.cases, args.out.parent / picture, args.seed)
    if args.split:
        options = f" --configs {' '.join(args.configs)}"
        text = f"{text}\n\n![before/after]({picture})"
        write_split_section("Quality benchmark", "quality", args.split, args.seed, text, options, args.out)
    else:
        section = f"## Quality benchmark ({machine()})\n\nCommand: `.venv/bin/python -m bench.quality` (seed {args.seed}).\n\n"
        write_section(args.out, "quality", f"{section}{text}\n\n![before/after]({picture})\n")
    print(f"wrote {args.out} and {args.out.parent / picture}")


if __name__ == "__main__":
    main()
