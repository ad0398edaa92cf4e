"""The camera a search starts from: the given one at the photo's size, or a guess without one."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .blender import BlenderCamera, look_from


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
