"""Differentiable soft silhouettes of triangle meshes seen by Blender cameras."""

from .silhouette import SilhouetteRenderer, hard_silhouette

__all__ = ["SilhouetteRenderer", "hard_silhouette"]
