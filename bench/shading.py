"""Shaded pictures of a mesh for the benchmark montages: what a 3D error looks like from a side the
refinement never saw (a silhouette hides dents, bulges and depth errors)."""

from __future__ import annotations

import numpy as np
import torch
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.structures import Meshes

from engine.camera import BlenderCamera, project
from engine.render.silhouette import binning, pixels_to_ndc

BACKGROUND = 1.0  # white


def shaded(verts: np.ndarray, faces: np.ndarray, camera: BlenderCamera) -> np.ndarray:
    """(H, W) float32 grey levels in [0, 1]: the nearest face at each pixel, lit by a light at the
    camera (Lambert on the face normal, both sides), white where there is no mesh."""
    w, h = camera.image_size_wh
    v = torch.tensor(verts, dtype=torch.float32)
    f = torch.tensor(faces, dtype=torch.int64)
    pix = project(camera, v)
    pix_to_face, _, _, _ = rasterize_meshes(
        Meshes([pixels_to_ndc(pix, (h, w))], [f]),
        image_size=(h, w),
        faces_per_pixel=1,
        blur_radius=0.0,
        **binning(pix.device, len(f)),
    )
    tri = v[f]
    normals = torch.nn.functional.normalize(torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), dim=1)
    to_camera = torch.nn.functional.normalize(torch.tensor(camera.location, dtype=torch.float32) - tri.mean(1), dim=1)
    light = 0.25 + 0.7 * (normals * to_camera).sum(1).abs()  # (F,)
    face = pix_to_face[0, :, :, 0]
    out = torch.full((h, w), BACKGROUND)
    out[face >= 0] = light[face[face >= 0]]
    return out.numpy()
