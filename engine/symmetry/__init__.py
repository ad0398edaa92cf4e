"""Reflective symmetry planes: finding them on a mesh and reflecting points through them."""

from .plane import Plane, detect_plane, fit_plane_offset

__all__ = ["Plane", "detect_plane", "fit_plane_offset"]
