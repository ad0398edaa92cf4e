"""Soft silhouettes (PyTorch3D's SoftSilhouetteShader model) from pixel-space vertices.

The soft coverage of pixel p is ``alpha(p) = 1 - prod_f (1 - sigmoid(-d_f(p) / sigma))`` over the
faces f whose 2D distance to p is within the blur radius, where ``d_f`` is the signed squared
distance from the pixel centre to the projected face (negative inside). This union (blend
"union") lies outside the mesh's outline, where every face near it (front, back, grazing) adds
its share; blend "nearest" keeps the union inside the mesh (where it is above 0.5) and takes
``alpha(p) = sigmoid(-min_f d_f(p) / sigma)``, the nearest face's alone, outside every face: the
0.5 level lies on the outline, for fits that must not shrink the picture to answer that bias (the
camera's framing).

Two backends compute it:
- "fast" (default): every face enumerates the pixels near it (row by row over its bounding box
  grown by the blur radius, in each row the columns it comes near); ``d_f`` and alpha are computed
  with vectorized torch ops over those (pixel, face) pairs and differentiated by plain autograd.
  Cost grows with the pixels the mesh covers, not with pixels x faces, and no face is dropped: a
  silhouette needs no depth order, so there is no K.
- "pytorch3d": PyTorch3D's rasterizer (brute force on the CPU) and its own backward, blending the
  K faces nearest in depth: the stock path, kept as the reference the fast one is tested against.
  It also skips a face at pixels where the depth extrapolated from the face's barycentric
  coordinates is negative, which drops slivers seen edge-on next to the silhouette; the fast path
  keeps them. Elsewhere the two agree to float precision (tests/test_render.py).

All distances here are in pixels; ``sigma`` is in squared pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.structures import Meshes

# A face contributes to a pixel only where its coverage probability is above this (PyTorch3D's
# tutorials set the blur radius from the same number).
_MIN_PROB = 1e-4


def pixels_to_ndc(pix: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel-space vertices to PyTorch3D's NDC screen space.

    Args:
        pix: (..., 3) pixel u, pixel v, depth.
        image_hw: (H, W).
    Returns:
        (..., 3): NDC x (+X left), y (+Y up), depth. The shorter image side spans [-1, 1].
    """
    h, w = image_hw
    s = 2.0 / min(h, w)
    x = (w / 2 - pix[..., 0]) * s
    y = (h / 2 - pix[..., 1]) * s
    return torch.stack((x, y, pix[..., 2]), dim=-1)


