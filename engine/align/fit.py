"""Finding the camera a photo was taken from, with the mesh held rigid.

A silhouette error can be explained by moving the camera or by bending the mesh; the camera goes
first, so the shape refinement never bends the mesh to explain a camera's error.

- "refine" (the camera is close): gradient descent from the given camera on an orbit about the
  object (camera/pose.py CameraCorrection) against the soft silhouette, coarse to fine. The camera's
  distance, lens and sideways position are held by a tight prior: from one silhouette they are
  indistinguishable from the mesh's own size and position errors, which the shape refinement's
  similarity (scale and image-plane shift) corrects instead. Measured: letting the rigid fit
  change them made the 3D result worse on average (docs/benchmarks.md, camera section). Unless
  the mesh is nearly right: freed, the rigid mesh then follows the photo's outline to within
  NEARLY_RIGHT, and the camera keeps the framing it found (CameraFit.framing).
- "search" (the camera is unknown or far off): upright views first (a level camera, the object on
  its base, from a little below to steeply above: how photos are taken), each matched to the
  photo's silhouette in the image plane by its area and centroid and scored by IoU at low
  resolution, all in one batch (search.py); free views (any direction and roll) only when no
  upright one matches. The best few distinct views race: each is polished at the coarsest size,
  and those within `RACE` of the best go on to the finer sizes. Look-alike views (a symmetric
  object seen from mirrored sides; a round one from anywhere around) end within `TIE_IOU` of the
  best: the one closest to the given camera is used, the others are kept as candidates and named
  in a warning.

A fit that does not overlap the photo better than the given camera is rejected (reported, and the
given camera is used); a search whose best fit overlaps less than `MIN_SEARCH_IOU` means the photo
and the mesh do not show the same thing, and ends with an InputError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import refine_protocol.messages as m

from ..camera.blender import BlenderCamera
from ..camera.pose import CameraCorrection, rotation_between_deg
from ..camera.view import check_view
from ..device import deterministic_algorithms
from ..errors import InputError
from ..frame import NormalizedFrame
from ..proxy import decimate
from ..render.view import IOU_SIZE, outline_error, silhouette_iou
from ..topology import weld, welded_faces
from .polish import Mesh, OnFitStep, StepCounter, polish
from .search import DISTINCT_DEG, SEARCH_SIZE, apart_deg, search_views

FIT_FACES = 4000  # faces of the mesh the fit renders at EVAL_SIZE (proportionally fewer below: fit_levels)
POLISH = ((64, 40, 1.0), (128, 40, 0.7), (256, 40, 0.5))  # (longest side px, iterations, sigma px) coarse to fine
# One fit from a close camera ("refine") needs the finest stage only to settle what 128 px found; a
# search compares its candidates by their final IoU (mirror views within TIE_IOU), so they settle fully.
REFINE_POLISH = (*POLISH[:2], (256, 15, 0.5))
EVAL_SIZE = IOU_SIZE  # longest side of the IoU that accepts or rejects a fit
TIE_IOU = 0.01
MIN_SEARCH_IOU = 0.5
# A start this far behind the best after the coarsest polish stage stops there. Measured on the
# tuning half (true silhouettes, upright views): the leading start ended within TIE_IOU of the
# best fit in every case from no camera; from a far camera (another lens and distance) a thin
# airplane's right view trailed by more than 0.02 at 64 px and won at 256 px (docs/decisions.md).
RACE = 0.05
# "refine": a Gaussian prior centred on the given camera (polish.PRIOR_SIGMA), of this weight.
PRIOR_WEIGHT = 0.05
# ...unless the mesh is nearly right: then the photo's framing is the camera's. After the held fit a
# second polish frees distance, lens and position (against the nearest-face silhouette, whose 0.5
# level lies on the outline, so it need not shrink the picture to answer the union's outward bias)
# and is kept when the rigid mesh then follows the photo's outline to within NEARLY_RIGHT of its
# radius on average (area between the outlines over their length). Measured on near cameras: the
# exact meshes 1.0-1.2 %, the nearly right inputs 0.55-1.4 %; blobs and warps 1.9-7.6 %,
# where a swollen mesh and a short lens give the same picture and the held framing is the safer.
FRAMING_POLISH = POLISH[1:2] + ((256, 15, 0.5),)
NEARLY_RIGHT = 0.015


@dataclass(frozen=True)
class CameraFit:
    """What the fit did. `camera` is the one the shape refinement uses: the fitted camera when
    accepted, the given one otherwise."""

    mode: str
    camera: BlenderCamera
    fitted: BlenderCamera
    accepted: bool
    framing: bool  # accepted with the distance, lens and position fitted too (a search; a nearly right mesh)
    iou_before: float  # the given camera's silhouette IoU with the photo (at EVAL_SIZE)
    iou_after: float  # the fitted camera's
    rotation_deg: float  # between the given and the fitted camera
    lens_before: float
    lens_after: float
    scored: int  # cameras scored
    seconds: float
    # A search's other distinct polished views (IoU at EVAL_SIZE, camera), best first, and how many
    # of them explain the photo as well as the one used (within TIE_IOU of the best: look-alikes).
    candidates: tuple[tuple[float, BlenderCamera], ...] = ()
    look_alikes: int = 0
    upright: bool = True  # a search: the view was found among upright ones
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the object's centre (world), which the views look at

    def warnings(self) -> list[str]:
        """What a user should check about the found camera, in words."""
        out = []
        if self.look_alikes:
            out.append(
                f"the photo fits {self.look_alikes + 1} views of the mesh nearly equally (silhouette IoU within "
                f"{TIE_IOU}): the one closest to the given camera was used; check it, or give a rough camera "
                "(the others are the report's camera candidates)"
            )
        if self.mode == m.FIT_SEARCH and not self.upright:
            out.append(
                "no upright view (a level camera, the object standing on its base) matches the photo: the camera was "
                "found among tilted ones; check it, or give a rough camera"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report's camera section (the fitted camera in Blender's fields)."""
        azimuth, elevation = view_angles(self.fitted, np.asarray(self.centre))
        return {
            "mode": self.mode,
            "accepted": self.accepted,
            "framing": self.framing,
            "iou_before": self.iou_before,
            "iou_after": self.iou_after,
            "rotation_deg": self.rotation_deg,
            "azimuth_deg": azimuth,
            "elevation_deg": elevation,
            "lens_before": self.lens_before,
            "lens_after": self.lens_after,
            "scored": self.scored,
            "seconds": self.seconds,
            "fitted": self.fitted.to_dict(),
            "upright": self.upright,
            "candidates": [
                {"iou": iou, "rotation_deg": rotation_between_deg(self.fitted, c), "camera": c.to_dict()}
                for iou, c in self.candidates
            ],
            "look_alikes": self.look_alikes,
            "warnings": self.warnings(),
        }


