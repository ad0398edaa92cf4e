"""Blender's camera model as pure math.

Conventions:
- World and camera frames are Blender's: the camera looks down its local -Z axis, +Y is up.
- Pixel coordinates (u, v): u grows to the right, v grows downwards, pixel (col j, row i) covers
  [j, j+1) x [i, i+1), so its centre is (j + 0.5, i + 0.5). Units are pixels of the rendered image
  (resolution after `resolution_percentage`).
- The intrinsics follow Blender's `BKE_camera_params_compute_viewplane`: the sensor is fitted to one
  side of the image; with a non-square pixel aspect the other side is scaled by `ycor`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from ..errors import InputError

_SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")
_TYPES = ("PERSP", "ORTHO")
_MAX_RESOLUTION = 16384


@dataclass(frozen=True)
class BlenderCamera:
    """A Blender camera with its render settings (the fields of `bpy.types.Camera` and `RenderSettings`).

    `matrix_world` is camera-to-world (4x4, row-major); it may contain scale, which Blender ignores
    for projection (we do too).
    """

    matrix_world: tuple[tuple[float, ...], ...]
    type: str = "PERSP"
    lens: float = 50.0
    ortho_scale: float = 6.0
    sensor_width: float = 36.0
    sensor_height: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    clip_start: float = 0.1
    clip_end: float = 1000.0
    resolution_x: int = 1920
    resolution_y: int = 1080
    resolution_percentage: int = 100
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    # ---------------------------------------------------------------- parsing
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BlenderCamera:
        """Validate a JSON-like mapping (Blender's field names) into a camera.

        Raises InputError naming the first bad field. Unknown keys are rejected so typos surface.
        """
        if not isinstance(data, Mapping):
            raise InputError("camera: expected a JSON object with Blender camera fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"camera: unknown field(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
        if "matrix_world" not in data:
            raise InputError("camera: missing field 'matrix_world' (4x4 camera-to-world matrix, rows)")
        try:
            m = np.asarray(data["matrix_world"], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("camera: 'matrix_world' must be a 4x4 array of numbers") from None
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InputError(f"camera: 'matrix_world' must be a finite 4x4 matrix, got shape {m.shape}")
        rot = m[:3, :3]
        if np.linalg.norm(rot, axis=0).min() < 1e-9 or abs(np.linalg.det(rot)) < 1e-12:
            raise InputError("camera: 'matrix_world' is singular (zero scale)")
        kwargs: dict[str, Any] = {"matrix_world": tuple(tuple(float(x) for x in row) for row in m)}
        for f in fields(cls):
            if f.name == "matrix_world" or f.name not in data:
                continue
            value = data[f.name]
            if f.type == "str":
                if not isinstance(value, str):
                    raise InputError(f"camera: '{f.name}' must be a string")
                kwargs[f.name] = value.upper()
            elif f.type == "int":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value)
                    or value != int(value)
                ):
                    raise InputError(f"camera: '{f.name}' must be an integer, got {value!r}")
                kwargs[f.name] = int(value)
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise InputError(f"camera: '{f.name}' must be a finite number, got {value!r}")
                kwargs[f.name] = float(value)
        cam = cls(**kwargs)
        cam.validate()
        return cam

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validate(self) -> None:
        """Raise InputError if a field is out of its valid range."""
        if self.type not in _TYPES:
            raise InputError(f"camera: 'type' must be one of {', '.join(_TYPES)} (got {self.type!r})")
        if self.sensor_fit not in _SENSOR_FITS:
            raise InputError(f"camera: 'sensor_fit' must be one of {', '.join(_SENSOR_FITS)} (got {self.sensor_fit!r})")
        positive = ["lens", "ortho_scale", "sensor_width", "sensor_height", "pixel_aspect_x", "pixel_aspect_y", "clip_start"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"camera: '{name}' must be > 0 (got {getattr(self, name)})")
        if not self.clip_end > self.clip_start:
            raise InputError("camera: 'clip_end' must be greater than 'clip_start'")
        if not 1 <= self.resolution_percentage <= 100 * _MAX_RESOLUTION:
            raise InputError("camera: 'resolution_percentage' must be >= 1")
        w, h = self.image_size_wh
        for name, value in (("resolution_x", w), ("resolution_y", h)):
            if not 1 <= value <= _MAX_RESOLUTION:
                raise InputError(f"camera: '{name}' after percentage must be in 1..{_MAX_RESOLUTION} (got {value})")

    # ------------------------------------------------------------ intrinsics
    @property
    def image_size_wh(self) -> tuple[int, int]:
        """Rendered image size (width, height) in pixels, after `resolution_percentage`."""
        p = self.resolution_percentage
        return self.resolution_x * p // 100, self.resolution_y * p // 100

    def _fit_horizontal(self) -> bool:
        w, h = self.image_size_wh
        if self.sensor_fit == "AUTO":
            return w * self.pixel_aspect_x >= h * self.pixel_aspect_y
        return self.sensor_fit == "HORIZONTAL"

    def intrinsics(self) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) in pixels.

        Perspective: u = cx + fx * x / depth. Orthographic: u = cx + fx * x (fx in pixels per world
        unit). v uses -y (pixel rows grow downwards).
        """
        w, h = self.image_size_wh
        ycor = self.pixel_aspect_y / self.pixel_aspect_x
        horizontal = self._fit_horizontal()
        if self.sensor_fit == "VERTICAL":
            sensor = self.sensor_height
        else:
            sensor = self.sensor_width
        viewfac = w if horizontal else ycor * h
        if self.type == "ORTHO":
            fx = viewfac / self.ortho_scale
        else:
            fx = viewfac * self.lens / sensor
        fy = fx / ycor
        cx = w / 2 - self.shift_x * viewfac
        cy = h / 2 + self.shift_y * viewfac / ycor
        return fx, fy, cx, cy

    # ------------------------------------------------------------ extrinsics
    def world_to_camera(self) -> np.ndarray:
        """4x4 world-to-camera matrix (Blender camera frame, scale removed)."""
        m = np.asarray(self.matrix_world, dtype=np.float64)
        rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)
        out = np.eye(4)
        out[:3, :3] = rot.T
        out[:3, 3] = -rot.T @ m[:3, 3]
        return out

    @property
    def location(self) -> np.ndarray:
        return np.asarray(self.matrix_world, dtype=np.float64)[:3, 3].copy()

    @property
    def view_direction(self) -> np.ndarray:
        """Unit world-space direction the camera looks along (its local -Z)."""
        m = np.asarray(self.matrix_world, dtype=np.float64)
        z = m[:3, 2] / np.linalg.norm(m[:3, 2])
        return -z


