"""3D accuracy of a mesh against ground truth (the benchmarks' Chamfer-L2 and F-score), through
PyTorch3D's point sampling and nearest neighbours. The engine itself never needs them."""

from __future__ import annotations

import numpy as np
import torch
from pytorch3d.ops import knn_points, sample_points_from_meshes
from pytorch3d.structures import Meshes


def normalize_to_reference(ref_verts: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale and translate everything so the reference's bounding box is centred with max extent 1."""
    lo, hi = ref_verts.min(0), ref_verts.max(0)
    c, s = (lo + hi) / 2, (hi - lo).max()
    return [(v - c) / s for v in (ref_verts, *others)]


def sample_points(verts: np.ndarray, faces: np.ndarray, count: int = 10_000, seed: int = 0) -> torch.Tensor:
    """(count, 3) area-uniform surface samples (seeded)."""
    torch.manual_seed(seed)
    mesh = Meshes([torch.tensor(verts, dtype=torch.float32)], [torch.tensor(faces, dtype=torch.int64)])
    return sample_points_from_meshes(mesh, count)[0]


def chamfer_fscore(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.02) -> tuple[float, float]:
    """Chamfer-L2 (mean squared nearest-neighbour distance, both directions summed) and F-score.

    Args:
        pred, gt: (P, 3) and (Q, 3) point samples, in the frame where the GT's max extent is 1.
        threshold: F-score distance threshold in the same units.
    Returns:
        (chamfer, fscore in [0, 1]).
    """
    d_pg = knn_points(pred[None], gt[None], K=1).dists[0, :, 0]  # squared distances
    d_gp = knn_points(gt[None], pred[None], K=1).dists[0, :, 0]
    chamfer = float(d_pg.mean() + d_gp.mean())
    precision = float((d_pg.sqrt() < threshold).float().mean())
    recall = float((d_gp.sqrt() < threshold).float().mean())
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return chamfer, f


def mesh_accuracy(
    verts: np.ndarray, faces: np.ndarray, ref_verts: np.ndarray, ref_faces: np.ndarray, threshold: float = 0.02
) -> tuple[float, float]:
    """Chamfer-L2 and F-score (chamfer_fscore) of a mesh against a reference mesh, both sampled
    (sample_points) in the frame where the reference's max extent is 1 (normalize_to_reference)."""
    ref, mesh = normalize_to_reference(ref_verts, verts)
    return chamfer_fscore(sample_points(mesh, faces), sample_points(ref, ref_faces), threshold)