def view_angles(camera: BlenderCamera, centre: np.ndarray) -> tuple[float, float]:
    """Where `camera` sees the object from (degrees): the azimuth about world +Z of the direction
    from the object's `centre` to the camera, 0 from -Y (the front of a generator's mesh), 90 from
    +X; and its elevation above the XY plane."""
    d = np.asarray(camera.location, dtype=np.float64) - centre
    d = d / max(float(np.linalg.norm(d)), 1e-12)
    return float(np.degrees(np.arctan2(d[0], -d[1]))), float(np.degrees(np.arcsin(np.clip(d[2], -1.0, 1.0))))


def fit_camera(
    verts: np.ndarray,
    faces: np.ndarray,
    mask: np.ndarray,
    camera: BlenderCamera,
    mode: str,
    device: torch.device | None = None,
    on_step: OnFitStep | None = None,
    free_framing: bool = True,
    levels: dict[int, Mesh] | None = None,
) -> CameraFit:
    """Fit `camera` to the silhouette `mask` ((H, W) in [0, 1], the camera's resolution) of the
    rigid mesh (`verts` (V, 3) world units, `faces` (F, 3)). `mode` is "refine" or "search" (see
    the module docstring). Larger meshes are fitted through decimated copies (fit_levels).
    `on_step` is called after every gradient step; returning True raises FitCancelled.
    `free_framing` False: "refine" keeps the given camera's distance, lens and position even for a
    nearly right mesh (a refit of a camera whose framing was already found from the photo).
    `levels`: fit_levels(verts, faces, device), when the caller fits the same mesh again."""
    t0 = time.perf_counter()
    levels = levels or fit_levels(verts, faces, device)
    points, faces = levels[EVAL_SIZE]
    target = torch.tensor(mask, dtype=points.dtype, device=points.device)[None, None]
    frame = NormalizedFrame.around(verts)  # the object's centre and size: the orbit's centre and the step's unit
    centre, size = frame.centre, frame.scale
    free_framing = free_framing and mode == m.FIT_REFINE
    extra = sum(stage[1] for stage in FRAMING_POLISH) if free_framing else 0
    steps = StepCounter(on_step, extra)
    others: tuple[tuple[float, BlenderCamera], ...] = ()
    upright, alike = True, 0
    with deterministic_algorithms():  # the same fit on every run, called alone as within a refinement
        if mode == m.FIT_SEARCH:
            views, scored, upright = _search(levels, target, camera, centre, size, steps)
            fitted, iou_after = _choose(views, camera)
            _check_match(iou_after)
            others = tuple(v for v in views if v[1] is not fitted)
            alike = sum(iou >= views[0][0] - TIE_IOU for iou, _ in others)
        else:
            steps.total += sum(stage[1] for stage in REFINE_POLISH)
            fitted = polish(CameraCorrection(camera, centre, size), levels, target, PRIOR_WEIGHT, REFINE_POLISH, steps)
            iou_after, scored = silhouette_iou(fitted, points, faces, target), 1
    before = silhouette_iou(camera, points, faces, target)
    accepted = iou_after > before and _sees(fitted, verts)
    framing = accepted and mode == m.FIT_SEARCH
    if free_framing:
        freed = _freed_framing(CameraCorrection(fitted if accepted else camera, centre, size), levels, target, steps, verts)
        if freed is not None:
            fitted, iou_after, accepted, framing = freed, silhouette_iou(freed, points, faces, target), True, True
    turn, seconds = rotation_between_deg(camera, fitted), time.perf_counter() - t0
    used = fitted if accepted else camera
    return CameraFit(
        mode, used, fitted, accepted, framing, before, iou_after, turn, camera.lens, fitted.lens, scored, seconds,
        others, alike, upright, tuple(map(float, centre)),
    )  # fmt: skip


