"""A global similarity on top of any local parameterization: v = c + s M (v_local - c) + t.

A coarse reconstruction is often mostly too big, too small or off-centre. Explaining that with one
scale and a shift, instead of per-vertex offsets, keeps the 3D shape consistent: the isotropic
scale also corrects the depth the camera cannot see. The shift stays in the image plane, since
along the view axis it is nearly indistinguishable from scale for a perspective camera.

With `stretch`, M also stretches the shape in the image plane (a symmetric 2x2 log-stretch, so
three parameters; M = identity along the view axis). A reconstruction's proportions are often off
(too wide, too tall): the silhouette shows that across the rays, where a global stretch explains it
without bending the surface. Along the rays the photo shows nothing, so M leaves depth alone.

Without `place`, the scale s and the shift t stay at identity: when the camera's framing was itself
found from the photo (a camera search), a change of the mesh's size or place in the picture is the
same picture as a camera moved closer or sideways, and the fit already chose the camera for it.
"""

from __future__ import annotations

import torch


class Similarity(torch.nn.Module):
    def __init__(
        self, local: torch.nn.Module, centre: torch.Tensor, image_axes: torch.Tensor, stretch: bool = False, place: bool = True
    ) -> None:
        """local: the wrapped parameterization; centre: (3,); image_axes: (2, 3) unit right/up
        vectors; stretch: also fit an image-plane stretch; place: fit the scale and the shift."""
        super().__init__()
        self.local = local
        self.register_buffer("centre", centre)
        self.register_buffer("axes", image_axes)
        self.log_scale = torch.nn.Parameter(torch.zeros(()), requires_grad=place)
        self.shift = torch.nn.Parameter(torch.zeros(2), requires_grad=place)
        # (3,): the log-stretch's entries xx, yy, xy in image axes; None: no stretch.
        self.log_stretch = torch.nn.Parameter(torch.zeros(3)) if stretch else None

    def linear(self) -> torch.Tensor:
        """(3, 3) the linear part s M."""
        eye = torch.eye(3, dtype=self.axes.dtype, device=self.axes.device)
        m = eye
        if self.log_stretch is not None:
            a, b, c = self.log_stretch
            e = torch.stack([torch.stack([a, c]), torch.stack([c, b])])
            m = eye + self.axes.T @ (torch.linalg.matrix_exp(e) - torch.eye(2, dtype=e.dtype, device=e.device)) @ self.axes
        return torch.exp(self.log_scale) * m

    def transform(self, local: torch.Tensor) -> torch.Tensor:
        """The similarity applied to (V, 3) vertices of the local parameterization."""
        return self.centre + (local - self.centre) @ self.linear().T + self.shift @ self.axes

    def forward(self) -> torch.Tensor:
        return self.transform(self.local())
