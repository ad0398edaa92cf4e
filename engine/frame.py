"""The normalized frame the optimization runs in: bounding-box centre at the origin, max extent 1,
so loss weights and learning rates do not depend on the user's units; results map back exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .symmetry import Plane


@dataclass(frozen=True)
class NormalizedFrame:
    """x_world = centre + scale * x_frame (no rotation: camera axes carry over unchanged)."""

    centre: np.ndarray  # (3,) float64, world units
    scale: float  # the bounding box's largest side, world units

    @classmethod
    def around(cls, verts: np.ndarray) -> NormalizedFrame:
        """The frame of (V, 3) world vertices."""
        lo, hi = verts.min(0), verts.max(0)
        return cls((lo + hi) / 2, float((hi - lo).max()))

    def from_world(self, verts: np.ndarray) -> np.ndarray:
        """(V, 3) world -> frame."""
        return (verts - self.centre) / self.scale

    def to_world(self, verts: np.ndarray) -> np.ndarray:
        """(V, 3) frame -> world, float64."""
        return self.centre + self.scale * verts

    def to_world_t(self, verts: torch.Tensor) -> torch.Tensor:
        """(V, 3) frame -> world on the tensor's device and dtype (differentiable)."""
        return torch.tensor(self.centre, dtype=verts.dtype, device=verts.device) + self.scale * verts

    def plane_to_world(self, plane: Plane | None) -> dict[str, Any] | None:
        """A plane n·x = d of the frame as {"normal", "offset"} in world units (n is unchanged)."""
        if plane is None:
            return None
        return {"normal": list(plane.normal), "offset": plane.offset * self.scale + float(np.dot(plane.normal, self.centre))}
