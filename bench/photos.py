"""Photo benchmark: refinement from plain photos (no alpha), the silhouette found by the engine.

    .venv/bin/python -m bench.photos --split tune       # renders once (Cycles, cached), then refines

Per case of bench.cases, two Cycles renders of the ground-truth mesh through the case's camera at
twice its resolution, shaded, JPEG, no alpha (bench/photo_render.py): "product" (a light backdrop,
a soft sun, the shadow on the backdrop) and "cluttered" (a textured, coloured backdrop; every
other case in colours close to the object's). Runs (default preset):
- product, cluttered: the exact camera; the silhouette found in the photo;
- product-near: a hand-placed camera (bench.cases "near") corrected with fit_camera "refine";
- product-unknown: no camera (a front view at Blender's default lens, engine.camera.start.search_start)
  found with fit_camera "search", as a user with a generator's mesh and its input photo has;
- alpha: the same refinement from the true silhouette (bench.quality's "default" row, shared cache).
Columns: mask IoU (the silhouette used vs the true one, at the camera's size), its seed IoU and
edge contrast, the 3D metrics of bench.quality, and the share of the alpha run's Chamfer
reduction that the photo run reaches (1 = as good).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from engine.camera.start import search_start
from engine.io import load_image
from engine.refine import refine
from engine.render.view import mask_iou
from engine.settings import preset

from .cases import SPLITS, Case, make_case, perturb_camera
from .quality import CACHE, ROOT, cached_run, evaluate, run_one
from .report import write_split_section

PHOTOS = ROOT / ".cache" / "photos"
BLENDER_PYTHON = ROOT / ".venv-blender" / "bin" / "python"
STYLES = ("product", "cluttered")
RUNS = {  # name -> (photo style, camera error or None for the true camera, fit mode)
    "product": ("product", None, "off"),
    "cluttered": ("cluttered", None, "off"),
    "product-near": ("product", "near", "refine"),
    "product-unknown": ("product", "unknown", "search"),
}
MEGAPIXELS = 12.0


def photo_key(case_name: str, seed: int) -> str:
    """The name a case's photos go by: seed 0 keeps the bare case name (the tables' photos)."""
    return case_name if seed == 0 else f"{case_name}-s{seed}"


def photo_path(case_name: str, style: str, seed: int = 0) -> Path:
    return PHOTOS / f"{photo_key(case_name, seed)}-{style}.jpg"


def colours(case_name: str, style: str, index: int) -> tuple[list[float], list[list[float]]]:
    """The object's colour and the backdrop's two, random per case; every other cluttered case in
    colours close to the object's (low contrast)."""
    rng = np.random.default_rng(sum(map(ord, case_name + style)))
    obj = rng.uniform(0.25, 0.75, 3)
    if style == "product":
        return obj.tolist(), [[0.85, 0.85, 0.83]] * 2
    if index % 2:  # low contrast: the backdrop within about 0.12 of the object's colour
        return obj.tolist(), [np.clip(obj + rng.uniform(-0.12, 0.12, 3), 0, 1).tolist() for _ in range(2)]
    return obj.tolist(), [rng.uniform(0.05, 0.95, 3).tolist() for _ in range(2)]


def render_photos(cases: list[str], seed: int = 0) -> None:
    """Cycles renders of every missing photo of the cases drawn with `seed`, in one Blender process."""
    from engine.io import save_mesh

    jobs = []
    for index, name in enumerate(cases):
        case, key = make_case(name, seed), photo_key(name, seed)
        for style in STYLES:
            if photo_path(name, style, seed).exists():
                continue
            mesh = PHOTOS / f"{key}-gt.obj"  # the case's pose: one file per case
            PHOTOS.mkdir(parents=True, exist_ok=True)
            save_mesh(mesh, case.gt_verts, case.gt_faces)
            obj, backdrop = colours(key, style, index)
            camera = case.camera.to_dict()
            out = str(photo_path(name, style, seed))
            jobs.append(dict(mesh=str(mesh), camera=camera, style=style, object_rgb=obj, backdrop_rgb=backdrop, out=out))
    if jobs:
        spec = PHOTOS / "jobs.json"
        spec.write_text(json.dumps(jobs))
        script = ROOT / "bench" / "photo_render.py"
        subprocess.run([str(BLENDER_PYTHON), str(script), str(spec)], check=True, capture_output=True)


def run_photo(case_name: str, run: str, seed: int) -> dict:
    """One refinement from a photo (in a child process)."""
    case = make_case(case_name, seed)
    style, error, mode = RUNS[run]
    photo = load_image(photo_path(case_name, style, seed))
    if error is None:
        camera = case.camera
    elif error == "unknown":
        camera = search_start(None, case.coarse_verts, case.camera.image_size_wh)
    else:
        camera = perturb_camera(case, error, seed)
    settings = preset("default").with_overrides(seed=seed, fit_camera=mode)
    t = time.perf_counter()
    result = refine(case.coarse_verts, case.coarse_faces, None, camera, settings, image=photo.rgb)
    out: dict = {"seconds": time.perf_counter() - t}
    sil = result.report.silhouette
    out.update(
        mask_iou=_mask_iou(case, result.mask, result.camera),
        seed_iou=sil["seed_iou"],
        edge_contrast=sil["edge_contrast"],
        silhouette_seconds=sil["seconds"],
        warnings=len(sil["warnings"]),
    )
    out.update(evaluate(case, result.vertices, case.coarse_faces))
    out["verts"] = result.vertices
    return out


def _mask_iou(case: Case, mask: np.ndarray, camera) -> float:
    """The silhouette used vs the true one (at the camera's size; both cameras have that size)."""
    return mask_iou(mask > 0.5, case.mask > 0.5)


