"""Headless refinement: blocking, on the main thread (timers never fire while a script blocks).

    blender --background scene.blend --python-exit-code 1 --python-expr \\
        "import bl_ext.user_default.refine_mesh.batch as b, sys; sys.exit(b.main())" -- \\
        --object Cow --image photo.png --save

or many objects listed in a CSV file with columns object,image[,camera]: `-- --list jobs.csv --save`.
Refining outside Blender: `--export-manifest DIR` writes the rows for `refine-engine batch`,
`--import-results DIR` reads its results back as "REFINE" shape keys (refine_addon/studio.py).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import bpy

from . import studio
from .engine_link import EngineConfig
from .job import Event
from .preferences import engine_config
from .properties import scene_settings
from .refine_protocol import messages as m
from .scene_io import InputProblem
from .session import STOPPED, Inputs, RefineFailed, run_blocking

ASSET = "+"  # "Body+Wheels" in --object or a list's object column: refined together as one asset


def print_progress(name: str, every_s: float = 1.0) -> Callable[[Event], None]:
    """Print a progress line at most every `every_s` seconds (and for the last iteration)."""
    last = -every_s

    def show(event: Event) -> None:
        nonlocal last
        h = event.header
        if event.kind == m.PROGRESS and (time.monotonic() - last >= every_s or h["iteration"] == h["total"]):
            last = time.monotonic()
            print(
                f"refine {name}: {h['iteration']}/{h['total']} loss {h['losses'].get('total') or 0:.4f} IoU {h['losses'].get('iou') or 0:.3f}",
                flush=True,
            )
        elif event.kind == m.ERROR:
            print(f"refine {name}: error {h.get('code')}: {h.get('message')}", file=sys.stderr, flush=True)

    return show


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refine batch", description="Refine mesh objects against photos, headless.")
    p.add_argument(
        "--object", action="append", default=[], help="mesh object name (repeatable); A+B: refine A and B together as one asset"
    )
    p.add_argument("--image", help="reference photo file for --object (default: the panel's image)")
    p.add_argument("--camera", help="camera object name (default: the panel's camera, else the scene camera)")
    p.add_argument("--list", type=Path, help="CSV with columns object,image[,camera]: one refinement per row")
    p.add_argument("--preset", choices=list(m.PRESETS))
    p.add_argument("--iterations", type=int)
    p.add_argument("--symmetry", choices=list(m.SYMMETRY))
    p.add_argument(
        "--fit-camera",
        choices=list(m.FIT_CAMERA),
        help="correct a close camera (refine) or find an unknown one (search; no camera needed): a new camera object per row",
    )
    p.add_argument(
        "--silhouette",
        choices=list(m.SILHOUETTE),
        help="alpha: the photo's (a photo without alpha is segmented automatically); automatic: ignore the alpha; mask: --mask",
    )
    p.add_argument("--mask", help="silhouette mask file (white = object): --silhouette mask for every row")
    p.add_argument(
        "--occluders", metavar="COLLECTION", help="its visible meshes hide the objects in the photos (default: the panel's)"
    )
    p.add_argument(
        "--export-manifest", type=Path, metavar="DIR", help="refine nothing: write the rows for `refine-engine batch` into DIR"
    )
    p.add_argument(
        "--import-results", type=Path, metavar="DIR", help="refine nothing: read `refine-engine batch` results as REFINE keys"
    )
    p.add_argument("--save", nargs="?", const="", help="save the .blend afterwards (to this path, or over the open file)")
    p.add_argument("--engine-python", help="start the engine with this interpreter (default: the add-on preferences)")
    p.add_argument("--engine-root", help="folder with the engine package (default: the add-on preferences)")
    return p


def _beside(listing: Path, path: str) -> str:
    """A path from a CSV list: relative ones are relative to the list's folder, not the shell's."""
    return str((listing.parent / path).resolve()) if path and not Path(path).is_absolute() else path


def _row_inputs(row: dict[str, str], base: Inputs) -> tuple[list[bpy.types.Object], Inputs]:
    """The row's objects (names joined by "+": one asset), and its inputs: its own image and
    camera, else the panel's."""
    objects: list[bpy.types.Object] = []
    for name in row["object"].split(ASSET):
        obj = bpy.data.objects.get(name)
        if obj is None or obj.type != "MESH":
            raise InputProblem(f"no mesh object named {name!r}")
        objects.append(obj)
    camera = bpy.data.objects.get(row["camera"]) if row["camera"] else base.camera
    if row["camera"] and (camera is None or camera.type != "CAMERA"):
        raise InputProblem(f"no camera named {row['camera']!r}")
    return objects, replace(base, camera=camera, image_path=row["image"] or base.image_path)


