"""REFINE: test-time refinement of a mesh so its silhouette matches a photo.

A composition of small pieces: the normalized frame (frame.py), the symmetry plane
(symmetry/choose.py), the optimized mesh and the problem (problem.py), the loop (optimize.py)
and the report (report.py). Everything runs in the normalized frame; results map back exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

import refine_protocol.messages as m

from .align import Alignment, CameraFit, FitCancelled, align, find_view_silhouettes
from .camera import BlenderCamera
from .camera.pose import rotation_between_deg
from .device import deterministic_algorithms, pick_device
from .frame import NormalizedFrame
from .inputs import RefineInputs, View
from .optimize import OnIteration, Outcome, Stage, optimize
from .problem import OptimizedMesh, build_problem, plan_stages, visible_pixels
from .render.view import silhouette_iou
from .report import Report
from .selfcheck import self_check
from .settings import Settings
from .symmetry import Plane
from .symmetry.choose import choose_plane
from .threads import keep_cpu_share


@dataclass
class Progress:
    """Handed to the progress callback after every iteration, and after every step of a camera
    fit (before the shape moves: `iteration` 0, `camera` set)."""

    iteration: int  # 1-based, over all stages; 0 while the camera is fitted
    total: int
    stage: int
    image_hw: tuple[int, int]
    losses: dict[str, float]
    _verts: Any = field(repr=False)
    _to_world: Callable[[Any], np.ndarray] = field(repr=False)
    camera: BlenderCamera | None = None  # while the camera is fitted: the best one so far
    camera_fit: float = 1.0  # the share of the camera fit done (0..1)

    def vertices(self) -> np.ndarray:
        """Current vertices (V, 3) float64 in world units (computed on demand)."""
        return self._to_world(self._verts)


@dataclass
class Result:
    vertices: np.ndarray  # (V, 3) float64, world units, the input's vertex order
    report: Report
    camera: BlenderCamera  # the camera the shape was refined with (the fitted one if a fit was accepted)
    mask: np.ndarray | None = None  # (H, W) float32: the silhouette it was refined against (the camera's size)
    cancelled: bool = False
    view_cameras: tuple[BlenderCamera, ...] = ()  # the further views' cameras, as corrected (fit_views) or given


ProgressCallback = Callable[[Progress], "bool | None"]


def refine(
    verts: np.ndarray,
    faces: np.ndarray,
    mask: np.ndarray | None,
    camera: BlenderCamera,
    settings: Settings | None = None,
    image: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    parts: tuple[int, ...] = (),
    occluder: tuple[np.ndarray, np.ndarray] | None = None,
    more_views: tuple[tuple[BlenderCamera, np.ndarray | None, np.ndarray | None], ...] = (),
) -> Result:
    """Refine a mesh against a silhouette seen from a Blender camera.

    Args:
        verts: (V, 3) world coordinates, same frame as the camera.
        faces: (F, 3) vertex indices.
        mask: (H, W) silhouette in [0, 1] (1 = object), the camera's aspect ratio (any size); None:
            found in `image` (engine/align/alignment.py).
        camera: the camera the photo was taken from.
        settings: the refinement settings (default preset if None).
        image: (H, W, 3) photo in [0, 1], the camera's aspect ratio: needed without a mask, and by
            the "network" parameterization's encoder.
        progress: called after every iteration; returning True stops the run early (the best
            iterate so far is returned, with `cancelled=True`).
        parts: vertex counts of consecutive parts when the mesh is several objects refined as one
            (e.g. (V1, V2)): kept from going deeper into each other than they start.
        occluder: ((O, 3) world vertices, (G, 3) faces) of what hides the object from the camera:
            the pixels it covers are left out of the silhouette loss.
        more_views: further views, each (exact camera, mask or None: found in the photo, photo
            or None), all refined against at once.
    Returns:
        Result with the refined (V, 3) vertices, same order as the input, and a report.
    Raises:
        InputError naming the first problem with the inputs.
    """
    extras: dict[str, Any] = {"parts": parts, "occluder": occluder, "more_views": more_views}
    return refine_inputs(RefineInputs.checked(verts, faces, mask, camera, settings, image, **extras), progress)


def refine_inputs(inputs: RefineInputs, progress: ProgressCallback | None = None) -> Result:
    """refine() for inputs already checked (the server validates when it queues a job)."""
    keep_cpu_share()  # this thread's share of the CPUs from the first operation on
    t0, s = time.perf_counter(), inputs.settings
    torch.manual_seed(s.seed)
    device = pick_device(s.device)
    frame = NormalizedFrame.around(inputs.verts)
    verts_n = frame.from_world(inputs.verts)
    plane, asymmetry = choose_plane(verts_n, inputs.faces, s)
    t_plane = time.perf_counter() - t0
    mesh = OptimizedMesh.build(verts_n, inputs.faces, frame, s.proxy_faces, device, inputs.parts)
    t_proxy = time.perf_counter() - t0 - t_plane
    stages = plan_stages(inputs.camera.image_size_wh, s)  # a camera fit keeps the resolution
    with deterministic_algorithms():
        try:
            aligned = _align(inputs, device, progress)
        except FitCancelled:  # the shape never moved
            aligned, outcome = None, Outcome(mesh.rest, math.inf, 0, 0, cancelled=True)
        else:
            views = find_view_silhouettes(inputs)
            inputs = replace(inputs, camera=aligned.camera or inputs.camera, mask=aligned.mask, more_views=views)
        visible = visible_pixels(inputs)  # through the camera the shape is refined with
        stopped, corrected = "" if aligned is None else stop_reason(s, aligned.fit), []
        if stopped:
            outcome = Outcome(mesh.rest, math.inf, 0, 0, cancelled=False)
        elif aligned is not None:
            problem = build_problem(inputs, mesh, plane, stages[-1].size, visible, aligned.framing_found)
            outcome = optimize(stages, problem.start, mesh.rest.clone(), s.patience, _notify(progress, s.iterations, mesh))
            corrected = problem.corrected_cameras()
    elapsed = time.perf_counter() - t0
    fit = None if aligned is None else aligned.fit
    t_fit = 0.0 if fit is None else fit.seconds
    t_silhouette = aligned.silhouette.get("seconds", 0.0) if aligned else 0.0
    seconds = {
        "total": elapsed,
        "symmetry_search": t_plane,
        "proxy": t_proxy,
        "silhouette": t_silhouette,
        "camera_fit": t_fit,
        "per_iteration": (elapsed - t_plane - t_proxy - t_silhouette - t_fit) / max(outcome.iterations, 1),
    }
    vertices = inputs.verts.copy() if stopped else mesh.to_world(outcome.best)
    check = self_check(inputs.verts, vertices, inputs.faces, inputs.camera, frame.scale)
    report = _report(inputs, str(device), mesh, plane, asymmetry, stages, outcome, seconds, check)
    report.camera, report.stopped = None if fit is None else fit.to_dict(), stopped
    report.silhouette = {"source": inputs.silhouette_source} if aligned is None else aligned.silhouette
    _measure_views(report, inputs, vertices, visible, corrected if aligned else None)
    first, further = (
        (corrected[0], tuple(corrected[1:])) if corrected else (inputs.camera, tuple(v.camera for v in inputs.more_views))
    )
    return Result(vertices, report, first, inputs.mask, outcome.cancelled, further)


def _measure_views(
    report: Report,
    inputs: RefineInputs,
    vertices: np.ndarray,
    visible: torch.Tensor | None,
    corrected: list[BlenderCamera] | None,
) -> None:
    """Each view's silhouette IoU before and after, through its camera as given and, after, as
    `corrected` with the shape (every view's, the first's first; [] when none was; None: the
    silhouettes were never found)."""
    if inputs.mask is not None:  # None: cancelled before the silhouette was found
        after = corrected[0] if corrected else inputs.camera
        report.silhouette_iou = {
            "before": _view_iou(inputs.camera, inputs.mask, inputs.faces, inputs.verts, visible),
            "after": _view_iou(after, inputs.mask, inputs.faces, vertices, visible),
        }
    if corrected:
        report.corrected_camera = _correction(inputs.camera, corrected[0])
    if corrected is not None:
        fitted: list[BlenderCamera | None] = [*corrected[1:]] or [None] * len(inputs.more_views)
        report.views = [_view_ious(view, inputs, vertices, c) for view, c in zip(inputs.more_views, fitted)]


def stop_reason(settings: Settings, fit: CameraFit | None) -> str:
    """Why the shape is not to move ("" when it is): only the camera and the silhouette were asked
    for, or a camera search's view is in doubt (CameraFit.warnings) and the settings say stop."""
    if settings.find_only:
        return "asked to find the camera and the silhouette only"
    doubts = [] if fit is None or settings.on_doubt != m.DOUBT_STOP else fit.warnings()
    return f"the camera found is in doubt: {doubts[0]}" if doubts else ""