def face_pixel_pairs(
    pix: torch.Tensor, faces: torch.Tensor, image_hw: tuple[int, int], margin: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(face, pixel) pairs that include every pixel centre within `margin` pixels of its face.

    Each face enumerates the rows of its bounding box (grown by `margin`) and, in each row, only
    the columns where the face comes within `margin` of that row's centre line: a long thin face
    lying diagonally (a low-poly cylinder's wall) would touch a few pixels of a bounding box of
    thousands. Pairs come face by face, row by row, column by column, as from the bounding boxes.

    Args:
        pix: (N, V, 3) pixel-space vertices of N views (no gradient needed).
        faces: (F, 3) int64.
        image_hw: (H, W).
        margin: growth of each face in pixels.
    Returns:
        tri: (P, 3) indices into the packed (N*V) vertices of each pair's face,
        pixel: (P,) flat index into the (N, H, W) images,
        centre: (P, 2) pixel-centre coordinates (u, v).
    """
    n, v = pix.shape[:2]
    h, w = image_hw
    device = pix.device
    with torch.no_grad():
        tri = (faces.unsqueeze(0) + v * torch.arange(n, device=device).view(n, 1, 1)).reshape(-1, 3)
        packed = pix.reshape(-1, 3)
        corners = packed[:, :2][tri]  # (N*F, 3, 2)
        in_front = (packed[:, 2][tri] > 0).all(1)
        lo, hi = _grown_box(corners, margin, image_hw)
        rows = ((hi[:, 1] - lo[:, 1] + 1).clamp(min=0)) * in_front
        face = torch.repeat_interleave(torch.arange(len(tri), device=device), rows)
        row = lo[face, 1] + _ranks(rows, face)
        first, last = _row_span(corners[face], row.to(pix.dtype) + 0.5, margin)
        first = torch.maximum(torch.ceil(first - margin - 0.5).clamp(min=-1, max=w).long(), lo[face, 0])
        last = torch.minimum(torch.floor(last + margin - 0.5).clamp(min=-1, max=w).long(), hi[face, 0])
        cols = (last - first + 1).clamp(min=0)
        span = torch.repeat_interleave(torch.arange(len(face), device=device), cols)
        col = first[span] + _ranks(cols, span)
        face, row = face[span], row[span]
        view = torch.div(face, faces.shape[0], rounding_mode="floor")
        pixel = (view * h + row) * w + col
        centre = torch.stack((col, row), dim=-1).to(pix.dtype) + 0.5
    return tri[face], pixel, centre


def _grown_box(corners: torch.Tensor, margin: float, image_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, 3, 2) face corners -> the first and last (column, row) of the pixels whose centres lie
    in each face's bounding box grown by `margin`, clipped to the image: two (T, 2) int64."""
    h, w = image_hw
    lo = torch.ceil(corners.amin(1) - margin - 0.5)
    hi = torch.floor(corners.amax(1) + margin - 0.5)
    limit = torch.tensor([w - 1, h - 1], device=corners.device, dtype=lo.dtype)
    return torch.maximum(lo, torch.zeros_like(lo)).clamp(max=limit).long(), torch.minimum(hi, limit).long()


def _ranks(counts: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """0, 1, .. counts[i] - 1 for each i, concatenated (`owner` = repeat_interleave of i by counts)."""
    return torch.arange(len(owner), device=owner.device) - (torch.cumsum(counts, 0) - counts)[owner]


def _row_span(corners: torch.Tensor, y: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The x-range of each triangle's part within the band |y' - y| <= margin (slightly more, so
    no pixel within `margin` is lost to rounding): corners (R, 3, 2), y (R,) -> two (R,), +inf and
    -inf where the band misses the triangle. Its extreme points are corners inside the band or
    where the edges cross the band's two lines."""
    band = margin + 1e-3
    x0, y0 = corners[..., 0], corners[..., 1]
    x1, y1 = x0.roll(-1, 1), y0.roll(-1, 1)
    inf = torch.full_like(x0, math.inf)
    inside = (y0 - y[:, None]).abs() <= band
    first, last = torch.where(inside, x0, inf).amin(1), torch.where(inside, x0, -inf).amax(1)
    for line in (y - band, y + band):
        t = (line[:, None] - y0) / (y1 - y0)  # nan or inf for an edge along the line: its corners count instead
        crosses = (t >= 0) & (t <= 1)
        x = x0 + t * (x1 - x0)
        first = torch.minimum(first, torch.where(crosses, x, inf).amin(1))
        last = torch.maximum(last, torch.where(crosses, x, -inf).amax(1))
    return first, last


def _signed_dist2(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Signed squared distance from 2D points p to triangles abc (negative inside). All (P, 2).

    Written per coordinate: reductions over a trailing dimension of 2 are slow in torch.
    """
    px, py = p[:, 0], p[:, 1]

    def seg(x0: torch.Tensor, y0: torch.Tensor, x1: torch.Tensor, y1: torch.Tensor) -> torch.Tensor:
        ex, ey = x1 - x0, y1 - y0
        t = (((px - x0) * ex + (py - y0) * ey) / (ex * ex + ey * ey).clamp(min=1e-12)).clamp(0.0, 1.0)
        dx, dy = px - (x0 + t * ex), py - (y0 + t * ey)
        return dx * dx + dy * dy

    ax, ay, bx, by, cx, cy = a[:, 0], a[:, 1], b[:, 0], b[:, 1], c[:, 0], c[:, 1]
    dist = torch.minimum(torch.minimum(seg(ax, ay, bx, by), seg(bx, by, cx, cy)), seg(cx, cy, ax, ay))
    return torch.where(_inside(p, a, b, c), -dist, dist)


def _inside(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Whether 2D points p lie in triangles abc (either winding, edges included). All (P, 2)."""
    with torch.no_grad():

        def edge(s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
            return (s1[:, 0] - s0[:, 0]) * (p[:, 1] - s0[:, 1]) - (s1[:, 1] - s0[:, 1]) * (p[:, 0] - s0[:, 0])

        e0, e1, e2 = edge(a, b), edge(b, c), edge(c, a)
        return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))


@dataclass(frozen=True)
class SilhouetteRenderer:
    """Renders soft silhouettes of one mesh in several views at one image size.

    Attributes:
        image_hw: (H, W) in pixels.
        sigma: softness in squared pixels (PyTorch3D's sigma is in squared NDC units:
            sigma_ndc = sigma * (2 / min(H, W))^2).
        faces_per_pixel: K, used by the "pytorch3d" backend only.
        backend: "fast" or "pytorch3d" (see module docstring).
        blend: "union" or "nearest" (see module docstring; "nearest" with the "fast" backend only).
    """

    image_hw: tuple[int, int]
    sigma: float = 0.5
    faces_per_pixel: int = 32
    backend: str = "fast"
    blend: str = "union"

    def __post_init__(self) -> None:
        if self.blend not in ("union", "nearest") or (self.blend == "nearest" and self.backend != "fast"):
            raise ValueError(f"silhouette blend {self.blend!r} with backend {self.backend!r}")

    @property
    def blur_px(self) -> float:
        """Distance (pixels) beyond which a face's coverage probability drops under _MIN_PROB."""
        return math.sqrt(self.sigma * math.log(1.0 / _MIN_PROB - 1.0))

    def __call__(self, pix: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Soft silhouettes.

        Args:
            pix: (N, V, 3) pixel u, v and depth of the vertices in each of N views.
            faces: (F, 3) int64 vertex indices.
        Returns:
            (N, H, W) alpha in [0, 1].
        """
        if self.backend == "pytorch3d":
            return self._stock(pix, faces)
        if self.backend != "fast":
            raise ValueError(f"unknown silhouette backend {self.backend!r}")
        n = pix.shape[0]
        h, w = self.image_hw
        tri, pixel, centre = face_pixel_pairs(pix.detach(), faces, self.image_hw, self.blur_px)
        xy = pix[..., :2].reshape(-1, 2)
        with torch.no_grad():  # drop pairs beyond the blur radius before building the graph
            near = _signed_dist2(centre, xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]) < self.blur_px**2
        tri, pixel, centre = tri[near], pixel[near], centre[near]
        d = _signed_dist2(centre, xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]])
        # log(1 - sigmoid(-d/sigma)) = -softplus(-d/sigma), summed per pixel.
        log_miss = torch.zeros(n * h * w, dtype=pix.dtype, device=pix.device)
        log_miss = log_miss.index_add(0, pixel, -torch.nn.functional.softplus(-d / self.sigma))
        alpha = 1.0 - torch.exp(log_miss)
        if self.blend == "nearest":  # outside every face, the nearest face's coverage alone
            nearest = torch.full((n * h * w,), self.blur_px**2, dtype=pix.dtype, device=pix.device)
            nearest = nearest.scatter_reduce(0, pixel, d, "amin")
            alpha = torch.where(nearest < 0, alpha, torch.sigmoid(-nearest / self.sigma))
        return alpha.reshape(n, h, w)

    def _stock(self, pix: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        n = pix.shape[0]
        ndc = pixels_to_ndc(pix, self.image_hw)
        scale2 = (min(self.image_hw) / 2.0) ** 2  # squared pixels -> squared NDC
        pix_to_face, _, _, dists = rasterize_meshes(
            Meshes(verts=list(ndc), faces=[faces] * n),
            image_size=self.image_hw,
            blur_radius=self.blur_px**2 / scale2,
            faces_per_pixel=self.faces_per_pixel,
            perspective_correct=False,
            cull_backfaces=False,
            **binning(pix.device, faces.shape[0]),
        )
        prob = torch.sigmoid(-dists * scale2 / self.sigma) * (pix_to_face >= 0)
        return 1.0 - torch.prod(1.0 - prob, dim=-1)


def binning(device: torch.device, num_faces: int) -> dict[str, int | None]:
    """PyTorch3D rasterizer bin settings that can never overflow (an overflow silently drops faces).

    CUDA: the coarse-to-fine rasterizer with room for every face in every bin. CPU: no bins
    (PyTorch3D forces bin_size=0 there anyway).
    """
    if device.type == "cuda":
        return {"bin_size": None, "max_faces_per_bin": max(num_faces, 1)}
    return {"bin_size": 0, "max_faces_per_bin": None}


def hard_silhouette(pix: torch.Tensor, faces: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """Binary coverage of pixel centres. pix: (N, V, 3); faces: (F, 3). Returns (N, H, W) bool."""
    n = pix.shape[0]
    h, w = image_hw
    with torch.no_grad():
        tri, pixel, centre = face_pixel_pairs(pix, faces, image_hw, 0.0)
        xy = pix[..., :2].reshape(-1, 2)
        hit = _inside(centre, xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]])
        out = torch.zeros(n * h * w, dtype=torch.bool, device=pix.device)
        out[pixel[hit]] = True
    return out.reshape(n, h, w)