def _refine_row(context: bpy.types.Context, row: dict[str, str], base: Inputs, config: EngineConfig) -> list[str]:
    """One CSV row (or --object): its own image and camera, else the panel's. Prints the outcome;
    returns the row of the final table (TABLE's columns)."""
    t0 = time.perf_counter()
    try:
        objects, inputs = _row_inputs(row, base)
        session = run_blocking(context, objects, config, inputs, print_progress(row["object"]))
    except (InputProblem, RefineFailed) as exc:
        print(f"refine {row['object']}: FAILED: {exc}", file=sys.stderr, flush=True)
        return [row["object"], "FAILED", "", "", "", "", f"{time.perf_counter() - t0:.1f}", str(exc)[:60]]
    seconds = time.perf_counter() - t0
    print(f"refine {row['object']}: done in {seconds:.1f} s: {session.summary()}", flush=True)
    said, warnings = session.report, len(session.all_warnings())
    assert said is not None
    return [
        row["object"],
        "stopped" if session.outcome == STOPPED else "refined",
        "" if said.iou_before is None else f"{said.iou_before:.3f}",
        "" if said.iou_after is None else f"{said.iou_after:.3f}",
        "" if said.shift is None else f"{100 * said.shift:.1f} %",
        "" if said.scale is None else f"{said.scale:.3f}",
        f"{seconds:.1f}",
        f"{warnings} warning(s)" if warnings else "",
    ]


TABLE = ("object", "outcome", "IoU before", "IoU after", "moved", "scale", "seconds", "notes")


def print_table(rows: list[list[str]]) -> None:
    """The batch's final table, one line per row, columns aligned."""
    widths = [max(len(r[i]) for r in [list(TABLE), *rows]) for i in range(len(TABLE))]
    for r in [list(TABLE), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip(), flush=True)


def _studio(
    context: bpy.types.Context, rows: list[dict[str, str]], base: Inputs, export: Path | None, results: Path | None
) -> int:
    """Export the rows as a manifest, or import a batch's results; returns the number of failed rows."""
    written, failures = [], 0
    if export:
        export.mkdir(parents=True, exist_ok=True)
    for row in rows:
        try:
            objects, inputs = _row_inputs(row, base)
            if len(objects) > 1:
                raise InputProblem("refining outside Blender takes one object per row")
            if export:
                written.append(studio.export_row(context, objects[0], inputs, export))
            else:
                assert results is not None
                studio.import_result(context, objects[0], results)
            print(f"refine {row['object']}: {'exported' if export else 'imported'}", flush=True)
        except InputProblem as exc:
            print(f"refine {row['object']}: FAILED: {exc}", file=sys.stderr, flush=True)
            failures += 1
    if export:
        print(
            f"refine: wrote {studio.write_manifest(export, written)}; run: refine-engine batch {export / studio.MANIFEST} --out RESULTS"
        )
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 when every refinement succeeded, 1 otherwise, 2 for bad arguments."""
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    args = _parser().parse_args(list(argv))
    context = bpy.context
    try:
        scene_settings(context.scene)
    except AttributeError:  # Scene.refine exists only while the extension is registered
        print("refine: the REFINE extension is not enabled in this Blender (Preferences > Add-ons)", file=sys.stderr)
        return 2
    rows = [{"object": o, "image": args.image or "", "camera": args.camera or ""} for o in args.object]
    if args.list:
        if not args.list.is_file():
            print(f"refine: list file not found: {args.list}", file=sys.stderr)
            return 2
        with open(args.list, newline="") as f:
            rows += [
                {"object": r.get("object", ""), "image": _beside(args.list, r.get("image", "")), "camera": r.get("camera", "")}
                for r in csv.DictReader(f)
            ]
    if not rows:
        print("refine: nothing to do (give --object or --list)", file=sys.stderr)
        return 2
    if args.mask and not Path(args.mask).is_file():
        print(f"refine: mask file not found: {args.mask}", file=sys.stderr)
        return 2
    if args.occluders and args.occluders not in bpy.data.collections:
        print(f"refine: no collection named {args.occluders!r} (--occluders)", file=sys.stderr)
        return 2
    config = engine_config(context)
    if args.engine_python or args.engine_root:
        config = EngineConfig(
            "LAUNCH", args.engine_python or config.python, args.engine_root or config.engine_root, log=config.log
        )
    # Each row's inputs are passed explicitly; the panel's settings are only read, never changed.
    panel = Inputs.from_panel(context.scene)
    base = replace(
        panel,
        preset=args.preset or panel.preset,
        symmetry=args.symmetry or panel.symmetry,
        iterations=panel.iterations if args.iterations is None else args.iterations,
        fit_camera=args.fit_camera or panel.fit_camera,
        silhouette=args.silhouette or (m.SILHOUETTE_MASK if args.mask else panel.silhouette),
        mask_image=bpy.data.images.load(str(Path(args.mask).resolve()), check_existing=True) if args.mask else panel.mask_image,
        occluders=bpy.data.collections[args.occluders] if args.occluders else panel.occluders,
    )
    if args.export_manifest or args.import_results:
        failures = _studio(context, rows, base, args.export_manifest, args.import_results)
    else:
        table = [_refine_row(context, row, base, config) for row in rows]
        failures = sum(r[1] == "FAILED" for r in table)
        print(f"refine: {len(table) - failures} of {len(table)} refined", flush=True)
        print_table(table)
    if args.save is not None:
        if args.save:
            bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.save).resolve()))
        else:
            bpy.ops.wm.save_mainfile()
    return 1 if failures else 0
