"""Finding the camera a photo was taken from, with the mesh held rigid.

A silhouette error can be explained by moving the camera or by bending the mesh; the camera goes
first, so the shape refinement never bends the mesh to explain a camera's error.

- "refine" (the camera is close): gradient descent from the given camera on an orbit about the
  object (camera.pose.CameraCorrection) against the soft silhouette, coarse to fine. The camera's
  distance, lens and sideways position are held by a tight prior: from one silhouette they are
  indistinguishable from the mesh's own size and position errors, which the shape refinement's
  similarity (scale and image-plane shift) corrects instead. Measured: letting the rigid fit
  change them made the 3D result worse on average (docs/benchmarks.md, camera section). Unless
  the mesh is nearly right: freed, the rigid mesh then follows the photo's outline to within
  NEARLY_RIGHT, and the camera keeps the framing it found (CameraFit.framing).
- "search" (the camera is unknown or far off): viewing directions all around the object, each
  matched to the photo's silhouette in the image plane by moments (position, size, and the long
  axis' direction or upright) and scored by IoU at low resolution, all in one batch; the best few
  distinct directions are refined as above. Symmetric objects look alike from mirrored
  viewpoints: among fits within `TIE_IOU` of the best, the one closest to the given camera wins.

A fit that does not overlap the photo better than the given camera is rejected (reported, and the
given camera is used); a search whose best fit overlaps less than `MIN_SEARCH_IOU` means the photo
and the mesh do not show the same thing, and ends with an InputError.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import refine_protocol.messages as m

from ..device import deterministic_algorithms
from ..errors import InputError
from ..frame import NormalizedFrame
from ..inputs import check_view
from ..losses import soft_iou
from ..proxy import decimate
from ..render import SilhouetteRenderer, hard_silhouette
from ..threads import keep_cpu_share
from ..topology import weld, welded_faces
from .blender import BlenderCamera, look_from, project, render_size, rescale_pixels
from .moments import Moments, apply_similarity
from .pose import CameraCorrection, rotation_between_deg

FIT_FACES = 4000  # faces of the mesh the fit renders at EVAL_SIZE (proportionally fewer below: _levels)
SEARCH_DIRECTIONS = 160  # about 16 degrees apart: within the gradient fit's reach
SEARCH_SIZE = 64  # longest side (pixels) of the search's renders
SEARCH_KEEP = 4  # distinct directions refined by gradient descent
DISTINCT_DEG = 30.0  # kept directions are at least this far apart
POLISH = ((64, 40, 1.0), (128, 40, 0.7), (256, 40, 0.5))  # (longest side px, iterations, sigma px) coarse to fine
# One fit from a close camera ("refine") needs the finest stage only to settle what 128 px found; a
# search compares its candidates by their final IoU (mirror views within TIE_IOU), so they settle fully.
REFINE_POLISH = (*POLISH[:2], (256, 15, 0.5))
EVAL_SIZE = 256  # longest side of the IoU that accepts or rejects a fit
TIE_IOU = 0.01
MIN_SEARCH_IOU = 0.5
LR = 0.01  # radians of orbit, object sizes of translation, log focal: per step
# "refine": a Gaussian prior centred on the given camera, of these widths: a hand-placed camera is
# about ten degrees off; distance, lens and position stay put (see the module docstring).
PRIOR_WEIGHT = 0.05
PRIOR_SIGMA = (math.radians(10.0), 0.005, 0.005)  # orbit (radians), translation (object sizes), log focal
# ...unless the mesh is nearly right: then the photo's framing is the camera's. After the held fit a
# second polish frees distance, lens and position (against the nearest-face silhouette, whose 0.5
# level lies on the outline, so it need not shrink the picture to answer the union's outward bias)
# and is kept when the rigid mesh then follows the photo's outline to within NEARLY_RIGHT of its
# radius on average (area between the outlines over their length). Measured on near cameras: the
# exact meshes 1.0-1.2 %, the nearly right inputs 0.55-1.4 %; blobs and warps 1.9-7.6 %,
# where a swollen mesh and a short lens give the same picture and the held framing is the safer.
FRAMING_POLISH = POLISH[1:2] + ((256, 15, 0.5),)
NEARLY_RIGHT = 0.015


# (share of the fit done 0..1, the best camera of the current polish stage, its soft IoU) -> True to stop
OnFitStep = Callable[[float, BlenderCamera, float], "bool | None"]


class FitCancelled(Exception):
    """The fit's step callback asked to stop."""


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
    candidates: int  # cameras scored
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The report's camera section (the fitted camera in Blender's fields)."""
        return {
            "mode": self.mode,
            "accepted": self.accepted,
            "framing": self.framing,
            "iou_before": self.iou_before,
            "iou_after": self.iou_after,
            "rotation_deg": self.rotation_deg,
            "lens_before": self.lens_before,
            "lens_after": self.lens_after,
            "candidates": self.candidates,
            "seconds": self.seconds,
            "fitted": self.fitted.to_dict(),
        }


def fit_camera(
    verts: np.ndarray,
    faces: np.ndarray,
    mask: np.ndarray,
    camera: BlenderCamera,
    mode: str,
    device: torch.device | None = None,
    on_step: OnFitStep | None = None,
    free_framing: bool = True,
) -> CameraFit:
    """Fit `camera` to the silhouette `mask` ((H, W) in [0, 1], the camera's resolution) of the
    rigid mesh (`verts` (V, 3) world units, `faces` (F, 3)). `mode` is "refine" or "search" (see
    the module docstring). Larger meshes are fitted through decimated copies (_levels).
    `on_step` is called after every gradient step; returning True raises FitCancelled.
    `free_framing` False: "refine" keeps the given camera's distance, lens and position even for a
    nearly right mesh (a refit of a camera whose framing was already found from the photo)."""
    t0 = time.perf_counter()
    levels = _levels(verts, faces, device)
    points, faces = levels[EVAL_SIZE]
    target = torch.tensor(mask, dtype=points.dtype, device=points.device)[None, None]
    frame = NormalizedFrame.around(verts)  # the object's centre and size: the orbit's centre and the step's unit
    centre, size = frame.centre, frame.scale
    if mode == m.FIT_SEARCH:
        starts, scored = _search(*levels[SEARCH_SIZE], target, camera, centre, size)
    else:
        starts, scored = [CameraCorrection(camera, centre, size)], 1
    prior, stages = (PRIOR_WEIGHT, REFINE_POLISH) if mode == m.FIT_REFINE else (0.0, POLISH)
    free_framing = free_framing and mode == m.FIT_REFINE
    extra = sum(stage[1] for stage in FRAMING_POLISH) if free_framing else 0
    steps = _StepCounter(on_step, len(starts) * sum(stage[1] for stage in stages) + extra)
    with deterministic_algorithms():  # the same fit on every run, called alone as within a refinement
        cameras = [_polish(c, levels, target, prior, stages, steps) for c in starts]
    ious = [silhouette_iou(c, points, faces, target) for c in cameras]
    before = silhouette_iou(camera, points, faces, target)
    best = _choose(cameras, ious, camera)
    if mode == m.FIT_SEARCH:
        _check_match(ious[best])
    fitted, iou_after = cameras[best], ious[best]
    accepted = iou_after > before and _sees(fitted, verts)
    framing = accepted and mode == m.FIT_SEARCH
    if free_framing:
        freed = _freed_framing(CameraCorrection(fitted if accepted else camera, centre, size), levels, target, steps, verts)
        if freed is not None:
            fitted, iou_after, accepted, framing = freed, silhouette_iou(freed, points, faces, target), True, True
    turn, seconds = rotation_between_deg(camera, fitted), time.perf_counter() - t0
    used = fitted if accepted else camera
    return CameraFit(mode, used, fitted, accepted, framing, before, iou_after, turn, camera.lens, fitted.lens, scored, seconds)


def silhouette_optimum(
    verts: np.ndarray, faces: np.ndarray, mask: np.ndarray, camera: BlenderCamera, hold_orbit: bool = False
) -> BlenderCamera:
    """The camera the silhouette alone prefers near `camera`: polished from it with nothing held
    (no prior), against the nearest-face silhouette; `hold_orbit` keeps its viewing direction and
    fits only distance, lens and position. A measurement (bench.camera_bounds): where the rigid
    mesh's outline, not the optimizer, puts the camera."""
    levels = _levels(verts, faces, None)
    frame = NormalizedFrame.around(verts)
    correction = CameraCorrection(camera, frame.centre, frame.scale)
    correction.orbit.requires_grad_(not hold_orbit)  # Adam skips a parameter without a gradient
    target = torch.tensor(mask, dtype=torch.float32)[None, None]
    with deterministic_algorithms():
        return _polish(correction, levels, target, 0.0, POLISH, _StepCounter(None, 1), "nearest")


def _check_match(iou: float) -> None:
    """A search's best rigid fit must overlap the photo by MIN_SEARCH_IOU at least."""
    if iou < MIN_SEARCH_IOU:
        raise InputError(
            f"camera search: no viewpoint makes the mesh's silhouette match the photo's (best IoU {iou:.2f}); "
            "the photo and the mesh do not seem to show the same object, or the silhouette is wrong"
        )


Mesh = tuple[torch.Tensor, torch.Tensor]  # (V, 3) float32 world points, (F, 3) int64 faces


def _freed_framing(
    start: CameraCorrection, levels: dict[int, Mesh], target: torch.Tensor, steps: _StepCounter, verts: np.ndarray
) -> BlenderCamera | None:
    """The camera polished from `start` (a correction at zero) with distance, lens and position
    free too, if under it the rigid mesh follows the photo's outline to within NEARLY_RIGHT (and
    better than under the start); else None (the held framing stands)."""
    with deterministic_algorithms():
        freed = _polish(start, levels, target, 0.0, FRAMING_POLISH, steps, "nearest")
    points, faces = levels[EVAL_SIZE]
    error = outline_error(freed, points, faces, target)
    if error < min(NEARLY_RIGHT, outline_error(start.camera, points, faces, target)) and _sees(freed, verts):
        return freed
    return None


def _levels(verts: np.ndarray, faces: np.ndarray, device: torch.device | None) -> dict[int, Mesh]:
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


def unknown_camera(verts: np.ndarray, image_wh: tuple[int, int]) -> BlenderCamera:
    """The starting guess when there is no camera: Blender's default lens and sensor, the photo's
    size, looking at the object from the front (-Y, as generators' meshes face after a Y-up GLB
    import), from where it fills about 85 % of the frame."""
    lo, hi = verts.min(0), verts.max(0)
    radius = float(np.linalg.norm(hi - lo) / 2)
    base = BlenderCamera(matrix_world=tuple(map(tuple, np.eye(4))), resolution_x=image_wh[0], resolution_y=image_wh[1])
    fx, fy, _, _ = base.intrinsics()
    half_fov = math.atan(0.85 * min(image_wh[0] / fx, image_wh[1] / fy) / 2)
    return look_from(base, (lo + hi) / 2, np.array([0.0, -1.0, 0.0]), radius / math.sin(half_fov), np.array([0.0, 0.0, 1.0]))


def search_start(camera: BlenderCamera | None, verts: np.ndarray, image_wh: tuple[int, int]) -> BlenderCamera:
    """The camera a search starts from. None: `unknown_camera`. A given camera is only a hint
    (its pose breaks ties between look-alike views, its lens and sensor are kept); its resolution
    becomes the photo's, as a search finds the framing anyway."""
    if camera is None:
        return unknown_camera(verts, image_wh)
    if camera.image_size_wh == tuple(image_wh):
        return camera
    return replace(camera, resolution_x=int(image_wh[0]), resolution_y=int(image_wh[1]), resolution_percentage=100)


def silhouette_iou(
    camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor, visible: torch.Tensor | None = None
) -> float:
    """IoU of the mesh's hard silhouette and the (1, 1, H, W) target, at EVAL_SIZE, over the
    pixels `visible` ((1, 1, H, W), 0 where an occluder hides the object) or all of them."""
    sil, ref = _hard_pair(camera, points, faces, target)
    if visible is not None:
        seen = F.interpolate(visible, size=ref.shape, mode="area")[0, 0] > 0.5
        ref, sil = ref & seen, sil & seen
    return float(_iou(sil[None], ref)[0])


def outline_error(camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor) -> float:
    """How far the mesh's hard outline lies from the (1, 1, H, W) target's on average, as a share of
    the target's radius (sqrt(area / pi)), at EVAL_SIZE: the area between them over the length of
    the target's outline."""
    sil, ref = _hard_pair(camera, points, faces, target)
    outline = ref & (F.max_pool2d((~ref).float()[None, None], 3, 1, 1)[0, 0] > 0)
    radius = math.sqrt(max(int(ref.sum()), 1) / math.pi)
    return int((sil ^ ref).sum()) / max(int(outline.sum()), 1) / radius


def _hard_pair(
    camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mesh's hard silhouette under `camera` and the (1, 1, H, W) target, both (h, w) bool at
    EVAL_SIZE (the target area-filtered)."""
    hw = _size(camera, EVAL_SIZE)
    ref = F.interpolate(target, size=hw, mode="area")[0, 0] > 0.5
    return hard_silhouette(_scaled(project(camera, points), camera, hw)[None], faces, hw)[0], ref


def _size(camera: BlenderCamera, longest: int) -> tuple[int, int]:
    """(H, W) with the camera's aspect and `longest` pixels on the longest side (never above it)."""
    return render_size(camera.image_size_wh, min(longest, max(camera.image_size_wh)))


def _scaled(pix: torch.Tensor, camera: BlenderCamera, hw: tuple[int, int]) -> torch.Tensor:
    """(..., 3) pixels at the camera's resolution -> at (H, W)."""
    return rescale_pixels(pix, camera.image_size_wh, hw)


def _search(points, faces, target, camera: BlenderCamera, centre: np.ndarray, size: float):
    """Directions all around the object, each with its image-plane similarity; returns the
    corrections of the best distinct few and how many cameras were scored."""
    hw = _size(camera, SEARCH_SIZE)
    ref = F.interpolate(target, size=hw, mode="area")[0, 0] > 0.5
    distance = float(np.linalg.norm(camera.location - centre))
    up = np.asarray(camera.matrix_world, dtype=np.float64)[:3, 1]
    candidates = [look_from(camera, centre, d, distance, up) for d in _sphere(SEARCH_DIRECTIONS)]
    goal = Moments.of(ref[None].float())
    best: list[tuple[float, int, torch.Tensor]] = []  # (IoU, candidate, moved 2D points)
    for chunk in range(0, len(candidates), 32):
        keep_cpu_share()
        cams = candidates[chunk : chunk + 32]
        pix = torch.stack([_scaled(project(c, points), c, hw) for c in cams])
        source = Moments.of(hard_silhouette(pix, faces, hw).float())
        for turn in (torch.zeros(len(cams), dtype=torch.float64), goal.angle - source.angle, goal.angle - source.angle + math.pi):
            moved, iou = _similar(pix, faces, source, goal, ref, turn)
            best += [(float(iou[i]), chunk + i, moved[i]) for i in range(len(cams))]
    best.sort(key=lambda b: -b[0])
    starts: list[CameraCorrection] = []
    for _, index, moved in best:
        direction = candidates[index].view_direction
        if all(np.degrees(np.arccos(np.clip(direction @ s.camera.view_direction, -1, 1))) >= DISTINCT_DEG for s in starts):
            correction = CameraCorrection(candidates[index], centre, size)
            pix = _scaled(project(candidates[index], points), candidates[index], hw)
            starts.append(_start_from_similarity(correction, pix, moved, hw))
        if len(starts) == SEARCH_KEEP:
            break
    return starts, 3 * len(candidates)


def _similar(pix: torch.Tensor, faces: torch.Tensor, source: Moments, goal: Moments, ref: torch.Tensor, turn: torch.Tensor):
    """Move each view's silhouette (moments `source`, N views) onto the reference's area and
    centroid (moments `goal`, one view), turned by `turn` (N,); returns the moved (N, V, 3) pixels
    and their (N,) IoUs with the reference `ref` (H, W) bool."""
    goal = Moments(goal.area.expand(len(pix)), goal.centroid.expand(len(pix), 2), goal.angle, goal.elongation)
    scale = torch.sqrt(goal.area / source.area.clamp(min=1.0))
    moved = torch.cat((apply_similarity(pix[..., :2], source, goal, scale, turn), pix[..., 2:]), -1)
    return moved, _iou(hard_silhouette(moved, faces, ref.shape), ref)


def _iou(sil: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool vs (H, W) bool -> (N,) IoU."""
    inter = (sil & ref).sum((1, 2)).double()
    return inter / (sil | ref).sum((1, 2)).double().clamp(min=1)


def _start_from_similarity(correction: CameraCorrection, pix: torch.Tensor, moved: torch.Tensor, hw: tuple[int, int]):
    """Set the correction's parameters to the camera change that moves the silhouette from `pix`
    to `moved` ((V, 3) pixels at (H, W)): a roll about the object's centre, a dolly (perspective)
    or zoom (orthographic) for the scale, a sideways move for the position."""
    camera = correction.camera
    a, b = pix[:, :2].double(), moved[:, :2].double()
    a0, b0 = a - a.mean(0), b - b.mean(0)
    scale = max(float(torch.sqrt((b0**2).sum() / (a0**2).sum().clamp(min=1e-12))), 1e-3)  # > 0 for a degenerate photo
    turn = float(torch.atan2((a0[:, 0] * b0[:, 1] - a0[:, 1] * b0[:, 0]).sum(), (a0 * b0).sum()))
    centre_cam = correction.centre.numpy()
    c_pix = _scaled(project(camera, torch.tensor(correction.centre_world[None])), camera, hw)[0]
    # Where the object's centre lands after the similarity (a maps to b).
    target = b.mean(0) + scale * _rotate(c_pix[:2].double() - a.mean(0), turn)
    fx, fy, cx, cy = camera.intrinsics()
    w, h = camera.image_size_wh
    u, v = float(target[0]) * w / hw[1], float(target[1]) * h / hw[0]
    depth = -centre_cam[2]
    log_focal = 0.0
    if camera.type == "ORTHO":
        log_focal, x, y = math.log(scale), (u - cx) / (fx * scale), -(v - cy) / (fy * scale)
        shift = np.array([x - centre_cam[0], y - centre_cam[1], 0.0])
    else:
        depth_new = depth / scale
        x, y = (u - cx) / fx * depth_new, -(v - cy) / fy * depth_new
        shift = np.array([x - centre_cam[0], y - centre_cam[1], depth - depth_new])
    # A turn of the picture by +turn (from +u towards +v) is a roll of -turn about the camera's +Z.
    correction.set_(orbit=np.array([0.0, 0.0, -turn]), shift=shift / correction.size, log_focal=log_focal)
    return correction


def _rotate(p: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.stack((c * p[0] - s * p[1], s * p[0] + c * p[1]))


@dataclass
class _StepCounter:
    """Calls the fit's step callback with the share of all polish steps done."""

    on_step: OnFitStep | None
    total: int
    done: int = 0

    def __call__(self, camera: BlenderCamera, iou: float) -> None:
        self.done += 1
        keep_cpu_share()
        if self.on_step is not None and self.on_step(self.done / self.total, camera, iou):
            raise FitCancelled


def _polish(
    correction: CameraCorrection,
    levels: dict[int, Mesh],
    target: torch.Tensor,
    prior: float,
    stages: tuple[tuple[int, int, float], ...],
    step: _StepCounter,
    blend: str = "union",
) -> BlenderCamera:
    """Gradient descent on the correction against the soft silhouette (SilhouetteRenderer's
    `blend`), coarse to fine (each stage with the mesh of its size, `levels`); returns the camera
    with the lowest loss of the last stage."""
    optimizer = torch.optim.Adam(correction.parameters(), lr=LR)
    best: tuple[float, BlenderCamera] = (math.inf, correction.fitted())
    for longest, iterations, sigma in stages:
        for group in optimizer.param_groups:  # each stage settles: a step size decaying to a tenth
            group["lr"] = LR
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=LR / 10)
        hw = _size(correction.camera, longest)
        points, faces = levels[longest]
        renderer = SilhouetteRenderer(hw, sigma=sigma**2, blend=blend)
        ref = F.interpolate(target, size=hw, mode="area")[0]
        best = (math.inf, best[1])
        for _ in range(iterations):
            optimizer.zero_grad(set_to_none=True)
            alpha = renderer(_scaled(correction.project(points), correction.camera, hw)[None], faces)
            overlap = soft_iou(alpha, ref)
            loss = 1 - overlap + prior * correction.prior(*PRIOR_SIGMA)
            if loss.item() < best[0]:
                best = (loss.item(), correction.fitted())
            loss.backward()
            optimizer.step()
            decay.step()
            step(best[1], overlap.item())
    return best[1]


def _choose(cameras: list[BlenderCamera], ious: list[float], given: BlenderCamera) -> int:
    """The best IoU, or among fits within TIE_IOU of it the one closest to the given camera."""
    top = max(ious)
    near = [i for i, iou in enumerate(ious) if iou >= top - TIE_IOU]
    return min(near, key=lambda i: rotation_between_deg(given, cameras[i]))


def _sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit directions (a Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(1 - z**2)
    phi = i * math.pi * (3 - math.sqrt(5))
    return np.stack((r * np.cos(phi), r * np.sin(phi), z), -1)
