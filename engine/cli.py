"""Command line: `python -m engine refine ...`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from refine_protocol.messages import FIT_SEARCH, SILHOUETTE_AUTO
from refine_protocol.report import ReportSummary
from refine_protocol.request import OPTION, OPTIONS

from .errors import InputError
from .report import Report
from .settings import AUTO, DEVICES, Settings, resolve


def _refine_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refine", help="refine a mesh so its silhouette matches a photo")
    p.add_argument("--mesh", required=True, type=Path, help="coarse mesh (OBJ, PLY, GLB, ...) in the camera's world frame")
    p.add_argument(
        "--image",
        required=True,
        type=Path,
        action="append",
        help="photo (PNG, JPEG, WebP; any size with the camera's aspect ratio); its alpha is the silhouette "
        "unless --mask is given; without alpha the object is found in the photo. Repeat it for several views of the "
        "object, each with its own --camera (and --mask), paired by order: the shape is refined against all of them",
    )
    p.add_argument(
        "--mask",
        type=Path,
        action="append",
        help="silhouette mask (white = object), e.g. a corrected --mask-out; one per --image",
    )
    p.add_argument(
        "--occluder", type=Path, help="mesh (same frame) of what hides the object in the photo: those pixels are left out"
    )
    p.add_argument(
        "--hints",
        type=Path,
        help="hint strokes for finding the silhouette in the photo: an image of its aspect (e.g. the photo painted over), "
        "red strokes on the object, blue on the background",
    )
    p.add_argument(
        "--views",
        type=Path,
        help='further views from a JSON file: a list of {"image", "camera", "mask" (optional)} paths relative to it, '
        "after those of repeated --image",
    )
    p.add_argument("--mask-out", type=Path, help="write the silhouette used (PNG at the photo's size, white = object)")
    p.add_argument(
        "--camera",
        type=Path,
        action="append",
        help="camera JSON with Blender's camera fields (optional with --fit-camera search and one --image); "
        "with several views one per --image, the first fitted as --fit-camera says, the others corrected with the "
        "shape unless --fit-camera off or --exact-views",
    )
    p.add_argument(
        "--camera-out",
        type=Path,
        help="write the camera the shape was refined with (JSON, --camera's fields); several views: a list of each view's, in order",
    )
    p.add_argument(
        "--candidates-out",
        type=Path,
        help="a camera search: write the other views it found into this folder (view-2.json, ...: --camera's fields), "
        "to refine again from one of them with --camera FILE --fit-camera refine",
    )
    p.add_argument("--out", required=True, type=Path, help="refined mesh (same topology and vertex order)")
    _option_flags(p)
    p.add_argument("--device", choices=DEVICES, help="default: auto (CUDA when available)")
    p.add_argument("--report", type=Path, help="write a JSON report (losses per iteration, timings)")
    p.add_argument("--preview", type=Path, help="write a before/after PNG over the reference silhouette")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _option_flags(p: argparse.ArgumentParser) -> None:
    """A flag per request option (refine_protocol.request.OPTIONS), with its type, choices and help.
    A bool option is a switch away from its default."""
    for o in OPTIONS:
        if o.kind is bool:
            p.add_argument(o.cli_flag, dest=o.name, action="store_false" if o.default else "store_true", help=o.help)
        else:
            p.add_argument(o.cli_flag, dest=o.name, type=o.kind, choices=o.choices, default=o.default, help=o.help)


def cmd_refine(args: argparse.Namespace) -> int:
    from .io import save_mesh
    from .io.inputs_io import load_inputs, read_views

    settings = _settings(args)
    images, cameras, masks = args.image, args.camera or [], args.mask or []
    if not cameras and args.fit_camera != FIT_SEARCH:
        raise InputError("--camera is required unless --fit-camera search")
    if args.find_silhouette and masks:
        raise InputError("--find-silhouette and --mask exclude each other")
    if len(images) > 1 and len(cameras) != len(images):
        raise InputError(f"several views: one --camera per --image, got {len(images)} images and {len(cameras)} cameras")
    if len(masks) > 1 and len(masks) != len(images) or len(cameras) > len(images):
        raise InputError(
            f"--camera and --mask pair with --image by order: got {len(images)} images, {len(cameras)} cameras, {len(masks)} masks"
        )
    inputs, photo = load_inputs(
        args.mesh,
        images[0],
        cameras[0] if cameras else None,
        masks[0] if masks else None,
        settings,
        args.find_silhouette,
        args.occluder,
        exif_orientation=args.exif_orientation,
        hints=args.hints,
        more_views=[
            *zip(images[1:], cameras[1:], masks[1:] or [None] * (len(images) - 1)),
            *(read_views(args.views) if args.views else []),
        ],
    )
    faces = inputs.faces

    result = _run_with_progress(inputs, args.quiet)
    if result.cancelled:
        print("cancelled: nothing written", file=sys.stderr)
        return 130
    if not result.report.stopped:
        save_mesh(args.out, result.vertices, faces, template=args.mesh)
    _write_findings(args, result, photo.rgb.shape[1::-1], inputs)
    _print_summary(args.out, result.report)
    return EXIT_STOPPED if result.report.stopped else 0


def _write_findings(args: argparse.Namespace, result, image_wh: tuple[int, int], inputs) -> None:
    """What the run found beside the mesh: the camera, the other views, the silhouette, the report and the picture."""
    from .io import save_mask

    if args.camera_out:  # several views: a list in view order
        args.camera_out.parent.mkdir(parents=True, exist_ok=True)
        cameras = [c.to_dict() for c in (result.camera, *result.view_cameras)]
        args.camera_out.write_text(json.dumps(cameras if len(cameras) > 1 else cameras[0], indent=1))
    if args.candidates_out:
        _write_candidates(args.candidates_out, result.report)
    if args.mask_out:
        save_mask(args.mask_out, result.mask, image_wh)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result.report.to_dict(), indent=1))
    if args.preview:
        from .preview import before_after, silhouette

        verts, faces, occluder = inputs.verts, inputs.faces, inputs.occluder
        after = None if result.report.stopped else result.vertices
        hidden = None if occluder is None else silhouette(*occluder, result.camera)
        before_after(args.preview, verts, after, faces, result.mask, result.camera, hidden)


def _settings(args: argparse.Namespace) -> Settings:
    """The preset with the command line's overrides, validated before any file is read."""
    return resolve(vars(args), device=args.device)


