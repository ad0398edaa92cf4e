"""Image moments of silhouettes and the image-plane similarity that makes one match another: the
closed-form first guess of a camera (where the object is, how big, which way its long axis points)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Moments:
    """Of N silhouettes, in pixels (u right, v down). All tensors (N,) or (N, 2)."""

    area: torch.Tensor  # (N,) pixels
    centroid: torch.Tensor  # (N, 2) u, v
    angle: torch.Tensor  # (N,) direction of the long axis, radians from +u towards +v, in (-pi/2, pi/2]
    elongation: torch.Tensor  # (N,) ratio of the principal second moments, >= 1 (1: no preferred axis)

    @classmethod
    def of(cls, masks: torch.Tensor) -> Moments:
        """masks: (N, H, W) coverage in [0, 1]."""
        n, h, w = masks.shape
        m = masks.to(torch.float64)
        v, u = torch.meshgrid(
            torch.arange(h, dtype=m.dtype, device=m.device) + 0.5,
            torch.arange(w, dtype=m.dtype, device=m.device) + 0.5,
            indexing="ij",
        )
        area = m.sum((1, 2)).clamp(min=1e-9)
        cu, cv = (m * u).sum((1, 2)) / area, (m * v).sum((1, 2)) / area
        du, dv = u - cu[:, None, None], v - cv[:, None, None]
        suu, svv, suv = ((m * du * du).sum((1, 2)) / area, (m * dv * dv).sum((1, 2)) / area, (m * du * dv).sum((1, 2)) / area)
        angle = 0.5 * torch.atan2(2 * suv, suu - svv)
        spread = torch.sqrt((suu - svv) ** 2 + 4 * suv**2)
        elongation = (suu + svv + spread) / (suu + svv - spread).clamp(min=1e-9)
        return cls(m.sum((1, 2)), torch.stack((cu, cv), -1), angle, elongation)


def apply_similarity(
    points: torch.Tensor, source: Moments, target: Moments, scale: torch.Tensor, turn: torch.Tensor
) -> torch.Tensor:
    """points (N, V, 2) pixel u, v -> target.centroid + scale R(turn) (points - source.centroid)
    (N, V, 2): scale (N,) and turn (N,) radians from +u towards +v."""
    c, s = torch.cos(turn), torch.sin(turn)
    rot = torch.stack((torch.stack((c, -s), -1), torch.stack((s, c), -1)), -2)  # (N, 2, 2)
    local = (points - source.centroid[:, None].to(points.dtype)) @ rot.transpose(1, 2).to(points.dtype)
    return target.centroid[:, None].to(points.dtype) + scale[:, None, None].to(points.dtype) * local
