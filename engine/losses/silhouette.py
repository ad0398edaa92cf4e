"""Image-space silhouette losses. Means over pixels, so they do not depend on the image size."""

from __future__ import annotations

import torch


def silhouette_bce(
    alpha: torch.Tensor, target: torch.Tensor, visible: torch.Tensor | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """Binary cross-entropy between rendered alpha and target coverage, both (..., H, W) in [0, 1].
    visible: (..., H, W) weights in [0, 1], 0 where an occluder hides the object (None: all 1)."""
    a = alpha.clamp(eps, 1.0 - eps)
    per_pixel = -(target * torch.log(a) + (1.0 - target) * torch.log1p(-a))
    return (per_pixel if visible is None else per_pixel * visible).mean()


def silhouette_l2(alpha: torch.Tensor, target: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference (the PyTorch3D tutorial's silhouette loss); `visible` as above."""
    per_pixel = (alpha - target) ** 2
    return (per_pixel if visible is None else per_pixel * visible).mean()


def soft_iou(alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft intersection over union of (..., H, W) coverages (1 = identical)."""
    inter = (alpha * target).sum()
    return inter / (alpha.sum() + target.sum() - inter).clamp(min=1e-8)