def _run_with_progress(inputs, quiet: bool):
    """refine_inputs() with a progress bar (the camera fit, then the iterations); Ctrl-C stops at
    the end of the current step."""
    from .refine import refine_inputs

    interrupted = False

    def on_sigint(signum, frame) -> None:
        nonlocal interrupted
        interrupted = True

    bar = tqdm(total=inputs.settings.iterations, desc="refine", unit="it", disable=quiet, file=sys.stderr)

    def progress(p) -> bool:
        if p.camera is not None:  # the camera fit, before the shape moves
            bar.set_description(f"camera fit {p.camera_fit:.0%}", refresh=False)
            bar.set_postfix(iou=f"{p.losses['iou']:.3f}", refresh=False)
        else:
            bar.set_description("refine", refresh=False)
            bar.set_postfix(loss=f"{p.losses['total']:.4f}", iou=f"{p.losses['iou']:.3f}", refresh=False)
        bar.n = p.iteration
        bar.update(0)
        return interrupted

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return refine_inputs(inputs, progress)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def _write_candidates(folder: Path, report: Report) -> None:
    """A search's other views as camera files, view-2.json on (view 1 is the one used)."""
    candidates = (report.camera or {}).get("candidates", [])
    folder.mkdir(parents=True, exist_ok=True)
    for n, view in enumerate(candidates, start=2):
        (folder / f"view-{n}.json").write_text(json.dumps(view["camera"], indent=1))
    if candidates:
        print(
            f"wrote {len(candidates)} other views to {folder}: refine from one with --camera {folder}/view-2.json --fit-camera refine"
        )


