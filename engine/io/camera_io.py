"""Camera JSON files (Blender's own field names)."""

from __future__ import annotations

import json
from pathlib import Path

from ..camera import BlenderCamera
from ..errors import InputError


def load_camera(path: str | Path) -> BlenderCamera:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"camera: file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"camera: {path.name} is not valid JSON: {exc}") from None
    return BlenderCamera.from_dict(data)
