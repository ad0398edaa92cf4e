"""The object's silhouette in a photo: resampling to the camera's size, and extraction from a
photo without alpha (classical, offline: GrabCut seeded by the projected mesh)."""

from .extract import Extraction, confirm_overlap, extract_silhouette
from .resample import check_aspect, resize, to_camera_size

__all__ = ["Extraction", "check_aspect", "confirm_overlap", "extract_silhouette", "resize", "to_camera_size"]
