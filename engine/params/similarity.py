"""A global similarity on top of any local parameterization: v = c + s (v_local - c) + t.

A coarse reconstruction is often mostly too big, too small or off-centre. Explaining that with one
scale and a shift, instead of per-vertex offsets, keeps the 3D shape consistent: the isotropic
scale also corrects the depth the camera cannot see. The shift stays in the image plane, since
along the view axis it is nearly indistinguishable from scale for a perspective camera.
"""

from __future__ import annotations

import torch


class Similarity(torch.nn.Module):
    def __init__(self, local: torch.nn.Module, centre: torch.Tensor, image_axes: torch.Tensor) -> None:
        """local: the wrapped parameterization; centre: (3,); image_axes: (2, 3) unit right/up vectors."""
        super().__init__()
        self.local = local
        self.register_buffer("centre", centre)
        self.register_buffer("axes", image_axes)
        self.log_scale = torch.nn.Parameter(torch.zeros(()))
        self.shift = torch.nn.Parameter(torch.zeros(2))

    def transform(self, local: torch.Tensor) -> torch.Tensor:
        """The similarity applied to (V, 3) vertices of the local parameterization."""
        return self.centre + torch.exp(self.log_scale) * (local - self.centre) + self.shift @ self.axes

    def forward(self) -> torch.Tensor:
        return self.transform(self.local())
