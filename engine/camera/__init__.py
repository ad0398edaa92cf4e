"""Blender camera model: parsing Blender's camera fields and projecting points to pixels."""

from .blender import BlenderCamera, look_at, project, ray_directions, render_size, rescale_pixels

__all__ = ["BlenderCamera", "look_at", "project", "ray_directions", "render_size", "rescale_pixels"]