def ray_directions(camera: BlenderCamera, points: np.ndarray) -> np.ndarray:
    """(N, 3) unit directions of the viewing rays through world points: from the camera's centre
    (perspective) or the view axis (orthographic). Motion along them leaves the picture unchanged."""
    if camera.type == "ORTHO":
        return np.broadcast_to(camera.view_direction, np.shape(points)).copy()
    d = np.asarray(points, dtype=np.float64) - camera.location
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def project(camera: BlenderCamera, points: torch.Tensor) -> torch.Tensor:
    """Project world points to pixels, differentiably.

    Args:
        camera: the Blender camera.
        points: (..., 3) world coordinates.
    Returns:
        (..., 3): pixel u, pixel v (see module conventions) and depth along the view axis (world
        units, positive in front of the camera).
    """
    w2c = torch.as_tensor(camera.world_to_camera(), dtype=points.dtype, device=points.device)
    return camera_to_pixels(camera, points @ w2c[:3, :3].T + w2c[:3, 3])


def camera_to_pixels(camera: BlenderCamera, cam: torch.Tensor, focal_scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """(..., 3) points in the camera's frame -> (..., 3) pixel u, v and depth, with the focal length
    (perspective) or the magnification (orthographic) multiplied by `focal_scale`."""
    depth = -cam[..., 2]
    fx, fy, cx, cy = camera.intrinsics()
    if camera.type == "ORTHO":
        x, y = cam[..., 0], cam[..., 1]
    else:
        # Points behind the camera never become visible: clamp to keep the division finite.
        safe = depth.clamp(min=1e-8)
        x, y = cam[..., 0] / safe, cam[..., 1] / safe
    return torch.stack((cx + fx * focal_scale * x, cy - fy * focal_scale * y, depth), dim=-1)


def render_size(image_wh: tuple[int, int], longest: float) -> tuple[int, int]:
    """(H, W) of a render with the image's aspect and `longest` pixels on its longest side (>= 8 each)."""
    w, h = image_wh
    scale = longest / max(w, h)
    return max(8, round(h * scale)), max(8, round(w * scale))


def rescale_pixels(pix: torch.Tensor, image_wh: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    """(..., 3) pixel u, v, depth at the image's resolution -> at a render of (H, W)."""
    w, h = image_wh
    return pix * torch.tensor([hw[1] / w, hw[0] / h, 1.0], dtype=pix.dtype, device=pix.device)


def with_pose(camera: BlenderCamera, rotation: np.ndarray, centre: np.ndarray, focal_scale: float = 1.0) -> BlenderCamera:
    """A copy of `camera` with a new pose (rotation: (3, 3) world-to-camera; centre: (3,) world
    position) and its focal length (perspective) or magnification (orthographic) scaled."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = np.asarray(rotation, dtype=np.float64).T, centre
    fields_ = camera.to_dict()
    fields_["matrix_world"] = tuple(tuple(float(x) for x in row) for row in m)
    fields_["lens"] = camera.lens * focal_scale
    fields_["ortho_scale"] = camera.ortho_scale / focal_scale
    return BlenderCamera(**fields_)


def look_from(camera: BlenderCamera, target: np.ndarray, direction: np.ndarray, distance: float, up: np.ndarray) -> BlenderCamera:
    """`camera`'s intrinsics at `distance` from `target` along the unit `direction` (target to
    camera), looking at the target with `up` (world) as close to its +Y as possible."""
    back = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)  # the camera's +Z
    up = np.asarray(up, dtype=np.float64)
    if abs(np.dot(up, back)) > 0.999 * np.linalg.norm(up):  # looking straight along `up`
        up = np.array([0.0, 1.0, 0.0]) if abs(back[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    rotation = np.stack((right, np.cross(back, right), back))  # rows: camera axes in world = world-to-camera
    return with_pose(camera, rotation, np.asarray(target, dtype=np.float64) + distance * back)


def look_at(
    target: np.ndarray,
    azimuth_deg: float,
    elevation_deg: float,
    distance: float,
    size: tuple[int, int] = (256, 256),
    lens: float = 50.0,
) -> BlenderCamera:
    """A perspective Blender camera orbiting `target` (Z up), looking at it.

    Azimuth is measured in the XY plane from +X towards +Y; elevation up from the XY plane.
    """
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    base = BlenderCamera(matrix_world=tuple(map(tuple, np.eye(4))), lens=lens, resolution_x=size[0], resolution_y=size[1])
    return look_from(base, np.asarray(target, dtype=np.float64), direction, distance, np.array([0.0, 0.0, 1.0]))
