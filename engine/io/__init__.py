"""File I/O at the edges: meshes, photos and masks, cameras."""

from .camera_io import load_camera
from .image_io import Photo, load_image, save_mask
from .mesh_io import load_mesh, save_mesh

__all__ = ["Photo", "load_camera", "load_image", "load_mesh", "save_mask", "save_mesh"]
