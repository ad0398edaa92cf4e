"""Validation of the arrays a refinement starts from. Every failure is an InputError that says
what is wrong in one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from refine_protocol.messages import FIT_OFF, PRESET_DEFAULT, SILHOUETTE_AUTO, SILHOUETTE_MASK
from refine_protocol.request import HINT_BACKGROUND

from .camera import BlenderCamera
from .camera.view import check_view
from .errors import InputError
from .settings import Settings, preset
from .silhouette.resample import check_aspect, to_camera_size


@dataclass(frozen=True)
class View:
    """Another view of the object, besides the first: its exact camera and its silhouette, or the
    photo to find it in (seeded by the mesh seen through that camera)."""

    camera: BlenderCamera
    mask: np.ndarray | None  # (H, W) float32 in [0, 1], the camera's resolution; None: found in `image`
    image: np.ndarray | None = None  # (H, W, 3) float32 in [0, 1], the camera's resolution
    silhouette_source: str = SILHOUETTE_MASK

    @classmethod
    def checked(cls, camera: BlenderCamera, mask: np.ndarray | None, image: np.ndarray | None, verts: np.ndarray, n: int) -> View:
        """Validate view number `n` (2, 3, ...: named in the errors) of the mesh `verts`."""
        try:
            if mask is None and image is None:
                raise InputError("image: a silhouette (mask or alpha) or a photo to find it in is required")
            check_view(verts, camera)
            if mask is not None:
                return cls(camera, check_mask(mask, camera))
            return cls(camera, None, check_photo(image, camera), SILHOUETTE_AUTO)
        except InputError as exc:
            raise InputError(f"view {n}: {exc}") from None


@dataclass(frozen=True)
class RefineInputs:
    """One refinement's inputs, checked. Built once at an edge: `checked()` for raw arrays (the
    API, the CLI), or directly from inputs the server validated when it queued the job."""

    verts: np.ndarray  # (V, 3) float64 world units, rounded through float32 (see checked())
    faces: np.ndarray  # (F, 3) int64
    mask: np.ndarray | None  # (H, W) float32 in [0, 1], the camera's resolution; None: find it in `image`
    camera: BlenderCamera
    settings: Settings
    image: np.ndarray | None = None  # (H, W, 3) float32 in [0, 1], the camera's resolution, if used
    silhouette_source: str = SILHOUETTE_MASK  # where `mask` came from (SILHOUETTE_AUTO when None)
    parts: tuple[int, ...] = ()  # vertex counts of consecutive parts (separate objects); () or one: a single object
    occluder: tuple[np.ndarray, np.ndarray] | None = None  # (O, 3) float64 world, (G, 3) int64: hides the object
    hints: np.ndarray | None = None  # (h, w) uint8 hint strokes at the photo's aspect (silhouette.HINT_*), or None
    more_views: tuple[View, ...] = ()  # views besides the first: the shape is refined against all

    @property
    def corrects_views(self) -> bool:
        """Whether every view's camera is corrected together with the shape (problem.py): several
        views, a camera fit asked for (refine or search) and the settings' fit_views."""
        return bool(self.more_views) and self.settings.fit_views and self.settings.fit_camera != FIT_OFF

    @classmethod
    def checked(
        cls,
        verts: np.ndarray,
        faces: np.ndarray,
        mask: np.ndarray | None,
        camera: BlenderCamera,
        settings: Settings | None = None,
        image: np.ndarray | None = None,
        silhouette_source: str = SILHOUETTE_MASK,
        parts: tuple[int, ...] = (),
        occluder: tuple[np.ndarray, np.ndarray] | None = None,
        hints: np.ndarray | None = None,
        more_views: tuple[tuple[BlenderCamera, np.ndarray | None, np.ndarray | None], ...] = (),
    ) -> RefineInputs:
        """Validate everything (raises InputError naming the problem). The photo and the mask may
        have any size with the camera's aspect ratio: they are resampled to the camera's.
        `more_views`: (camera, mask or None, photo or None) of each further view."""
        settings = settings or preset(PRESET_DEFAULT)
        settings.validate()
        verts, faces = check_mesh(verts, faces)
        # The optimization is float32; rounding the input once makes every entry point (float64 from
        # files, float32 from the socket) start from the same numbers and give the same result.
        verts = verts.astype(np.float32).astype(np.float64)
        if mask is None and image is None:
            raise InputError("image: a silhouette (mask or alpha) or a photo to find it in is required")
        if image is not None:
            image = check_photo(image, camera)
        if mask is None:
            silhouette_source = SILHOUETTE_AUTO
        else:
            mask = check_mask(mask, camera)
            image = image if settings.uses_image else None
        check_view(verts, camera)
        parts = check_parts(parts, len(verts))
        occluder = None if occluder is None else check_mesh(*occluder, what="occluder")
        hints = None if hints is None else check_hints(hints, camera, mask is None)
        views = tuple(View.checked(*view, verts, n) for n, view in enumerate(more_views, start=2))
        return cls(verts, faces, mask, camera, settings, image, silhouette_source, parts, occluder, hints, views)


