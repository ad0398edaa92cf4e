"""Photos of any size whose aspect ratio matches the camera's: resampled to the camera's size."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

ASPECT_TOLERANCE = 0.01  # relative: the rounding of any sensible resize


def to_camera_size(image: np.ndarray, camera_wh: tuple[int, int], what: str = "image") -> np.ndarray:
    """(H, W[, C]) float32 -> (h, w[, C]) at the camera's (w, h): area filtering when shrinking
    (each output pixel the mean of the pixels it covers), bilinear when enlarging. Raises
    InputError when the aspect ratios differ by more than 1 %."""
    h, w = image.shape[:2]
    if (w, h) == tuple(camera_wh):
        return image
    check_aspect((w, h), camera_wh, what)
    return resize(image, camera_wh)


def check_aspect(image_wh: tuple[int, int], camera_wh: tuple[int, int], what: str = "image") -> None:
    """Raise InputError when the picture's aspect ratio differs from the camera's by more than 1 %."""
    (w, h), (cw, ch) = image_wh, camera_wh
    if abs((w / h) / (cw / ch) - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"{what}: aspect ratio {w}x{h} = {w / h:.4f} differs from the camera's {cw}x{ch} = {cw / ch:.4f}; "
            "crop the photo or set the render resolution to the photo's aspect"
        )


def resize(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """(H, W[, C]) -> float32 (h, w[, C]) at size_wh: area filtering when shrinking, bilinear when enlarging."""
    w, h = size_wh
    shrink = w * h < image.shape[0] * image.shape[1]
    out = cv2.resize(
        np.ascontiguousarray(image, dtype=np.float32), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return out.reshape((h, w, *image.shape[2:]))
