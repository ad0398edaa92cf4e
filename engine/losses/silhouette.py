"""Image-space silhouette losses. Means over pixels, so they do not depend on the image size."""

from __future__ import annotations

import torch


def silhouette_bce(alpha: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Binary cross-entropy between rendered alpha and target coverage, both (..., H, W) in [0, 1]."""
    a = alpha.clamp(eps, 1.0 - eps)
    return -(target * torch.log(a) + (1.0 - target) * torch.log1p(-a)).mean()


def silhouette_l2(alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference (the PyTorch3D tutorial's silhouette loss)."""
    return ((alpha - target) ** 2).mean()


def soft_iou(alpha: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft intersection over union of (..., H, W) coverages (1 = identical)."""
    inter = (alpha * target).sum()
    return inter / (alpha.sum() + target.sum() - inter).clamp(min=1e-8)