def check_hints(hints: np.ndarray, camera: BlenderCamera, finding: bool) -> np.ndarray:
    """Hint strokes: (h, w) labels 0 (none), 1 (object), 2 (background) with the camera's aspect,
    for a silhouette to be found in the photo (`finding`: a mask or alpha is final)."""
    hints = np.asarray(hints)
    if not finding:
        raise InputError("hints: strokes help find the silhouette in the photo, but a mask (or the photo's alpha) was given")
    if hints.ndim != 2 or hints.dtype != np.uint8:
        raise InputError(f"hints: must be a 2D uint8 array of labels, got {hints.dtype} of shape {hints.shape}")
    if hints.size and hints.max() > HINT_BACKGROUND:
        raise InputError(f"hints: labels are 0 (none), 1 (object) and 2 (background), got {int(hints.max())}")
    check_aspect(hints.shape[::-1], camera.image_size_wh, "hints")
    return hints


MAX_PARTS = 256  # each part costs a nearest-neighbour query per iteration


def check_parts(parts: Any, num_verts: int) -> tuple[int, ...]:
    """Vertex counts of the mesh's consecutive parts: positive integers that add up to V."""
    if not isinstance(parts, (list, tuple)) or not all(type(n) is int and n > 0 for n in parts):
        raise InputError("parts: must be a list of positive vertex counts")
    if len(parts) > MAX_PARTS:
        raise InputError(f"parts: {len(parts)} parts exceeds the limit of {MAX_PARTS}")
    if parts and sum(parts) != num_verts:
        raise InputError(f"parts: the vertex counts add up to {sum(parts)}, the mesh has {num_verts} vertices")
    return tuple(parts)


def check_mesh(verts: np.ndarray, faces: np.ndarray, what: str = "mesh") -> tuple[np.ndarray, np.ndarray]:
    """verts (V, 3) finite floats, faces (F, 3) indices into them. Returns float64 / int64 copies.
    `what` names the mesh in errors."""
    verts = np.asarray(verts)
    faces = np.asarray(faces)
    if verts.ndim != 2 or verts.shape[1] != 3 or len(verts) < 3:
        raise InputError(f"{what}: vertices must be an (V, 3) array with V >= 3, got shape {verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) < 1:
        raise InputError(f"{what}: faces must be an (F, 3) array of triangles, got shape {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise InputError(f"{what}: face indices must be integers")
    verts = verts.astype(np.float64)
    if not np.isfinite(verts).all():
        raise InputError(f"{what}: {int((~np.isfinite(verts)).any(1).sum())} vertices have non-finite coordinates (NaN or inf)")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise InputError(f"{what}: face indices must be in 0..{len(verts) - 1}, found {faces.min()}..{faces.max()}")
    faces = faces.astype(np.int64)
    extent = np.ptp(verts, axis=0).max()
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
    if extent <= 0 or area <= 1e-12 * extent**2:
        raise InputError(f"{what}: degenerate mesh (zero size or zero surface area)")
    return verts, faces


def check_silhouette(mask: np.ndarray, camera: BlenderCamera) -> None:
    """mask (H, W), float in [0, 1] or uint8 in 0..255, with the camera's aspect ratio, neither
    empty nor full."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"image: silhouette must be a 2D array, got shape {mask.shape}")
    check_aspect(mask.shape[::-1], camera.image_size_wh, "image")
    if mask.dtype != np.uint8 and not np.isfinite(mask).all():
        raise InputError("image: silhouette has non-finite values")
    inside = mask > (127 if mask.dtype == np.uint8 else 0.5)
    if not inside.any():
        raise InputError("image: the silhouette is empty (no pixel with alpha/mask above 0.5)")
    if inside.all():
        raise InputError("image: the silhouette covers the whole picture (no background); white must be the object only")


def check_mask(mask: np.ndarray, camera: BlenderCamera) -> np.ndarray:
    """check_silhouette, then the mask as (H, W) float32 in [0, 1] at the camera's resolution."""
    mask = np.asarray(mask)
    check_silhouette(mask, camera)
    mask = mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else np.clip(mask.astype(np.float32), 0.0, 1.0)
    return to_camera_size(mask, camera.image_size_wh, "image")


def check_photo(image: np.ndarray, camera: BlenderCamera) -> np.ndarray:
    """image (H, W, 3) finite, with the camera's aspect ratio -> float32 in [0, 1] at the camera's resolution."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image: the photo must be an (H, W, 3) RGB array, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise InputError("image: the photo has non-finite values")
    return to_camera_size(np.clip(image.astype(np.float32), 0.0, 1.0), camera.image_size_wh, "image")
