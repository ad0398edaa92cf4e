"""Reference images: the object's silhouette from an RGBA alpha or a separate mask."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError, LimitError

MAX_PIXELS = 64 * 1024 * 1024
Source = str | Path | bytes | memoryview  # a file, or an encoded image's bytes


def _open(source: Source, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image file (a path or its bytes); the pixel count is checked before decoding."""
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
    except InputError:
        raise
    except Exception as exc:  # Pillow raises many types on corrupt data
        raise InputError(f"{what}: cannot decode {name}: {exc}") from None
    return img


def _alpha(img: Image.Image, image: Source, mask: Source | None, max_pixels: int, opaque_ok: bool) -> np.ndarray:
    """(H, W) uint8 silhouette: the mask's luminance, else the image's alpha (255 = object)."""
    if mask is not None:
        m = _open(mask, "mask", max_pixels)
        if m.size != img.size:
            raise InputError(f"mask: size {m.width}x{m.height} differs from the image's {img.width}x{img.height}")
        return np.asarray(m.convert("L"))
    if "A" in img.getbands() or "transparency" in img.info:
        return np.asarray(img.convert("RGBA").getchannel("A"))
    if opaque_ok:
        return np.full((img.height, img.width), 255, dtype=np.uint8)
    what = Path(image).name if isinstance(image, (str, Path)) else "the image"
    raise InputError(
        f"image: {what} has no alpha channel; pass an RGBA image whose alpha is the "
        "silhouette (Blender: Film > Transparent) or a mask with --mask MASK.png (white = object)"
    )


def load_silhouette(
    image: Source, mask: Source | None = None, max_pixels: int = MAX_PIXELS, opaque_ok: bool = False
) -> np.ndarray:
    """The silhouette alone, as (H, W) uint8 (255 = object): one byte per pixel, for inputs that
    wait in a queue. `opaque_ok`: an image without alpha gives a full silhouette instead of an error."""
    return _alpha(_open(image, "image", max_pixels), image, mask, max_pixels, opaque_ok)


def load_image(
    image: Source, mask: Source | None = None, max_pixels: int = MAX_PIXELS, opaque_ok: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The reference photo and its silhouette, from files or encoded bytes (PNG, JPEG, ...).

    Returns:
        rgb: (H, W, 3) float32 in [0, 1].
        mask: (H, W) float32 in [0, 1], 1 = object (alpha, or the mask's luminance).
    """
    img = _open(image, "image", max_pixels)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return rgb, _alpha(img, image, mask, max_pixels, opaque_ok).astype(np.float32) / 255.0
