"""The reference photo: which one the artist means (the panel's file or image, else the camera's
visible background image), its bytes for the engine, and the silhouette the engine found kept as
an image the artist can see and paint."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .refine_protocol.messages import SILHOUETTE_MASK
from .scene_io import InputProblem

ENGINE_READS = (".png", ".jpg", ".jpeg", ".webp")  # sent as the file's bytes; anything else as Blender decodes it


@dataclass(frozen=True)
class PhotoChoice:
    """Where the photo comes from: the panel's file, the panel's image, or the camera's visible
    background image (`flip`: its horizontal, vertical flips, honoured)."""

    image: bpy.types.Image | None = None
    path: str = ""
    flip: tuple[bool, bool] = (False, False)
    note: str = ""  # said to the user (e.g. a hidden background image was used)


def choose_photo(image: bpy.types.Image | None, path: str, camera: bpy.types.Object | None) -> PhotoChoice:
    """The panel's explicit choice (a file or an image; setting one clears the other), else the
    camera's background image: the visible one, else a hidden one (said so). A background image
    that is scaled, offset or rotated in the camera view is refused: the engine would see the
    photo differently from the artist."""
    if path or image is not None:
        return PhotoChoice(image, path)
    return background_photo(camera, hidden_too=True)


def background_photo(camera: bpy.types.Object | None, hidden_too: bool = False) -> PhotoChoice:
    """The camera's visible background image (`hidden_too`: else a hidden one, said so), as the
    artist sees it through the camera; none: an empty choice. One scaled, offset or rotated in
    the camera view is refused (InputProblem)."""
    if camera is None or camera.type != "CAMERA":
        return PhotoChoice()
    cam = camera.data
    backgrounds = [bg for bg in cam.background_images if bg.source == "IMAGE" and bg.image is not None]
    visible = [bg for bg in backgrounds if bg.show_background_image and cam.show_background_images]
    if not visible and not (hidden_too and backgrounds):
        return PhotoChoice()
    bg = (visible or backgrounds)[0]
    where = f"background image '{bg.image.name}' of camera '{camera.name}'"
    if abs(bg.scale - 1.0) > 1e-6 or any(abs(o) > 1e-6 for o in bg.offset) or abs(bg.rotation) > 1e-6:
        raise InputProblem(
            f"the {where} is moved in the camera view (scale {bg.scale:g}, offset ({bg.offset[0]:g}, {bg.offset[1]:g}), "
            f"rotation {math.degrees(bg.rotation):g} deg): set scale 1, offset 0 and rotation 0, or pick the photo in the REFINE panel"
        )
    note = "" if visible else f"used the hidden {where}"
    return PhotoChoice(bg.image, "", (bg.use_flip_x, bg.use_flip_y), note)


def reference_image(
    choice: PhotoChoice, mask_image: bpy.types.Image | None, silhouette: str
) -> tuple[bytes | None, np.ndarray | None]:
    """The photo as encoded file bytes, and the silhouette as a (H, W) float32 mask with row 0 at
    the top, or None when the engine reads it from the photo (its alpha) or finds it there.
    `silhouette` is one of messages.SILHOUETTE: with SILHOUETTE_MASK, `mask_image` is the mask
    and no photo is sent. PNG, JPEG and WebP files go as they are; any other image Blender reads
    (OpenEXR, TIFF, an image only in memory...) goes as Blender decodes it, re-encoded as PNG."""
    if silhouette == SILHOUETTE_MASK:
        if mask_image is None:
            raise InputProblem("no mask image: choose one in the REFINE panel (Silhouette: Mask Image)")
        return None, _pixels(mask_image)[..., :3].mean(axis=-1)
    if choice.path:
        file = Path(bpy.path.abspath(choice.path))
        if not file.is_file():
            raise InputProblem(f"reference image file not found: {file} (the REFINE panel's File: pick it again or clear it)")
        if file.suffix.lower() in ENGINE_READS:
            return file.read_bytes(), None
        there = set(bpy.data.images.keys())
        loaded = bpy.data.images.load(str(file), check_existing=True)
        try:
            return png_bytes(loaded, choice.flip), None
        finally:
            if loaded.name not in there:  # read for this run only
                bpy.data.images.remove(loaded)
    if choice.image is None:
        raise InputProblem("no reference image: choose one in the REFINE panel (or give the camera a background image)")
    return image_bytes(choice.image, choice.flip), None


def image_bytes(image: bpy.types.Image, flip: tuple[bool, bool] = (False, False)) -> bytes:
    """An image datablock as encoded file bytes, mirrored as `flip` says: a PNG, JPEG or WebP file
    (or packed file) as it is when unflipped, anything else as Blender decodes it (png_bytes)."""
    on_disk = Path(bpy.path.abspath(image.filepath)) if image.source == "FILE" and image.filepath else None
    if image.packed_file is None and on_disk is not None and not on_disk.is_file():
        raise InputProblem(f"image '{image.name}': its file is missing: {on_disk}")
    as_is = flip == (False, False) and image.file_format in ("PNG", "JPEG", "WEBP")
    if as_is and image.packed_file is not None:
        return bytes(image.packed_file.data)  # type: ignore[arg-type]  # BYTE_STRING: bytes at run time
    if as_is and on_disk is not None and on_disk.suffix.lower() in ENGINE_READS:
        return on_disk.read_bytes()
    return png_bytes(image, flip)


def png_bytes(image: bpy.types.Image, flip: tuple[bool, bool]) -> bytes:
    """The image as Blender decodes it, flipped as shown, as PNG bytes (8-bit sRGB, alpha kept
    unpremultiplied): float images (OpenEXR, HDR) are linear and get the sRGB curve."""
    rgba = _pixels(image)
    if image.is_float:
        rgb = np.clip(rgba[..., :3] / np.maximum(rgba[..., 3:], 1e-6) if image.alpha_mode == "PREMUL" else rgba[..., :3], 0, 1)
        rgba = np.concatenate([np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * rgb ** (1 / 2.4) - 0.055), rgba[..., 3:]], -1)
    if flip[0]:
        rgba = rgba[:, ::-1]
    if flip[1]:
        rgba = rgba[::-1]
    h, w = rgba.shape[:2]
    out = bpy.data.images.new("REFINE photo", w, h, alpha=True)
    try:
        out.pixels.foreach_set(np.ascontiguousarray(np.clip(rgba[::-1], 0, 1), dtype=np.float32).ravel())  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / "photo.png"
            out.filepath_raw, out.file_format = str(file), "PNG"
            out.save()
            return file.read_bytes()
    finally:
        bpy.data.images.remove(out)


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
