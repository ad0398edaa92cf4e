"""Blender data <-> engine arrays: the mesh in world space, the camera's fields, the reference
image, and writing positions into the "REFINE" shape key with the fast foreach paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
import numpy as np

from .refine_protocol.messages import CAMERA_FIELDS, MATRIX_WORLD, RENDER_FIELDS, SILHOUETTE_AUTO, SILHOUETTE_MASK

KEY_NAME = "REFINE"
BASIS_NAME = "Basis"


class InputProblem(ValueError):
    """Something about the scene that stops a refinement; the message is shown to the user."""


def mesh_world(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """The base mesh (no modifiers, no shape keys) as (V, 3) float32 world positions and
    (F, 3) int32 triangles (n-gons triangulated; vertex order kept)."""
    mesh = obj.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    mesh.calc_loop_triangles()
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    m = np.array(obj.matrix_world, dtype=np.float64)
    world = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
    return world.astype(np.float32), tris.reshape(-1, 3)


def world_to_local(obj: bpy.types.Object, world: np.ndarray) -> np.ndarray:
    """(V, 3) world positions -> float32 object-local positions."""
    m = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64)).astype(np.float32)
    return np.asarray(world, np.float32) @ m[:3, :3].T + m[:3, 3]


def camera_fields(camera: bpy.types.Object | None, scene: bpy.types.Scene) -> dict[str, Any]:
    """The engine's camera JSON (docs/protocol.md) from a camera object and the render settings."""
    if camera is None or camera.type != "CAMERA":
        raise InputProblem("no camera: set one in the REFINE panel or make the scene camera active")
    cam = camera.data
    if cam.type not in ("PERSP", "ORTHO"):
        raise InputProblem(f"camera '{camera.name}': {cam.type} cameras are not supported (use perspective or orthographic)")
    fields: dict[str, Any] = {MATRIX_WORLD: [[camera.matrix_world[i][j] for j in range(4)] for i in range(4)]}
    fields.update({name: getattr(cam, name) for name in CAMERA_FIELDS})
    fields.update({name: getattr(scene.render, name) for name in RENDER_FIELDS})
    return fields


def reference_image(image: bpy.types.Image | None, path: str, silhouette: str) -> tuple[bytes | None, np.ndarray | None]:
    """The photo as encoded file bytes (a file on disk or packed), and the silhouette as a (H, W)
    float32 mask with row 0 at the top, or None when the engine reads it from the photo (its alpha)
    or finds it there. `silhouette` is one of messages.SILHOUETTE: with SILHOUETTE_MASK, `image` is
    the mask image and no photo is sent; an image that only exists in memory is sent as its alpha."""
    if silhouette == SILHOUETTE_MASK:
        if image is None:
            raise InputProblem("no mask image: choose one in the REFINE panel (Silhouette: Mask Image)")
        return None, _pixels(image)[..., :3].mean(axis=-1)
    if path:
        file = Path(bpy.path.abspath(path))
        if not file.is_file():
            raise InputProblem(f"reference image file not found: {file}")
        return file.read_bytes(), None
    if image is None:
        raise InputProblem("no reference image: choose one in the REFINE panel (or give the camera a background image)")
    if image.packed_file is not None:
        return bytes(image.packed_file.data), None  # type: ignore[arg-type]  # BYTE_STRING: bytes at run time
    on_disk = Path(bpy.path.abspath(image.filepath)) if image.source == "FILE" and image.filepath else None
    if on_disk is not None and on_disk.is_file():
        return on_disk.read_bytes(), None
    if silhouette == SILHOUETTE_AUTO or image.channels != 4:
        raise InputProblem(f"image '{image.name}' exists only in memory and has no silhouette: save it to a file first")
    return None, np.ascontiguousarray(_pixels(image)[..., 3])


def _pixels(image: bpy.types.Image) -> np.ndarray:
    """(H, W, 4) float32 RGBA, row 0 at the top (Blender stores the bottom row first)."""
    w, h = image.size
    if w == 0 or h == 0:
        raise InputProblem(f"image '{image.name}' has no pixels")
    px = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(px)  # type: ignore[attr-defined]  # a bpy_prop_array at run time
    return px.reshape(h, w, 4)[::-1]


def store_mask(name: str, mask: np.ndarray) -> bpy.types.Image:
    """The silhouette the engine found ((H, W) uint8, row 0 at the top) as a packed grey image
    datablock `name` (replaced if it exists): saved with the .blend, shown over the photo in the
    Image Editor, paintable, and usable as the next run's mask."""
    h, w = mask.shape
    image = bpy.data.images.get(name)
    if image is not None and tuple(image.size) != (w, h):
        bpy.data.images.remove(image)
        image = None
    if image is None:
        image = bpy.data.images.new(name, w, h, alpha=False)
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :3] = (mask[::-1].astype(np.float32) / 255.0)[..., None]
    image.pixels.foreach_set(rgba.ravel())  # type: ignore[attr-defined]
    image.pack()
    return image


def camera_background_image(camera: bpy.types.Object | None) -> bpy.types.Image | None:
    if camera is None or camera.type != "CAMERA":
        return None
    for bg in camera.data.background_images:
        if bg.image is not None:
            return bg.image
    return None


def key_points(key: bpy.types.ShapeKey) -> Any:
    """The fastest collection of a shape key's positions (ShapeKey.points exists from 4.1 on)."""
    return key.points if hasattr(key, "points") else key.data


def read_key(key: bpy.types.ShapeKey) -> np.ndarray:
    pts = key_points(key)
    out = np.empty(len(pts) * 3, dtype=np.float32)
    pts.foreach_get("co", out)
    return out.reshape(-1, 3)


def write_key(key: bpy.types.ShapeKey, local: np.ndarray) -> None:
    key_points(key).foreach_set("co", np.ascontiguousarray(local, dtype=np.float32).ravel())
