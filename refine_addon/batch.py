"""Headless refinement: blocking, on the main thread (timers never fire while a script blocks).

    blender --background scene.blend --python-exit-code 1 --python-expr \\
        "import bl_ext.user_default.refine_mesh.batch as b, sys; sys.exit(b.main())" -- \\
        --object Cow --image photo.png --save

or many objects listed in a CSV file with columns object,image[,camera]: `-- --list jobs.csv --save`.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import bpy

from .engine_link import LINK, EngineConfig
from .job import Event, RefineJob
from .preferences import engine_config
from .properties import scene_settings
from .refinement import Refinement
from .scene_io import InputProblem


class RefineFailed(RuntimeError):
    pass


def run_blocking(
    context: bpy.types.Context,
    obj: bpy.types.Object | None,
    config: EngineConfig,
    on_event: Callable[[Event], None] | None = None,
) -> dict:
    """Refine one object and wait. Returns the engine's report; raises RefineFailed (the object
    is then exactly as before) or InputProblem."""
    state, job_input = Refinement.prepare(context, obj)
    job = RefineJob(LINK, config, job_input).start()
    try:
        while True:
            event = job.events.get()
            if on_event is not None:
                on_event(event)
            if event.kind == "progress" and event.vertices is not None:
                state.show(event.vertices)
            elif event.kind == "result":
                state.keep(event.vertices)
                return event.header["report"]
            elif event.kind in ("cancelled", "error"):
                raise RefineFailed(event.header.get("message", "cancelled"))
    except BaseException:  # also KeyboardInterrupt: the scene goes back to how it was
        job.cancel()
        state.rollback()
        raise


def print_progress(name: str, every_s: float = 1.0) -> Callable[[Event], None]:
    """Print a progress line at most every `every_s` seconds (and for the last iteration)."""
    last = -every_s

    def show(event: Event) -> None:
        nonlocal last
        h = event.header
        if event.kind == "progress" and (time.monotonic() - last >= every_s or h["iteration"] == h["total"]):
            last = time.monotonic()
            print(
                f"refine {name}: {h['iteration']}/{h['total']} loss {h['losses'].get('total') or 0:.4f} IoU {h['losses'].get('iou') or 0:.3f}",
                flush=True,
            )
        elif event.kind == "error":
            print(f"refine {name}: error {h.get('code')}: {h.get('message')}", file=sys.stderr, flush=True)

    return show


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refine batch", description="Refine mesh objects against photos, headless.")
    p.add_argument("--object", action="append", default=[], help="mesh object name (repeatable)")
    p.add_argument("--image", help="reference photo file for --object (default: the panel's image)")
    p.add_argument("--camera", help="camera object name (default: the panel's camera, else the scene camera)")
    p.add_argument("--list", type=Path, help="CSV with columns object,image[,camera]: one refinement per row")
    p.add_argument("--preset", choices=["default", "fast", "paper", "naive"])
    p.add_argument("--iterations", type=int)
    p.add_argument("--symmetry", choices=["auto", "none", "x", "y", "z"])
    p.add_argument("--save", nargs="?", const="", help="save the .blend afterwards (to this path, or over the open file)")
    p.add_argument("--engine-python", help="start the engine with this interpreter (default: the add-on preferences)")
    p.add_argument("--engine-root", help="folder with the engine package (default: the add-on preferences)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 when every refinement succeeded, 1 otherwise, 2 for bad arguments."""
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    args = _parser().parse_args(list(argv))
    context = bpy.context
    props = scene_settings(context.scene)
    for name in ("preset", "iterations", "symmetry"):
        if getattr(args, name) is not None:
            setattr(props, name, getattr(args, name).upper() if name == "symmetry" else getattr(args, name))
    rows = [{"object": o, "image": args.image or "", "camera": args.camera or ""} for o in args.object]
    if args.list:
        with open(args.list, newline="") as f:
            rows += [
                {"object": r.get("object", ""), "image": r.get("image", ""), "camera": r.get("camera", "")}
                for r in csv.DictReader(f)
            ]
    if not rows:
        print("refine: nothing to do (give --object or --list)", file=sys.stderr)
        return 2
    config = engine_config(context)
    if args.engine_python or args.engine_root:
        config = EngineConfig(
            "LAUNCH", args.engine_python or config.python, args.engine_root or config.engine_root, log=config.log
        )
    failures = 0
    panel_image, panel_camera = props.image_path, props.camera  # what a row without its own falls back to
    for row in rows:
        obj = bpy.data.objects.get(row["object"])
        props.image_path = row["image"] or panel_image
        camera = bpy.data.objects.get(row["camera"]) if row["camera"] else panel_camera
        t0 = time.perf_counter()
        try:
            if obj is None:
                raise InputProblem(f"no object named {row['object']!r}")
            if row["camera"] and (camera is None or camera.type != "CAMERA"):
                raise InputProblem(f"no camera named {row['camera']!r}")
            props.camera = camera
            report = run_blocking(context, obj, config, print_progress(row["object"]))
            print(
                f"refine {row['object']}: done, {report['iterations_run']} iterations in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        except (InputProblem, RefineFailed) as exc:
            failures += 1
            print(f"refine {row['object']}: FAILED: {exc}", file=sys.stderr, flush=True)
    if args.save is not None:
        if args.save:
            bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.save).resolve()))
        else:
            bpy.ops.wm.save_mainfile()
    return 1 if failures else 0
