"""A mesh seen through a Blender camera at a size: the one way every hard silhouette is made (the
camera fit, the report's silhouette IoU, the previews, the occluders' pixels), and the mask IoU."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..camera.blender import BlenderCamera, project, render_size, rescale_pixels
from .silhouette import hard_silhouette

IOU_SIZE = 256  # longest side (px) at which silhouette IoUs and outline errors are measured


def view_size(camera: BlenderCamera, longest: int | None = None) -> tuple[int, int]:
    """(H, W) with the camera's aspect and `longest` pixels on the longest side (never above the
    camera's own; None: the camera's own)."""
    wh = camera.image_size_wh
    return render_size(wh, min(longest or max(wh), max(wh)))


def view_pixels(camera: BlenderCamera, points: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(V, 3) world points -> (V, 3) pixels (x, y, depth) at (H, W) = `hw` (of the camera's aspect)."""
    return rescale_pixels(project(camera, points), camera.image_size_wh, hw)


def seen_silhouette(camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, longest: int | None = None) -> torch.Tensor:
    """(H, W) bool: the pixel centres the mesh ((V, 3) world points, (F, 3) faces) covers, seen
    through the camera at `longest` pixels on the longest side (view_size)."""
    hw = view_size(camera, longest)
    return hard_silhouette(view_pixels(camera, points, hw)[None], faces, hw)[0]


def target_at(target: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A (1, 1, H, W) silhouette in [0, 1] area-filtered to `hw`: (h, w) bool."""
    return F.interpolate(target, size=hw, mode="area")[0, 0] > 0.5


def mask_ious(masks: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool vs (H, W) bool -> (N,) float64 IoU (0 where both are empty)."""
    inter = (masks & ref).sum((1, 2)).double()
    return inter / (masks | ref).sum((1, 2)).double().clamp(min=1)


def mask_iou(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Intersection over union of two boolean masks of the same shape (1.0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def silhouette_iou(
    camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor, visible: torch.Tensor | None = None
) -> float:
    """IoU of the mesh's hard silhouette and the (1, 1, H, W) target, at IOU_SIZE, over the
    pixels `visible` ((1, 1, H, W), 0 where an occluder hides the object) or all of them."""
    sil, ref = _hard_pair(camera, points, faces, target)
    if visible is not None:
        seen = target_at(visible, ref.shape)
        ref, sil = ref & seen, sil & seen
    return float(mask_ious(sil[None], ref)[0])


def outline_error(camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor) -> float:
    """How far the mesh's hard outline lies from the (1, 1, H, W) target's on average, as a share of
    the target's radius (sqrt(area / pi)), at IOU_SIZE: the area between them over the length of
    the target's outline."""
    sil, ref = _hard_pair(camera, points, faces, target)
    outline = ref & (F.max_pool2d((~ref).float()[None, None], 3, 1, 1)[0, 0] > 0)
    radius = math.sqrt(max(int(ref.sum()), 1) / math.pi)
    return int((sil ^ ref).sum()) / max(int(outline.sum()), 1) / radius


def _hard_pair(
    camera: BlenderCamera, points: torch.Tensor, faces: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mesh's hard silhouette under `camera` and the (1, 1, H, W) target, both (h, w) bool at
    IOU_SIZE (the target area-filtered)."""
    return seen_silhouette(camera, points, faces, IOU_SIZE), target_at(target, view_size(camera, IOU_SIZE))
