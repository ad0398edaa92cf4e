"""Blender data <-> engine inputs: the camera's fields and the "REFINE" shape key's positions
(the fast foreach paths)."""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from .refine_protocol.messages import CAMERA_FIELDS, MATRIX_WORLD, RENDER_FIELDS

KEY_NAME = "REFINE"
BASIS_NAME = "Basis"


class InputProblem(ValueError):
    """Something about the scene that stops a refinement; the message is shown to the user."""


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
