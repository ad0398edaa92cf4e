"""Shape regularizers over a fixed-topology mesh. verts: (V, 3); faces: (F, 3) int64."""

from __future__ import annotations

import torch
from pytorch3d.loss import mesh_edge_loss, mesh_normal_consistency
from pytorch3d.ops import knn_points
from pytorch3d.structures import Meshes


def offset_l2(verts: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """mean((v - v0)^2) over vertices and coordinates."""
    return ((verts - rest) ** 2).mean()


def along_ray_l2(verts: torch.Tensor, rest: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
    """mean(((v - v0) . r)^2) over vertices: displacement along each vertex's viewing ray (V, 3
    unit rays), the motion a silhouette cannot see and therefore cannot justify."""
    return (((verts - rest) * rays).sum(dim=1) ** 2).mean()


def uniform_laplacian(faces: torch.Tensor, num_verts: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sparse (V, V) uniform Laplacian D^-1 A - I (PyTorch3D's); it depends on topology only."""
    verts = torch.zeros(num_verts, 3, dtype=dtype, device=faces.device)
    return Meshes([verts], [faces]).laplacian_packed()


def laplacian(lap: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """mean_i |(L x)_i|: PyTorch3D's uniform `mesh_laplacian_smoothing` for x = vertices.

    REFINE applies it to the vertices; applied to the displacement x = v - v0 it smooths the
    deformation without flattening the detail the input already has.
    """
    return torch.sparse.mm(lap, x).norm(dim=1).mean()


def normal_consistency(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """1 - cos of the angle between normals of adjacent faces, averaged (PyTorch3D's)."""
    return mesh_normal_consistency(Meshes([verts], [faces]))


def edge_length(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean squared edge length (PyTorch3D's mesh_edge_loss with target length 0)."""
    return mesh_edge_loss(Meshes([verts], [faces]))


def part_depths(verts: torch.Tensor, faces: torch.Tensor, parts: list[torch.Tensor]) -> torch.Tensor:
    """(V,) how far each vertex is outside the other parts: its offset from the nearest vertex of
    another part along that vertex's outward normal (negative: inside it). parts: one (V,) bool
    mask per part, at least two, together covering every vertex once."""
    normals = Meshes([verts], [faces]).verts_normals_packed()
    depth = torch.empty(len(verts), dtype=verts.dtype, device=verts.device)
    for mine in parts:
        others = ~mine
        nearest = knn_points(verts[mine][None], verts[others][None], K=1).idx[0, :, 0]
        v_other, n_other = verts[others][nearest], normals[others][nearest]
        depth[mine] = ((verts[mine] - v_other) * n_other).sum(dim=1)
    return depth


def interpenetration(depth: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """mean(relu(allowed - depth)^2): a vertex going deeper into another part than `allowed`
    ((V,), its depth at the start where it was already inside, else 0). Solid parts do not pass
    through each other, and a silhouette cannot tell which part covers a pixel both cover."""
    return torch.relu(allowed - depth).pow(2).mean()
