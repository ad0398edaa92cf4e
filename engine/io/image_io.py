"""Reference images: the object's silhouette from an RGBA alpha or a separate mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError


def _open(path: str | Path, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: file not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what}: cannot decode {path.name}: {exc}") from None
    return img


def load_image(image_path: str | Path, mask_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load the reference photo and its silhouette.

    Returns:
        rgb: (H, W, 3) float32 in [0, 1].
        mask: (H, W) float32 in [0, 1], 1 = object (alpha, or the mask's luminance).
    """
    img = _open(image_path, "image")
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if mask_path is not None:
        m = _open(mask_path, "mask")
        mask = np.asarray(m.convert("L"), dtype=np.float32) / 255.0
        if mask.shape != rgb.shape[:2]:
            raise InputError(f"mask: size {mask.shape[1]}x{mask.shape[0]} differs from the image's {rgb.shape[1]}x{rgb.shape[0]}")
    elif "A" in img.getbands() or "transparency" in img.info:
        mask = np.asarray(img.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
    else:
        raise InputError(
            f"image: {Path(image_path).name} has no alpha channel; pass an RGBA image whose alpha is the "
            "silhouette (Blender: Film > Transparent) or a mask with --mask MASK.png (white = object)"
        )
    return rgb, mask