def _search(
    levels: dict[int, Mesh], target: torch.Tensor, camera: BlenderCamera, centre: np.ndarray, size: float, steps: StepCounter
) -> tuple[tuple[tuple[float, BlenderCamera], ...], int, bool]:
    """Upright views, and free ones when no upright view matches (MIN_SEARCH_IOU): the distinct
    polished views, best first; how many cameras were scored; whether the best is upright."""
    views, scored = _race(levels, target, camera, centre, size, steps, upright=True)
    if views[0][0] >= MIN_SEARCH_IOU:
        return views, scored, True
    free, more = _race(levels, target, camera, centre, size, steps, upright=False)
    return _distinct(sorted((*views, *free), key=lambda v: -v[0])), scored + more, free[0][0] > views[0][0]


def _race(
    levels: dict[int, Mesh], target: torch.Tensor, camera: BlenderCamera, centre: np.ndarray, size: float,
    steps: StepCounter, upright: bool,
) -> tuple[tuple[tuple[float, BlenderCamera], ...], int]:  # fmt: skip
    """The search's best starts (search_views), each polished at the coarsest size; those within
    RACE of the best then at the finer ones. Returns the distinct views, best IoU first, and how
    many cameras were scored."""
    starts, scored = search_views(*levels[SEARCH_SIZE], target, camera, centre, size, upright)
    points, faces = levels[EVAL_SIZE]
    first, rest = POLISH[:1], POLISH[1:]
    steps.total += len(starts) * sum(stage[1] for stage in POLISH)
    coarse = [polish(c, levels, target, 0.0, first, steps) for _, c in starts]
    ious = [silhouette_iou(c, points, faces, target) for c in coarse]
    views = []
    for cam, iou in zip(coarse, ious):
        if iou < max(ious) - RACE:
            steps.total -= sum(stage[1] for stage in rest)
            continue
        done = polish(CameraCorrection(cam, centre, size), levels, target, 0.0, rest, steps)
        views.append((silhouette_iou(done, points, faces, target), done))
    return _distinct(sorted(views, key=lambda v: -v[0])), scored


