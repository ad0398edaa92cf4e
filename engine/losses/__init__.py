"""Loss terms of the refinement (pure functions of tensors)."""

from .regularizers import (
    along_ray_l2,
    edge_length,
    interpenetration,
    laplacian,
    normal_consistency,
    offset_l2,
    part_depths,
    uniform_laplacian,
)
from .silhouette import silhouette_bce, silhouette_l2, soft_iou
from .symmetry import image_symmetry, vertex_symmetry

__all__ = [
    "along_ray_l2",
    "edge_length",
    "image_symmetry",
    "interpenetration",
    "laplacian",
    "normal_consistency",
    "offset_l2",
    "part_depths",
    "silhouette_bce",
    "silhouette_l2",
    "soft_iou",
    "uniform_laplacian",
    "vertex_symmetry",
]
