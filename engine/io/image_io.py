"""Reference images: the photo, and the object's silhouette from a separate mask or the alpha (or none).

Photos from phones and cameras often store their pixels sideways with an EXIF orientation tag that
tells viewers how to turn them. By default the engine turns them too (`exif_orientation`), so it
sees the photo the way its user does; Blender shows images as stored, so the add-on asks for that.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import refine_protocol.messages as m
from refine_protocol.request import HINT_BACKGROUND, HINT_NONE, HINT_OBJECT

from ..errors import InputError, LimitError

MAX_PIXELS = 64 * 1024 * 1024
# ISO base media brands of HEIF photos (an iPhone's default format), which Pillow cannot decode.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
Source = str | Path | bytes | memoryview  # a file, or an encoded image's bytes
HINT_MARGIN = 0.3  # a stroke's colour channel leads the other two by this much (0..1): red or blue, not a grey or a skin tone


@dataclass(frozen=True)
class Photo:
    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    mask: np.ndarray | None  # (h, w) float32 in [0, 1], 1 = object; None: find it (source SILHOUETTE_AUTO)
    source: str  # refine_protocol.messages.SILHOUETTE_*


def _open(source: Source, what: str, max_pixels: int = MAX_PIXELS, exif_orientation: bool = True) -> Image.Image:
    """Decode an image file (a path or its bytes), turned as its EXIF orientation says unless
    `exif_orientation` is False; the pixel count is checked before decoding."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{what}: file not found: {path}")
        name, data = path.name, path.read_bytes()
    else:
        name, data = "the image data", bytes(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > max_pixels:
                raise LimitError(f"{what}: {img.width}x{img.height} pixels exceeds the limit of {max_pixels}")
            img.load()
            if exif_orientation:
                ImageOps.exif_transpose(img, in_place=True)
            img = _eight_bit(img)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{what}: cannot decode {name}: {_unreadable(data)}") from None
    except Exception as exc:  # Pillow raises many types on corrupt data
        raise InputError(f"{what}: cannot decode {name}: {exc}") from None
    return img


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit grey (a mask from an image editor) as 8-bit grey: Pillow's own conversion clips it
    to 0..255 instead of scaling, which would turn every pixel above 0.4 % white."""
    if not img.mode.startswith("I"):
        return img
    grey = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16") or grey.max(initial=0) > 255:
        grey = grey / 257.0
    return Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8))


def _unreadable(data: bytes) -> str:
    """Why Pillow recognised no image format in `data`, for the user."""
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "it is a HEIC/HEIF photo, which the engine cannot read: export it as JPEG or PNG"
    return "not a PNG, JPEG, WebP, AVIF or other image file the engine reads (or a damaged one)"


def _silhouette(
    img: Image.Image, mask: Source | None, max_pixels: int, find: bool, exif_orientation: bool
) -> tuple[np.ndarray | None, str]:
    """(H, W) uint8 silhouette (255 = object) and where it came from: the mask's luminance, else
    the image's alpha; None (SILHOUETTE_AUTO) when the image has no alpha, one that covers it all
    (a JPEG, a photo saved as RGBA) or `find`: the engine then finds the object itself."""
    if mask is not None:
        return np.asarray(_open(mask, "mask", max_pixels, exif_orientation).convert("L")), m.SILHOUETTE_MASK
    if not find and ("A" in img.getbands() or "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA").getchannel("A"))
        if not (alpha > 127).all():
            return alpha, m.SILHOUETTE_ALPHA
    return None, m.SILHOUETTE_AUTO


def load_silhouette(
    image: Source, mask: Source | None = None, max_pixels: int = MAX_PIXELS, find: bool = False, exif_orientation: bool = True
) -> tuple[np.ndarray | None, str, tuple[int, int]]:
    """The silhouette alone, as (H, W) uint8 (255 = object), or None when it must be found in the
    photo; its source (refine_protocol.messages.SILHOUETTE_*); the photo's (W, H). One byte per
    pixel, for inputs that wait in a queue."""
    img = _open(image, "image", max_pixels, exif_orientation)
    return (*_silhouette(img, mask, max_pixels, find, exif_orientation), img.size)


def load_image(
    image: Source, mask: Source | None = None, max_pixels: int = MAX_PIXELS, find: bool = False, exif_orientation: bool = True
) -> Photo:
    """The reference photo and its silhouette, from files or encoded bytes (PNG, JPEG, WebP, ...).
    The mask may have another size than the photo (each is resampled to the camera's). `find`:
    ignore the photo's alpha, the silhouette is to be found in the photo. `exif_orientation`:
    turn both as their EXIF orientation tags say (as photo viewers do); False: as stored (as
    Blender shows them)."""
    img = _open(image, "image", max_pixels, exif_orientation)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    silhouette, source = _silhouette(img, mask, max_pixels, find, exif_orientation)
    return Photo(rgb, None if silhouette is None else silhouette.astype(np.float32) / 255.0, source)


def load_hints(source: Source, max_pixels: int = MAX_PIXELS, exif_orientation: bool = True) -> np.ndarray:
    """Hint strokes painted over the photo (or on a blank image of its aspect): clearly red pixels
    are object, clearly blue ones background, transparent or other ones no hint. Returns (H, W)
    uint8 labels (refine_protocol.request.HINT_*)."""
    img = _open(source, "hints", max_pixels, exif_orientation)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
    r, g, b, a = np.moveaxis(rgba, -1, 0)
    shown = a >= 0.5
    red = shown & (r >= 0.5) & (r - np.maximum(g, b) >= HINT_MARGIN)
    blue = shown & (b >= 0.5) & (b - np.maximum(r, g) >= HINT_MARGIN)
    return np.where(red, HINT_OBJECT, np.where(blue, HINT_BACKGROUND, HINT_NONE)).astype(np.uint8)


def save_mask(path: str | Path, mask: np.ndarray, size_wh: tuple[int, int]) -> None:
    """Write `mask` ((H, W) in [0, 1]) as an 8-bit grey PNG (white = object) at size_wh (the
    photo's): what --mask reads back, and what an artist can paint over."""
    from ..silhouette import resize

    grey = np.clip(resize(mask, size_wh) * 255 + 0.5, 0, 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey, mode="L").save(path)
