"""Command line: `python -m engine refine ...`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from .errors import InputError
from .settings import PRESETS, SYMMETRY, preset


def _refine_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refine", help="refine a mesh so its silhouette matches a photo")
    p.add_argument("--mesh", required=True, type=Path, help="coarse mesh (OBJ, PLY, GLB, ...) in the camera's world frame")
    p.add_argument("--image", required=True, type=Path, help="photo; its alpha is the silhouette unless --mask is given")
    p.add_argument("--mask", type=Path, help="silhouette mask (white = object) for a photo without alpha")
    p.add_argument("--camera", required=True, type=Path, help="camera JSON with Blender's camera fields")
    p.add_argument("--out", required=True, type=Path, help="refined mesh (same topology and vertex order)")
    p.add_argument("--preset", default="default", choices=list(PRESETS))
    p.add_argument("--iterations", type=int, help="override the preset's iteration count")
    p.add_argument("--symmetry", choices=SYMMETRY, help="symmetry plane: auto-detect, none, or a world axis")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: auto (CUDA when available)")
    p.add_argument("--seed", type=int, help="random seed (runs are deterministic for a seed)")
    p.add_argument("--report", type=Path, help="write a JSON report (losses per iteration, timings)")
    p.add_argument("--preview", type=Path, help="write a before/after PNG over the reference silhouette")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_refine(args: argparse.Namespace) -> int:
    from .io import load_camera, load_image, load_mesh, save_mesh
    from .refine import refine

    settings = preset(args.preset).with_overrides(
        iterations=args.iterations, symmetry=args.symmetry, device=args.device, seed=args.seed
    )
    settings.validate()
    verts, faces = load_mesh(args.mesh)
    rgb, mask = load_image(args.image, args.mask)
    camera = load_camera(args.camera)

    interrupted = False

    def on_sigint(signum, frame) -> None:  # stop at the end of the current iteration
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(total=settings.iterations, desc="refine", unit="it", disable=args.quiet, file=sys.stderr)

    def progress(p) -> bool:
        bar.n = p.iteration
        bar.set_postfix(loss=f"{p.losses['total']:.4f}", iou=f"{p.losses['iou']:.3f}", refresh=False)
        bar.update(0)
        return interrupted

    try:
        result = refine(verts, faces, mask, camera, settings, image=rgb, progress=progress)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    if result.cancelled:
        print("cancelled: nothing written", file=sys.stderr)
        return 130
    save_mesh(args.out, result.vertices, faces, template=args.mesh)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result.report, indent=1))
    if args.preview:
        from .preview import before_after

        before_after(args.preview, verts, result.vertices, faces, mask, camera)
    r = result.report
    print(
        f"wrote {args.out} ({r['vertices']} vertices, {r['iterations_run']} iterations, best {r['best_iteration']}, "
        f"{r['seconds']['total']:.1f} s on {r['device']}, final IoU {r['history'][r['best_iteration'] - 1]['iou']:.3f})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="REFINE mesh refinement engine")
    sub = parser.add_subparsers(dest="command", required=True)
    _refine_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "refine":
            return cmd_refine(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1