def time_large_photo(case_name: str, seed: int = 0) -> dict[str, float]:
    """Seconds to read a ~12-megapixel JPEG and find the silhouette in it (the product photo, enlarged)."""
    import cv2

    from engine.inputs import check_photo
    from engine.preview import silhouette
    from engine.silhouette import extract_silhouette
    from engine.silhouette.extract import WORK_SIZE

    case = make_case(case_name, seed)
    rgb = load_image(photo_path(case_name, "product", seed)).rgb
    scale = np.sqrt(MEGAPIXELS * 1e6 / (rgb.shape[0] * rgb.shape[1]))
    big = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
    path = PHOTOS / "large.jpg"
    cv2.imwrite(str(path), (np.clip(big, 0, 1) * 255).astype(np.uint8)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    t0 = time.perf_counter()
    photo = load_image(path)
    t1 = time.perf_counter()
    at_camera = check_photo(photo.rgb, case.camera)
    t2 = time.perf_counter()
    extract_silhouette(at_camera, silhouette(case.coarse_verts, case.coarse_faces, case.camera, WORK_SIZE))
    t3 = time.perf_counter()
    return {"megapixels": big.shape[0] * big.shape[1] / 1e6, "decode": t1 - t0, "resample": t2 - t1, "extract": t3 - t2}


def table(results: dict, cases: list[str], runs: list[str]) -> str:
    head = (
        "| case | run | mask IoU | seed IoU | edge contrast | Chamfer x1000 | F@0.02 | IoU unseen | of alpha's Chamfer gain | s |"
    )
    lines = [head, "|" + "---|" * 10]

    def fmt(v) -> str:
        return "" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")

    for name in cases:
        coarse, alpha = results[(name, "coarse")], results[(name, "alpha")]
        gain = coarse["chamfer"] - alpha["chamfer"]
        for run in ["coarse", "alpha", *runs]:
            r = results[(name, run)]
            share = None if run == "coarse" else (coarse["chamfer"] - r["chamfer"]) / gain
            cells = [r.get("mask_iou"), r.get("seed_iou"), r.get("edge_contrast"), r["chamfer"], r["fscore"], r["iou_unseen"]]
            lines.append(f"| {name} | {run} | " + " | ".join(fmt(v) for v in [*cells, share, r.get("seconds")]) + " |")
    return "\n".join(lines)


def summary(results: dict, cases: list[str], runs: list[str]) -> str:
    """Means over the split: mask IoU per style, the photo runs' share of the alpha run's gain, cases worse than their input."""
    lines = []
    for run in runs:
        rows = [results[(n, run)] for n in cases]
        worse = sum(r["chamfer"] > results[(n, "coarse")]["chamfer"] for n, r in zip(cases, rows))
        gains = [
            (results[(n, "coarse")]["chamfer"] - r["chamfer"])
            / (results[(n, "coarse")]["chamfer"] - results[(n, "alpha")]["chamfer"])
            for n, r in zip(cases, rows)
        ]
        chamfer_in = np.mean([results[(n, "coarse")]["chamfer"] for n in cases])
        lines.append(
            f"- {run}: mask IoU {np.mean([r['mask_iou'] for r in rows]):.3f} (min {min(r['mask_iou'] for r in rows):.3f}), "
            f"Chamfer {chamfer_in:.2f} -> {np.mean([r['chamfer'] for r in rows]):.2f} "
            f"(alpha {np.mean([results[(n, 'alpha')]['chamfer'] for n in cases]):.2f}), "
            f"median share of the alpha run's gain {np.median(gains):.2f}, worse than the input: {worse} of {len(cases)}, "
            f"silhouette {np.mean([r['silhouette_seconds'] for r in rows]):.2f} s per run"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=list(SPLITS), default="tune")
    parser.add_argument(
        "--seed", type=int, default=0, help="other than 0: fresh cases of the split's meshes (other poses, inputs, photos)"
    )
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--fresh", action="store_true", help="ignore cached results (not the cached renders)")
    args = parser.parse_args(argv)
    cases = SPLITS[args.split]
    render_photos(cases, args.seed)
    results: dict = {}
    for name in cases:
        for run in ["coarse", "alpha", *args.runs]:
            if run in RUNS:
                path = CACHE / f"{name}-photo-{run}-seed{args.seed}.npz"
                r = cached_run(path, args.fresh, run_photo, name, run, args.seed)
            else:
                config = "default" if run == "alpha" else "coarse"
                r = cached_run(CACHE / f"{name}-{config}-seed{args.seed}.npz", args.fresh, run_one, name, config, args.seed)
            results[(name, run)] = r
            print(f"{name:15s} {run:13s} mask {r.get('mask_iou', 1):.3f} chamfer {r['chamfer']:7.3f} "
                  f"F {r['fscore']:5.1f} unseen {r['iou_unseen']:.3f} {r.get('seconds', 0):5.1f}s", flush=True)  # fmt: skip
    large = time_large_photo(cases[0], args.seed)
    timing = (
        f"A {large['megapixels']:.1f}-megapixel JPEG: decoding {large['decode']:.2f} s, resampling to the camera's size "
        f"{large['resample']:.2f} s, finding the silhouette {large['extract']:.2f} s."
    )
    text = f"{summary(results, cases, args.runs)}\n\n{timing}\n\n{table(results, cases, args.runs)}"
    print(text)
    options = "" if args.runs == list(RUNS) else f" --runs {' '.join(args.runs)}"
    write_split_section("Photo benchmark", "photos", args.split, args.seed, text, options)


if __name__ == "__main__":
    main()
