"""The viewpoint search: viewing directions around the object, each matched to the photo's
silhouette in the image plane by moments and scored by IoU at low resolution in batches; the best
few distinct directions become the camera corrections the polish starts from.

Two families of views, upright and free. Photos are taken upright: the camera level (no roll
against the world's +Z) and the object on its base, seen from a little below to steeply above. An
upright view is fixed by its azimuth and elevation; the image-plane similarity then only sets the
picture's size and position (area and centroid). A free view may look from anywhere and is turned
in the picture too (the long axis' direction, or none).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..camera.blender import BlenderCamera, look_from
from ..camera.moments import Moments, apply_similarity
from ..camera.pose import CameraCorrection
from ..render import hard_silhouette
from ..render.view import mask_ious, target_at, view_pixels, view_size
from ..threads import keep_cpu_share

SEARCH_DIRECTIONS = 160  # free views: about 16 degrees apart, within the gradient fit's reach
# Upright views: every 15 degrees of azimuth and of elevation, from a little below the object's
# base to steeply above (a hand-held or tripod photo; straight down has no "up" to keep level).
UPRIGHT_AZIMUTHS = 24
UPRIGHT_ELEVATIONS = (-15.0, 0.0, 15.0, 30.0, 45.0, 60.0, 75.0)
UP = np.array([0.0, 0.0, 1.0])  # Blender's world up
SEARCH_SIZE = 64  # longest side (pixels) of the search's renders
SEARCH_KEEP = 4  # distinct directions refined by gradient descent
DISTINCT_DEG = 30.0  # kept directions are at least this far apart


def search_views(points, faces, target, camera: BlenderCamera, centre: np.ndarray, size: float, upright: bool):
    """Upright or free directions around the object, each with its image-plane similarity; returns
    the best distinct few as (IoU at SEARCH_SIZE, correction), best first, and how many cameras
    were scored."""
    hw = view_size(camera, SEARCH_SIZE)
    ref = target_at(target, hw)
    distance = float(np.linalg.norm(camera.location - centre))
    if upright:
        directions, up = upright_directions(), UP
    else:
        directions, up = _sphere(SEARCH_DIRECTIONS), np.asarray(camera.matrix_world, dtype=np.float64)[:3, 1]
    candidates = [look_from(camera, centre, d, distance, up) for d in directions]
    goal = Moments.of(ref[None].float())
    best: list[tuple[float, int, torch.Tensor]] = []  # (IoU, candidate, moved 2D points)
    for chunk in range(0, len(candidates), 32):
        keep_cpu_share()
        cams = candidates[chunk : chunk + 32]
        pix = torch.stack([view_pixels(c, points, hw) for c in cams])
        source = Moments.of(hard_silhouette(pix, faces, hw).float())
        level = torch.zeros(len(cams), dtype=torch.float64)
        turns = (level,) if upright else (level, goal.angle - source.angle, goal.angle - source.angle + math.pi)
        for turn in turns:
            moved, iou = _similar(pix, faces, source, goal, ref, turn)
            best += [(float(iou[i]), chunk + i, moved[i]) for i in range(len(cams))]
    best.sort(key=lambda b: -b[0])
    starts: list[tuple[float, CameraCorrection]] = []
    for iou, index, moved in best:
        if all(apart_deg(candidates[index], s.camera) >= DISTINCT_DEG for _, s in starts):
            correction = CameraCorrection(candidates[index], centre, size)
            pix = view_pixels(candidates[index], points, hw)
            starts.append((iou, _start_from_similarity(correction, pix, moved, hw)))
        if len(starts) == SEARCH_KEEP:
            break
    return starts, len(best)


def _similar(pix: torch.Tensor, faces: torch.Tensor, source: Moments, goal: Moments, ref: torch.Tensor, turn: torch.Tensor):
    """Move each view's silhouette (moments `source`, N views) onto the reference's area and
    centroid (moments `goal`, one view), turned by `turn` (N,); returns the moved (N, V, 3) pixels
    and their (N,) IoUs with the reference `ref` (H, W) bool."""
    goal = Moments(goal.area.expand(len(pix)), goal.centroid.expand(len(pix), 2), goal.angle, goal.elongation)
    scale = torch.sqrt(goal.area / source.area.clamp(min=1.0))
    moved = torch.cat((apply_similarity(pix[..., :2], source, goal, scale, turn), pix[..., 2:]), -1)
    return moved, mask_ious(hard_silhouette(moved, faces, ref.shape), ref)


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
    c_pix = view_pixels(camera, torch.tensor(correction.centre_world[None]), hw)[0]
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


def apart_deg(a: BlenderCamera, b: BlenderCamera) -> float:
    """Angle (degrees) between two cameras' viewing directions."""
    return float(np.degrees(np.arccos(np.clip(a.view_direction @ b.view_direction, -1.0, 1.0))))


def upright_directions() -> np.ndarray:
    """(UPRIGHT_AZIMUTHS x len(UPRIGHT_ELEVATIONS), 3) unit directions from the object to an upright camera."""
    az = np.radians(np.arange(UPRIGHT_AZIMUTHS) * 360.0 / UPRIGHT_AZIMUTHS)
    el = np.radians(np.asarray(UPRIGHT_ELEVATIONS))
    a, e = np.meshgrid(az, el, indexing="ij")
    return np.stack((np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)), -1).reshape(-1, 3)


def _sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit directions (a Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(1 - z**2)
    phi = i * math.pi * (3 - math.sqrt(5))
    return np.stack((r * np.cos(phi), r * np.sin(phi), z), -1)