# The exit status of a run that found the camera and silhouette and left the mesh as it was.
EXIT_STOPPED = 3
STOP_ADVICE = (
    "check what was found (--preview PNG; --camera-out, --mask-out and --candidates-out write the camera, the "
    "silhouette and the other views), then refine from it with --camera FILE --fit-camera refine (and --mask FILE)"
)
DOUBT_ADVICE = ", or go on from the view found with --on-doubt warn"


def _print_summary(out: Path, report: Report) -> None:
    """The camera fit's verdict, the found silhouette's checks, the warnings and the one-line result."""
    r = ReportSummary.from_dict(report.to_dict())
    if r.camera is not None:
        c = r.camera
        verdict = "used" if c.accepted else "rejected (no better than the given camera; the given camera was used)"
        print(
            f"camera {c.mode}: {c.change(precise=True)}, lens {c.lens_before:.1f} -> {c.lens_after:.1f} mm, {c.seconds:.1f} s: {verdict}"
        )
    if r.silhouette is not None and r.silhouette.source == SILHOUETTE_AUTO:
        print(r.silhouette.found())
    for line in r.view_changes():
        print(line)
    for warning in r.unstated_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if r.stopped:
        print(f"stopped before the mesh changed ({out} not written): {r.stopped}", file=sys.stderr)
        print(STOP_ADVICE + ("" if report.settings.find_only else DOUBT_ADVICE), file=sys.stderr)
        return
    print(
        f"wrote {out} ({r.vertices} vertices, {r.iterations_run} iterations, best {r.best_iteration}, "
        f"{r.seconds:.1f} s on {r.device}{r.outcome(3)})"
    )


