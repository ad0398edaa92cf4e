"""Reference images: the object's silhouette from an RGBA alpha or a separate mask."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError

MAX_PIXELS = 64 * 1024 * 1024


def _open(source: str | Path | bytes, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
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
                raise InputError(f"{what}: {img.width}x{img.height} pixels exceeds the limit of {max_pixels}")
            img.load()
    except InputError:
        raise
    except Exception as exc:  # Pillow raises many types on corrupt data
        raise InputError(f"{what}: cannot decode {name}: {exc}") from None
    return img


def load_image(
    image: str | Path | bytes, mask: str | Path | bytes | None = None, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, np.ndarray]:
    """The reference photo and its silhouette, from files or encoded bytes (PNG, JPEG, ...).

    Returns:
        rgb: (H, W, 3) float32 in [0, 1].
        mask: (H, W) float32 in [0, 1], 1 = object (alpha, or the mask's luminance).
    """
    img = _open(image, "image", max_pixels)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if mask is not None:
        m = _open(mask, "mask", max_pixels)
        alpha = np.asarray(m.convert("L"), dtype=np.float32) / 255.0
        if alpha.shape != rgb.shape[:2]:
            raise InputError(
                f"mask: size {alpha.shape[1]}x{alpha.shape[0]} differs from the image's {rgb.shape[1]}x{rgb.shape[0]}"
            )
    elif "A" in img.getbands() or "transparency" in img.info:
        alpha = np.asarray(img.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
    else:
        what = Path(image).name if isinstance(image, (str, Path)) else "the image"
        raise InputError(
            f"image: {what} has no alpha channel; pass an RGBA image whose alpha is the "
            "silhouette (Blender: Film > Transparent) or a mask with --mask MASK.png (white = object)"
        )
    return rgb, alpha
