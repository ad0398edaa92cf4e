"""Validation of refine requests from the socket: every field typed, bounded and checked before a
job is queued, so a bad request costs the client one error frame and nobody else anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from refine_protocol import Frame
from refine_protocol.messages import JOB_ID

from ..camera import BlenderCamera
from ..errors import InputError
from ..inputs import check_mask, check_mesh, check_view
from ..io.image_io import load_image
from ..settings import Settings, preset


class RequestError(ValueError):
    """A request the engine refuses; `code` is the protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (configurable with `serve` options)."""

    max_frame: int = 256 * 1024 * 1024  # bytes
    max_vertices: int = 2_000_000
    max_faces: int = 4_000_000
    max_image_pixels: int = 16 * 1024 * 1024
    max_iterations: int = 10_000
    max_queue: int = 32
    max_clients: int = 32

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RefineRequest:
    job: str
    verts: np.ndarray  # (V, 3) float64 world units
    faces: np.ndarray  # (F, 3) int64
    mask: np.ndarray  # (H, W) float32 in [0, 1]
    rgb: np.ndarray | None  # (H, W, 3) float32 in [0, 1]
    camera: BlenderCamera
    settings: Settings
    progress_hz: float
    progress_vertices: bool


# Settings a client may override, with their types; everything else comes from the preset.
_SETTING_TYPES: dict[str, type] = {"preset": str, "iterations": int, "symmetry": str, "seed": int}


def job_id(header: dict[str, Any]) -> str:
    job = header.get("job")
    if not isinstance(job, str) or not JOB_ID.fullmatch(job):
        raise RequestError("bad_request", "'job' must be a string of 1..64 characters A-Z a-z 0-9 _ . : -")
    return job


def parse_refine(frame: Frame, limits: Limits) -> RefineRequest:
    """Check a refine frame completely (shapes, limits, values, camera view). Raises RequestError."""
    h = frame.header
    job = job_id(h)
    try:
        settings = _settings(h.get("settings", {}), limits)
        camera = BlenderCamera.from_dict(h.get("camera"))  # type: ignore[arg-type]
        verts, faces = _mesh(frame, limits)
        rgb, mask = _image(frame, camera, limits)
        verts, faces = check_mesh(verts, faces)
        mask = check_mask(mask, camera)
        check_view(verts, camera)
    except InputError as exc:
        raise RequestError("invalid_input", str(exc)) from None
    hz = h.get("progress_hz", 10.0)
    if type(hz) not in (int, float) or not 0 <= hz <= 1000:
        raise RequestError("bad_request", "'progress_hz' must be a number in 0..1000")
    pv = h.get("progress_vertices", True)
    if not isinstance(pv, bool):
        raise RequestError("bad_request", "'progress_vertices' must be true or false")
    return RefineRequest(job, verts, faces, mask, rgb, camera, settings, float(hz), pv)


def _settings(raw: Any, limits: Limits) -> Settings:
    if not isinstance(raw, dict):
        raise RequestError("bad_request", "'settings' must be an object")
    for key, value in raw.items():
        if key not in _SETTING_TYPES:
            raise RequestError("bad_request", f"settings: unknown field {key!r}; allowed: {', '.join(_SETTING_TYPES)}")
        if type(value) is not _SETTING_TYPES[key]:
            raise RequestError("bad_request", f"settings: {key!r} must be of type {_SETTING_TYPES[key].__name__}")
    # preset() and validate() raise InputError (-> invalid_input) for a bad preset, symmetry or seed.
    settings = preset(raw.get("preset", "default")).with_overrides(**{k: v for k, v in raw.items() if k != "preset"})
    if not 1 <= settings.iterations <= limits.max_iterations:
        raise RequestError("limit_exceeded", f"settings: iterations must be in 1..{limits.max_iterations}")
    settings.validate()
    return settings


def _blob(frame: Frame, name: str, dtypes: tuple[str, ...], ndim: int | None = None) -> Any:
    blob = frame.blobs.get(name)
    if blob is None:
        return None
    if blob.dtype not in dtypes or (ndim is not None and len(blob.shape) != ndim):
        raise RequestError("bad_request", f"blob {name!r} must have dtype {'/'.join(dtypes)} and {ndim} dimensions")
    return blob.to_array()


def _mesh(frame: Frame, limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    verts = _blob(frame, "vertices", ("f32",), 2)
    faces = _blob(frame, "faces", ("i32",), 2)
    if verts is None or faces is None:
        raise RequestError("bad_request", "a refine request needs blobs 'vertices' (f32, V x 3) and 'faces' (i32, F x 3)")
    if len(verts) > limits.max_vertices:
        raise RequestError("limit_exceeded", f"mesh: {len(verts)} vertices exceeds the limit of {limits.max_vertices}")
    if len(faces) > limits.max_faces:
        raise RequestError("limit_exceeded", f"mesh: {len(faces)} faces exceeds the limit of {limits.max_faces}")
    return verts, faces


def _image(frame: Frame, camera: BlenderCamera, limits: Limits) -> tuple[np.ndarray | None, np.ndarray]:
    w, h = camera.image_size_wh
    if w * h > limits.max_image_pixels:
        raise RequestError("limit_exceeded", f"camera: {w}x{h} pixels exceeds the limit of {limits.max_image_pixels}")
    encoded = _blob(frame, "image", ("u8",), 1)
    raw_mask = _blob(frame, "mask", ("f32", "u8"), 2)
    if raw_mask is not None:
        if raw_mask.size > limits.max_image_pixels:
            raise RequestError("limit_exceeded", f"mask: {raw_mask.size} pixels exceeds the limit of {limits.max_image_pixels}")
        mask = raw_mask.astype(np.float32) / (255.0 if raw_mask.dtype == np.uint8 else 1.0)
        rgb = None if encoded is None else load_image(encoded.tobytes(), max_pixels=limits.max_image_pixels)[0]
        return rgb, mask
    if encoded is None:
        raise RequestError("bad_request", "a refine request needs blob 'image' (an encoded image file) or 'mask'")
    return load_image(encoded.tobytes(), max_pixels=limits.max_image_pixels)