def _view_iou(
    camera: BlenderCamera, mask: np.ndarray, faces: np.ndarray, verts: np.ndarray, visible: torch.Tensor | None = None
) -> float:
    """The mesh's hard silhouette IoU with a view's (H, W) `mask`, through its camera (256 px),
    over the `visible` pixels (visible_pixels)."""
    points = torch.tensor(verts, dtype=torch.float32)
    return silhouette_iou(camera, points, torch.as_tensor(faces), torch.tensor(mask)[None, None], visible)


def _view_ious(view: View, inputs: RefineInputs, vertices: np.ndarray, corrected: BlenderCamera | None) -> dict[str, Any]:
    """A further view's report: where its silhouette came from, the mesh's IoU with it before
    (through the camera given) and after (through the camera `corrected`, when it was), and the
    corrected camera with its turn from the given one."""
    assert view.mask is not None  # found before the shape moved
    before = _view_iou(view.camera, view.mask, inputs.faces, inputs.verts)
    after = _view_iou(corrected or view.camera, view.mask, inputs.faces, vertices)
    out: dict[str, Any] = {"source": view.silhouette_source, "iou_before": before, "iou_after": after}
    if corrected is not None:
        out.update(_correction(view.camera, corrected))
    return out


def _correction(given: BlenderCamera, corrected: BlenderCamera) -> dict[str, Any]:
    """A view's camera as corrected with the shape, in the report: its fields and its turn from the given one."""
    return {"camera": corrected.to_dict(), "rotation_deg": rotation_between_deg(given, corrected)}


