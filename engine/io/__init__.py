"""File I/O at the edges: meshes, masks, cameras."""

from .camera_io import load_camera
from .image_io import load_image
from .mesh_io import load_mesh, save_mesh

__all__ = ["load_camera", "load_image", "load_mesh", "save_mesh"]
