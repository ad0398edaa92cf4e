"""Validation of refine requests from the socket: every field typed, bounded and checked before a
job is queued, so a bad request costs the client one error frame and nobody else anything."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

import refine_protocol.messages as m
import refine_protocol.request as r
from refine_protocol import Frame
from refine_protocol.messages import JOB_ID

from ..camera import BlenderCamera
from ..camera.start import search_start
from ..camera.view import check_view
from ..errors import InputError, LimitError
from ..inputs import RefineInputs, View, check_hints, check_mask, check_mesh, check_parts, check_photo, check_silhouette
from ..io.image_io import load_image, load_silhouette
from ..settings import Settings, resolve
from ..silhouette import check_aspect


class RequestError(ValueError):
    """A request the engine refuses; `code` is the protocol error code. `job_scoped`: the error
    frame names the request's job (False when that id belongs to another, unfinished job)."""

    def __init__(self, code: str, message: str, job_scoped: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.job_scoped = job_scoped


MiB = 1 << 20


def _limit(default: int, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    """What clients may ask of the engine (`serve --max-...` options; byte sizes in MiB there).
    Every limit bounds memory or time; docs/protocol.md ("Limits") adds up the worst case."""

    max_frame: int = _limit(128 * MiB, "bytes per frame: the largest mesh (72 MB) and a large photo")
    max_vertices: int = _limit(2_000_000, "vertices per job")
    max_faces: int = _limit(4_000_000, "faces per job")
    max_image_pixels: int = _limit(16 * MiB, "W x H of the camera and of the decoded image")
    max_iterations: int = _limit(10_000, "iterations per job")
    max_views: int = _limit(8, "views per job (the first and the further ones)")
    max_render_size: int = _limit(1024, "longest side rendered (settings.max_size): the renderer's memory grows with its pixels")
    max_queue: int = _limit(32, "jobs waiting, all clients")
    max_queue_per_client: int = _limit(8, "jobs waiting, per connection")
    max_queued_bytes: int = _limit(1024 * MiB, "bytes held by the waiting jobs (their frames and u8 masks)")
    max_inflight_bytes: int = _limit(256 * MiB, "bytes of frame bodies being received, all connections")
    max_clients: int = _limit(32, "authenticated connections")
    max_unauthenticated: int = _limit(8, "connections that have not sent their hello yet")
    hello_seconds: int = _limit(5, "deadline for the hello, from the connection's start")
    stall_seconds: int = _limit(30, "a connection stuck this long sending or receiving a frame is closed")

    MIB_FIELDS = ("max_frame", "max_queued_bytes", "max_inflight_bytes")  # given in MiB on the command line

    @property
    def max_backlog(self) -> int:
        """Unsent bytes a connection may hold: one result frame of the largest mesh with the largest
        found silhouette (u8, max_image_pixels), and room."""
        return 12 * self.max_vertices + self.max_image_pixels + 8 * MiB

    def to_dict(self) -> dict[str, int]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "max_backlog": self.max_backlog}


@dataclass
class CheckedRequest:
    """A validated refine request (refine_protocol.request.RefineRequest), kept small while it
    waits: the mesh as the frame's own arrays, the photo still encoded, the silhouette as bytes."""

    job: str
    verts: np.ndarray  # (V, 3) float32 world units (a view of the frame)
    faces: np.ndarray  # (F, 3) int32 (a view of the frame)
    mask: np.ndarray | None  # (H, W) uint8, 255 = object; None: found in the photo when the job starts
    source: str  # where the mask came from (refine_protocol.messages.SILHOUETTE_*)
    image: memoryview | None  # the encoded photo, decoded when the job starts if needed
    camera: BlenderCamera
    settings: Settings
    progress_hz: float
    progress_vertices: bool
    nbytes: int  # memory held while waiting
    parts: tuple[int, ...] = ()  # vertex counts of the mesh's parts (separate objects refined as one)
    occluder: tuple[np.ndarray, np.ndarray] | None = None  # (O, 3) float32, (G, 3) int32 (views of the frame)
    exif_orientation: bool = True  # the photo turned as its EXIF orientation says (io.image_io)
    hints: np.ndarray | None = None  # (h, w) uint8 hint strokes (refine_protocol.request.HINT_*; a view of the frame)
    more_views: tuple[FurtherView, ...] = ()

    def inputs(self) -> RefineInputs:
        """The engine's inputs, validated when the job was queued: converted and resampled to the
        camera's size here. The photo is decoded only if its colours are used."""
        needed = self.image is not None and (self.mask is None or self.settings.uses_image)
        photo = check_photo(load_image(self.image, exif_orientation=self.exif_orientation).rgb, self.camera) if needed else None
        mask = None if self.mask is None else check_mask(self.mask, self.camera)
        verts, faces = self.verts.astype(np.float64), self.faces.astype(np.int64)
        occluder = None if self.occluder is None else (self.occluder[0].astype(np.float64), self.occluder[1].astype(np.int64))
        views = tuple(view.inputs(self.exif_orientation) for view in self.more_views)
        return RefineInputs(
            verts, faces, mask, self.camera, self.settings, photo, self.source, self.parts, occluder, self.hints, views
        )


def job_id(header: dict[str, Any]) -> str:
    job = header.get("job")
    if not isinstance(job, str) or not JOB_ID.fullmatch(job):
        raise RequestError(m.BAD_REQUEST, "'job' must be a string of 1..64 characters A-Z a-z 0-9 _ . : -")
    return job


def parse_refine(frame: Frame, limits: Limits) -> CheckedRequest:
    """Check a refine frame completely (shapes, limits, values, camera view). Raises RequestError."""
    h = frame.header
    job = job_id(h)
    hz = h.get("progress_hz", 10.0)
    if type(hz) not in (int, float) or not 0 <= hz <= 1000:
        raise RequestError(m.BAD_REQUEST, "'progress_hz' must be a number in 0..1000")
    pv = _flag(h, "progress_vertices", True)
    exif_orientation = _flag(h, "exif_orientation", r.OPTION["exif_orientation"].default)
    try:
        settings = _settings(h.get("settings", {}), limits)
        verts, faces = _mesh(frame, limits)
        checked_verts = check_mesh(verts, faces)[0]
        parts = check_parts(h.get("parts", []), len(verts))
        occluder = _mesh(frame, limits, OCCLUDER)
        if occluder is not None:
            check_mesh(*occluder, what="occluder")
        hints = _blob(frame, r.HINTS, ("u8",), 2)
        if hints is not None and hints.size > limits.max_image_pixels:
            raise LimitError(f"hints: {hints.size} pixels exceeds the limit of {limits.max_image_pixels}")
        find_flag = _find_silhouette(h, frame)
        find = find_flag or (hints is not None and r.MASK not in frame.blobs)  # strokes: the alpha is no answer
        image, mask, source, image_wh = _image(frame, limits, find, exif_orientation)
        camera = _camera(h.get("camera"), settings, verts, image_wh, limits)
        if mask is not None:
            check_silhouette(mask, camera)
        if hints is not None:
            check_hints(hints, camera, mask is None)
        more = _more_views(frame, h.get(r.MORE_VIEWS, []), limits, find_flag, exif_orientation, checked_verts, camera)
        check_aspect(image_wh, camera.image_size_wh, "image")
        check_view(checked_verts, camera)
    except LimitError as exc:
        raise RequestError(m.LIMIT_EXCEEDED, str(exc)) from None
    except InputError as exc:
        raise RequestError(m.INVALID_INPUT, str(exc)) from None
    nbytes = frame.nbytes + sum(0 if x is None else x.nbytes for x in (mask, *(view.mask for view in more)))
    return CheckedRequest(
        job, verts, faces, mask, source, image, camera, settings, float(hz), pv, nbytes, parts, occluder, exif_orientation, hints,
        more,
    )  # fmt: skip


@dataclass(frozen=True)
class FurtherView:
    """A further view as queued: its exact camera, its silhouette (u8, None: found in its photo)
    and its encoded photo (a view of the frame)."""

    camera: BlenderCamera
    mask: np.ndarray | None
    source: str
    image: memoryview | None

    def inputs(self, exif_orientation: bool) -> View:
        photo = None if self.mask is not None else load_image(self.image, exif_orientation=exif_orientation).rgb
        mask = None if self.mask is None else check_mask(self.mask, self.camera)
        return View(self.camera, mask, None if photo is None else check_photo(photo, self.camera), self.source)


def _more_views(
    frame: Frame, raw: Any, limits: Limits, find: bool, exif_orientation: bool, verts: np.ndarray, first: BlenderCamera
) -> tuple[FurtherView, ...]:
    """The header's further views, each {"camera": Blender's fields} with its blobs (view_blob):
    checked like the first view's, and the pixels of all views' cameras within the one limit."""
    if not isinstance(raw, list) or not all(isinstance(v, dict) and isinstance(v.get(r.CAMERA), dict) for v in raw):
        raise RequestError(m.BAD_REQUEST, f"'{r.MORE_VIEWS}' must be a list of objects with a 'camera' object each")
    if 1 + len(raw) > limits.max_views:
        raise LimitError(f"{1 + len(raw)} views exceeds the limit of {limits.max_views}")
    views, pixels = [], first.image_size_wh[0] * first.image_size_wh[1]
    for n, entry in enumerate(raw, start=2):
        names = (r.view_blob(n, r.IMAGE), r.view_blob(n, r.MASK))
        image, mask, source, image_wh = _image(frame, limits, find, exif_orientation, names)
        camera = BlenderCamera.from_dict(entry[r.CAMERA])
        pixels += camera.image_size_wh[0] * camera.image_size_wh[1]
        if pixels > limits.max_image_pixels:
            raise LimitError(
                f"view {n}: the views' cameras have {pixels} pixels in all, over the limit of {limits.max_image_pixels}"
            )
        try:
            if mask is not None:
                check_silhouette(mask, camera)
            check_aspect(image_wh, camera.image_size_wh, "image")
            check_view(verts, camera)
        except InputError as exc:
            raise InputError(f"view {n}: {exc}") from None
        views.append(FurtherView(camera, mask, source, image))
    return tuple(views)


def _settings(raw: Any, limits: Limits) -> Settings:
    """The request's settings: types and names checked (BAD_REQUEST), then resolved; a bad preset,
    symmetry or seed raises InputError (INVALID_INPUT), too many iterations LimitError."""
    try:
        r.check_settings(raw)
    except ValueError as exc:
        raise RequestError(m.BAD_REQUEST, str(exc)) from None
    return resolve(raw, max_iterations=limits.max_iterations, max_size=limits.max_render_size)


def _blob(frame: Frame, name: str, dtypes: tuple[str, ...], ndim: int | None = None) -> Any:
    blob = frame.blobs.get(name)
    if blob is None:
        return None
    if blob.dtype not in dtypes or (ndim is not None and len(blob.shape) != ndim):
        raise RequestError(m.BAD_REQUEST, f"blob {name!r} must have dtype {'/'.join(dtypes)} and {ndim} dimensions")
    return blob.to_array()


MESH, OCCLUDER = (r.VERTICES, r.FACES), (r.OCCLUDER_VERTICES, r.OCCLUDER_FACES)  # blob names of each mesh


def _mesh(frame: Frame, limits: Limits, names: tuple[str, str] = MESH) -> Any:
    """(V, 3) float32 and (F, 3) int32 arrays of the blobs `names`: the mesh (required) or the
    occluder (optional: None without its blobs)."""
    verts = _blob(frame, names[0], ("f32",), 2)
    faces = _blob(frame, names[1], ("i32",), 2)
    if verts is None and faces is None and names != MESH:
        return None
    if verts is None or faces is None:
        raise RequestError(m.BAD_REQUEST, f"a refine request needs blobs {names[0]!r} (f32, V x 3) and {names[1]!r} (i32, F x 3)")
    what = "mesh" if names == MESH else "occluder"
    if len(verts) > limits.max_vertices:
        raise RequestError(m.LIMIT_EXCEEDED, f"{what}: {len(verts)} vertices exceeds the limit of {limits.max_vertices}")
    if len(faces) > limits.max_faces:
        raise RequestError(m.LIMIT_EXCEEDED, f"{what}: {len(faces)} faces exceeds the limit of {limits.max_faces}")
    return verts, faces


# Decoding a large photo briefly needs ~4 bytes per pixel: at most two decodes at a time, whatever
# the number of clients submitting.
_DECODING = threading.BoundedSemaphore(2)


def _camera(raw: Any, settings: Settings, verts: np.ndarray, image_wh: tuple[int, int], limits: Limits) -> BlenderCamera:
    """The request's camera. A search may go without one, or start from one at another
    resolution: it then takes the photo's (fit.search_start)."""
    if raw is None and settings.fit_camera != m.FIT_SEARCH:
        raise RequestError(m.BAD_REQUEST, "a refine request needs a 'camera' unless settings.fit_camera is 'search'")
    camera = None if raw is None else BlenderCamera.from_dict(raw)
    if settings.fit_camera == m.FIT_SEARCH:
        camera = search_start(camera, verts, image_wh)
    assert camera is not None
    w, h = camera.image_size_wh
    if w * h > limits.max_image_pixels:
        raise RequestError(m.LIMIT_EXCEEDED, f"camera: {w}x{h} pixels exceeds the limit of {limits.max_image_pixels}")
    return camera


def _flag(header: dict[str, Any], key: str, default: bool) -> bool:
    value = header.get(key, default)
    if not isinstance(value, bool):
        raise RequestError(m.BAD_REQUEST, f"'{key}' must be true or false")
    return value


def _find_silhouette(header: dict[str, Any], frame: Frame) -> bool:
    find = _flag(header, "find_silhouette", r.OPTION["find_silhouette"].default)
    if find and r.MASK in frame.blobs:
        raise RequestError(m.BAD_REQUEST, "'find_silhouette' and a 'mask' blob exclude each other")
    return find


def _image(
    frame: Frame, limits: Limits, find: bool, exif_orientation: bool, names: tuple[str, str] = (r.IMAGE, r.MASK)
) -> tuple[memoryview | None, np.ndarray | None, str, tuple[int, int]]:
    """The encoded photo (kept for the job), the silhouette as (H, W) uint8 (None: found in the
    photo when the job starts), its source, and the photo's (W, H) (the mask's without a photo),
    turned as its EXIF orientation says if `exif_orientation`; from the blobs `names` (a view's
    image and mask)."""
    image_name, mask_name = names
    encoded = frame.blobs[image_name].data if image_name in frame.blobs else None
    _blob(frame, image_name, ("u8",), 1)  # dtype and shape check
    raw_mask = _blob(frame, mask_name, ("f32", "u8"), 2)
    if raw_mask is not None:
        if raw_mask.size > limits.max_image_pixels:
            raise RequestError(m.LIMIT_EXCEEDED, f"mask: {raw_mask.size} pixels exceeds the limit of {limits.max_image_pixels}")
        if raw_mask.dtype != np.uint8:
            if not np.isfinite(raw_mask).all():
                raise InputError("mask: non-finite values")
            raw_mask = np.round(np.clip(raw_mask, 0.0, 1.0) * 255).astype(np.uint8)
        image_wh = raw_mask.shape[::-1]
        if encoded is not None:  # decodable, and no larger than the limit
            with _DECODING:
                image_wh = load_silhouette(encoded, max_pixels=limits.max_image_pixels, exif_orientation=exif_orientation)[2]
        return encoded, raw_mask, m.SILHOUETTE_MASK, image_wh
    if encoded is None:
        raise RequestError(m.BAD_REQUEST, f"a refine request needs blob {image_name!r} (an encoded image file) or {mask_name!r}")
    with _DECODING:
        return encoded, *load_silhouette(
            encoded, max_pixels=limits.max_image_pixels, find=find, exif_orientation=exif_orientation
        )