def _align(inputs: RefineInputs, device: torch.device, progress: ProgressCallback | None) -> Alignment:
    """The silhouette and the camera, before the shape moves (engine/align/alignment.py). Raises
    FitCancelled when the progress callback asks to stop during a camera fit."""

    def on_step(share: float, camera: BlenderCamera, iou: float) -> bool:
        assert progress is not None
        verts = inputs.verts
        p = Progress(0, inputs.settings.iterations, 0, camera.image_size_wh[::-1], {"iou": iou}, verts, np.asarray, camera, share)
        return bool(progress(p))

    return align(inputs, device, on_step if progress else None)


def _notify(progress: ProgressCallback | None, total: int, mesh: OptimizedMesh) -> OnIteration | None:
    """The loop's per-iteration hook as the public Progress callback."""
    if progress is None:
        return None

    def on_iteration(iteration: int, index: int, stage: Stage, values: dict[str, float], iterate: torch.Tensor) -> bool:
        return bool(progress(Progress(iteration, total, index, stage.size, values, iterate, mesh.to_world)))

    return on_iteration


def _report(
    inputs: RefineInputs,
    device: str,
    mesh: OptimizedMesh,
    plane: Plane | None,
    asymmetry: float | None,
    stages: list[Stage],
    outcome: Outcome,
    seconds: dict[str, float],
    check: dict[str, Any],
) -> Report:
    proxy = mesh.proxy
    return Report(
        settings=inputs.settings,
        device=device,
        vertices=len(inputs.verts),
        faces=len(inputs.faces),
        normalization={"centre": mesh.frame.centre.tolist(), "scale": mesh.frame.scale},
        symmetry_plane=mesh.frame.plane_to_world(plane),
        asymmetry=asymmetry,
        proxy=None if proxy is None else {"vertices": len(proxy.verts), "faces": len(proxy.faces)},
        stages=[{"image_hw": list(st.size), "iterations": st.iterations} for st in stages],
        iterations_run=outcome.iterations,
        best_iteration=outcome.best_iteration,
        best_loss=outcome.best_loss,
        cancelled=outcome.cancelled,
        seconds=seconds,
        history=outcome.history,
        self_check=check,
    )
