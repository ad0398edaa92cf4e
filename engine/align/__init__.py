"""Aligning the photo and the mesh before the shape moves: the camera fit (fit.py: refine or
search, with the viewpoint search in search.py and the gradient polish in polish.py) and the
silhouette and camera helping each other (alignment.py)."""

from .alignment import Alignment, align, find_view_silhouettes
from .fit import CameraFit, fit_camera, silhouette_optimum
from .polish import FitCancelled, OnFitStep

__all__ = [
    "Alignment", "CameraFit", "FitCancelled", "OnFitStep", "align", "find_view_silhouettes", "fit_camera", "silhouette_optimum",
]  # fmt: skip
