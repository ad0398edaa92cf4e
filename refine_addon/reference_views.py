"""Reference images placed in the scene as image empties (Add > Image > Reference or Background):
each is an exact orthographic view of the object, the further views a refinement fits besides its
photo (or, without a photo, all of them).

Blender draws an image empty as a picture in the empty's local XY plane: its longer side
`empty_display_size` long (times the object's scale), its corner at `empty_image_offset` times its
size from the origin (-0.5, -0.5: centred). The view is the orthographic camera that sees the
picture fill its frame, looking at it from its front (the empty's +Z; `empty_image_side` "BACK":
from behind), up its +Y. A negative scale mirrors the picture: the camera stays upright and the
pixels are mirrored instead, as the artist sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from .refine_protocol.messages import MATRIX_WORLD, RENDER_FIELDS
from .scene_io import InputProblem

ORTHO = "ORTHO"  # Blender's Camera.type
MAX_SIDE = 1024  # px: a view's camera resolution, at most (the engine renders at most 256 by default)


@dataclass(frozen=True)
class EmptyView:
    camera: dict[str, Any]  # the engine's camera fields (docs/protocol.md)
    flip: tuple[bool, bool]  # mirror the image's pixels left-right, top-bottom, to see them as the camera does


def empty_view(
    matrix_world: np.ndarray,
    display_size: float,
    offset: tuple[float, float],
    image_wh: tuple[int, int],
    signs: tuple[float, float],
    from_back: bool,
    verts: np.ndarray,
) -> EmptyView:
    """The orthographic view of an image empty (`matrix_world` (4, 4), its object's scale `signs`
    (x, y), the image's (W, H) pixels) that sees the whole mesh `verts` ((V, 3) world) in its clip range."""
    m = np.asarray(matrix_world, dtype=np.float64)
    w, h = image_wh
    aspect = np.array([w, h], dtype=np.float64) / max(w, h)
    half = [m[:3, i] * aspect[i] * 0.5 * display_size for i in (0, 1)]  # signed half extents of the picture
    centre = m[:3, 3] + sum(half[i] * (2 * offset[i] + 1) for i in (0, 1))
    right, up = (m[:3, i] * np.sign(signs[i]) / np.linalg.norm(m[:3, i]) for i in (0, 1))
    back = np.cross(right, up)
    flip = [signs[0] < 0, signs[1] < 0]
    if from_back:
        right, back, flip[0] = -right, -back, not flip[0]
    extent = float(np.ptp(verts, axis=0).max()) if len(verts) else 1.0
    along = (np.asarray(verts) - centre) @ back
    distance = float(along.max()) + extent  # in front of the whole mesh
    rotation = np.stack((right, up, back), axis=1)  # camera axes in world: columns
    world = np.eye(4)
    world[:3, :3], world[:3, 3] = rotation, centre + distance * back
    size = max(float(np.linalg.norm(half[i])) * 2 for i in (0, 1))
    # The fields it sets (the others keep Blender's defaults: no lens shift, the sensor fit to the longer side).
    camera: dict[str, Any] = {MATRIX_WORLD: world.tolist(), "type": ORTHO, "ortho_scale": size}
    camera.update(clip_start=0.01 * extent, clip_end=distance - float(along.min()) + extent)
    shrink = min(1.0, MAX_SIDE / max(w, h))  # the engine resamples the picture to the camera's size
    camera.update(dict(zip(RENDER_FIELDS, (max(round(w * shrink), 1), max(round(h * shrink), 1), 100, 1.0, 1.0))))
    return EmptyView(camera, (flip[0], flip[1]))


def image_empties(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """The scene's visible image empties that hold an image, by name."""
    found = [
        obj
        for obj in scene.objects
        if obj.type == "EMPTY" and obj.empty_display_type == "IMAGE" and obj.data is not None and obj.visible_get()
    ]
    return sorted(found, key=lambda obj: obj.name)


def view_of(obj: bpy.types.Object, verts: np.ndarray) -> EmptyView:
    """An image empty's view (empty_view). Raises InputProblem for an image without pixels."""
    image = obj.data
    w, h = image.size
    if w == 0 or h == 0:
        raise InputProblem(f"image empty '{obj.name}': its image '{image.name}' has no pixels (is the file missing?)")
    matrix = np.array([[obj.matrix_world[i][j] for j in range(4)] for i in range(4)])
    signs = (1.0 if obj.scale[0] >= 0 else -1.0, 1.0 if obj.scale[1] >= 0 else -1.0)
    offset = (obj.empty_image_offset[0], obj.empty_image_offset[1])
    return empty_view(matrix, obj.empty_display_size, offset, (w, h), signs, obj.empty_image_side == "BACK", verts)
