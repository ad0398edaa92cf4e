"""Whether a camera sees a mesh at all: the check every path makes before a fit or a refinement."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .blender import BlenderCamera, project


def check_view(verts: np.ndarray, camera: BlenderCamera) -> None:
    """The camera must see the mesh: in front of the camera, inside the clip range, in the frame."""
    pix = project(camera, torch.from_numpy(verts)).numpy()
    depth = pix[:, 2]
    if camera.type == "PERSP" and depth.min() <= camera.clip_start:
        if depth.max() <= camera.clip_start:
            raise InputError("camera does not see the mesh: the mesh is behind the camera")
        raise InputError("camera: the mesh crosses the camera's near clip plane; move the camera back")
    if depth.min() >= camera.clip_end or depth.max() <= camera.clip_start:
        raise InputError("camera does not see the mesh: the mesh is outside the clip range")
    w, h = camera.image_size_wh
    u, v = pix[:, 0], pix[:, 1]
    if u.max() < 0 or u.min() > w or v.max() < 0 or v.min() > h:
        raise InputError("camera does not see the mesh: the mesh projects outside the image")