def _batch_parser(sub: argparse._SubParsersAction) -> None:
    from .batch.manifest import COLUMNS

    p = sub.add_parser("batch", help="refine every row of a manifest (CSV or JSON lines); resumable")
    p.add_argument(
        "jobs",
        type=Path,
        help=f"manifest: columns mesh,image[,{','.join(c for c in COLUMNS if c not in ('mesh', 'image'))}]",
    )
    p.add_argument(
        "--out", required=True, type=Path, help="output folder: <name>/refined.<ext>, report.json, done.json; summary.csv"
    )
    p.add_argument("--workers", type=int, help="local worker processes (default: one per GPU, else one per 4 CPU threads)")
    p.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster: its address, 'auto' (the running one) or 'local'")
    p.add_argument("--force", action="store_true", help="redo rows whose outputs are up to date")
    p.add_argument("--timeout", type=float, default=0.0, help="seconds per row before it stops and fails (default: none)")
    p.add_argument("--preset", choices=OPTION["preset"].choices, help="default preset for rows without one")
    p.add_argument("--fit-camera", choices=OPTION["fit_camera"].choices, help="default camera fit for rows without one")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_batch(args: argparse.Namespace) -> int:
    import torch

    from .batch import LocalPool, local_split, read_manifest, run_batch
    from .batch.job import STOPPED as BATCH_STOPPED
    from .batch.summary import table, write_csv
    from .threads import usable_cpus

    defaults = {k: v for k, v in (("preset", args.preset), ("fit_camera", args.fit_camera)) if v}
    rows = read_manifest(args.jobs, defaults)
    if args.ray:
        from .batch.ray_pool import RayPool

        pool = RayPool(args.ray)
    else:
        cpus, gpus = usable_cpus(), torch.cuda.device_count()
        workers = args.workers or local_split(cpus, gpus)[0]
        pool = LocalPool(workers, max(1, cpus // workers), gpus)
    bar = tqdm(total=len(rows), desc="batch", unit="row", disable=args.quiet, file=sys.stderr)
    failed = stopped = 0

    def on_result(r) -> None:
        nonlocal failed, stopped
        failed, stopped = failed + (r.status == "failed"), stopped + (r.status == BATCH_STOPPED)
        bar.update(1)
        bar.set_postfix(failed=failed, stopped=stopped, refresh=False)
        if r.status in ("failed", BATCH_STOPPED):
            bar.write(f"row {r.row.index} ({r.row.name}): {r.status.upper()}: {r.outcome.message}", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    try:
        results = run_batch(rows, args.out, pool, defaults, args.timeout, args.force, on_result)
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: finished rows are kept; run the same command again to continue", file=sys.stderr)
        return 130
    bar.close()
    write_csv(args.out / "summary.csv", results)
    print(table(results))
    print(
        f"{len(results) - failed - stopped} of {len(results)} rows done or up to date, {stopped} stopped before the mesh "
        f"changed; summary: {args.out / 'summary.csv'}"
    )
    return 1 if failed else EXIT_STOPPED if stopped else 0


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    from dataclasses import fields

    from .server import Limits

    p = sub.add_parser("serve", help="run the engine as a local socket service (protocol: docs/protocol.md)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default loopback only; anything else is reachable by others)"
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one, printed on the ready line)")
    p.add_argument("--port-file", type=Path, help="also write the ready line's JSON to this file (mode 0600)")
    p.add_argument(
        "--token-file",
        type=Path,
        help="read the secret token from this 0600 file (created if missing); "
        "otherwise $REFINE_ENGINE_TOKEN, otherwise a new one printed on the ready line",
    )
    p.add_argument("--device", choices=DEVICES, default=AUTO)
    p.add_argument("--exit-with-parent", action="store_true", help="stop when the process that started the engine ends (POSIX)")
    for f in fields(Limits):
        mib = f.name in Limits.MIB_FIELDS
        flag = "--" + f.name.removesuffix("_bytes").replace("_", "-") + ("-mb" if mib else "")
        default = f.default >> 20 if mib else f.default  # type: ignore[operator]
        p.add_argument(
            flag,
            dest=f.name,
            type=int,
            default=default,
            metavar="N",
            help=f"{f.metadata['help']} (default {default}{' MiB' if mib else ''})",
        )


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import os
    from dataclasses import fields

    from refine_protocol import PROTOCOL_VERSION
    from refine_protocol.messages import READY_PREFIX

    from . import __version__
    from .server import Limits, Server, load_token

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    limits = Limits(**{f.name: getattr(args, f.name) << (20 if f.name in Limits.MIB_FIELDS else 0) for f in fields(Limits)})
    if min(limits.to_dict().values()) < 1:
        raise InputError("serve: every --max-* limit must be at least 1")
    token, generated = load_token(args.token_file)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        logging.getLogger("engine.server").warning(
            "listening on %s: anyone who can reach it and knows the token can use this engine; "
            "prefer the default 127.0.0.1 with an SSH tunnel",
            args.host,
        )
    try:
        server = Server(token, args.host, args.port, limits, args.device)
    except OSError as exc:
        raise InputError(f"serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    ready = {
        "host": server.host,
        "port": server.port,
        "pid": os.getpid(),
        "protocol": PROTOCOL_VERSION,
        "engine_version": __version__,
        "device": server.device,
    }
    if generated:
        ready["token"] = token
    line = json.dumps(ready)
    if args.port_file:
        fd = os.open(args.port_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(line + "\n")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.shutdown())
    if args.exit_with_parent:
        _watch_parent(server.shutdown)
    logging.getLogger("engine.server").info(
        "listening on %s:%d (%s, %s)", server.host, server.port, server.device, server.device_name
    )
    print(READY_PREFIX + line, flush=True)
    server.serve_forever()
    if args.port_file:
        args.port_file.unlink(missing_ok=True)
    # Exit now: a job stuck in a long non-cancellable step (its thread is a daemon) or a client
    # thread still logging must not make interpreter shutdown hang or abort.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def _watch_parent(stop) -> None:
    """Call stop() once this process is orphaned (its parent, e.g. Blender, quit or crashed), so a
    launched engine never lingers holding GPU memory."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="refine-engine", description="REFINE mesh refinement engine (also: python -m engine)")
    sub = parser.add_subparsers(dest="command", required=True)
    _refine_parser(sub)
    _batch_parser(sub)
    _serve_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "refine":
            return cmd_refine(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "batch":
            return cmd_batch(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


def run() -> None:
    """The `refine-engine` console script (pip install): `refine-engine refine|serve ...`."""
    sys.exit(main())