def _distinct(views: list[tuple[float, BlenderCamera]]) -> tuple[tuple[float, BlenderCamera], ...]:
    """`views` (best first) without those that look from within DISTINCT_DEG of a better one (two
    starts that reached the same view)."""
    kept: list[tuple[float, BlenderCamera]] = []
    for iou, cam in views:
        if all(apart_deg(cam, other) >= DISTINCT_DEG for _, other in kept):
            kept.append((iou, cam))
    return tuple(kept)


def silhouette_optimum(
    verts: np.ndarray, faces: np.ndarray, mask: np.ndarray, camera: BlenderCamera, hold_orbit: bool = False
) -> BlenderCamera:
    """The camera the silhouette alone prefers near `camera`: polished from it with nothing held
    (no prior), against the nearest-face silhouette; `hold_orbit` keeps its viewing direction and
    fits only distance, lens and position. A measurement (bench.camera_bounds): where the rigid
    mesh's outline, not the optimizer, puts the camera."""
    levels = fit_levels(verts, faces, None)
    frame = NormalizedFrame.around(verts)
    correction = CameraCorrection(camera, frame.centre, frame.scale)
    correction.orbit.requires_grad_(not hold_orbit)  # Adam skips a parameter without a gradient
    target = torch.tensor(mask, dtype=torch.float32)[None, None]
    with deterministic_algorithms():
        return polish(correction, levels, target, 0.0, POLISH, StepCounter(None, 1), "nearest")


def _check_match(iou: float) -> None:
    """A search's best rigid fit must overlap the photo by MIN_SEARCH_IOU at least."""
    if iou < MIN_SEARCH_IOU:
        raise InputError(
            f"camera search: no viewpoint makes the mesh's silhouette match the photo's (best IoU {iou:.2f}); "
            "the photo and the mesh do not seem to show the same object, or the silhouette is wrong"
        )


def _freed_framing(
    start: CameraCorrection, levels: dict[int, Mesh], target: torch.Tensor, steps: StepCounter, verts: np.ndarray
) -> BlenderCamera | None:
    """The camera polished from `start` (a correction at zero) with distance, lens and position
    free too, if under it the rigid mesh follows the photo's outline to within NEARLY_RIGHT (and
    better than under the start); else None (the held framing stands)."""
    with deterministic_algorithms():
        freed = polish(start, levels, target, 0.0, FRAMING_POLISH, steps, "nearest")
    points, faces = levels[EVAL_SIZE]
    error = outline_error(freed, points, faces, target)
    if error < min(NEARLY_RIGHT, outline_error(start.camera, points, faces, target)) and _sees(freed, verts):
        return freed
    return None


def fit_levels(verts: np.ndarray, faces: np.ndarray, device: torch.device | None) -> dict[int, Mesh]:
    """The mesh for each render size the fit uses (longest side px): about FIT_FACES faces at
    EVAL_SIZE, proportionally fewer below. A silhouette is set by the faces along its outline,
    whose length in pixels grows linearly with the render's size; a face much smaller than a pixel
    adds cost (the renderer's work grows with its faces), not information. Seam copies are welded
    first (topology.weld), so the decimation sees one surface, not patches that may crack apart."""
    index, first = weld(verts)
    verts, faces = verts[first], welded_faces(faces, index)
    out = {}
    for longest in sorted({SEARCH_SIZE, EVAL_SIZE, *(stage[0] for stage in POLISH)}):
        budget = FIT_FACES * longest // EVAL_SIZE
        v, f = decimate(verts, faces, budget) if len(faces) > budget else (verts, faces)
        out[longest] = torch.tensor(v, dtype=torch.float32, device=device), torch.tensor(f, dtype=torch.int64, device=device)
    return out


def _sees(camera: BlenderCamera, verts: np.ndarray) -> bool:
    """Whether the whole mesh is in front of the camera and inside its clip range."""
    try:
        check_view(verts, camera)
    except InputError:
        return False
    return True


def _choose(views: tuple[tuple[float, BlenderCamera], ...], given: BlenderCamera) -> tuple[BlenderCamera, float]:
    """The view with the best IoU, or among views within TIE_IOU of it the one closest to the
    given camera; with its IoU."""
    near = [(iou, c) for iou, c in views if iou >= views[0][0] - TIE_IOU]
    iou, camera = min(near, key=lambda v: rotation_between_deg(given, v[1]))
    return camera, iou
