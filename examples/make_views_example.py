"""Regenerate the bundled reference sheet (examples/cow/views/): the true cow rendered by Cycles
from the front (-Y) and from the side (+X) by orthographic cameras, RGBA PNGs whose alpha is the
silhouette, and views.json: where an artist's image empties holding them stand (the picture's
centre on the cow's, turned to face its view, its longer side the camera's ortho scale).

    PYTHONPATH=. .venv/bin/python examples/make_views_example.py   # needs .venv-blender (bpy) too
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from engine.camera.blender import BlenderCamera, look_at
from engine.io import load_mesh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name -> (azimuth, elevation) of the view in degrees, its picture's (W, H)
VIEWS = {"front": (-90.0, 0.0, (400, 400)), "side": (0.0, 0.0, (400, 400))}
MARGIN = 1.15  # the picture's longer side over the cow's extent


def main() -> None:
    out = HERE / "cow" / "views"
    out.mkdir(parents=True, exist_ok=True)
    verts, _ = load_mesh(HERE / "cow" / "ground_truth.obj")
    centre = (verts.min(0) + verts.max(0)) / 2
    size = MARGIN * float(np.ptp(verts, axis=0).max())
    placed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (azimuth, elevation, wh) in VIEWS.items():
            persp = look_at(centre, azimuth, elevation, 10.0 * size, wh)
            camera = BlenderCamera(**{**persp.to_dict(), "type": "ORTHO", "ortho_scale": size, "clip_end": 100.0 * size})
            job = Path(tmp) / "job.json"
            job.write_text(
                json.dumps({"camera": camera.to_dict(), "mesh": str(HERE / "cow" / "ground_truth.obj"), "samples": 32})
            )
            cmd = [str(ROOT / ".venv-blender/bin/python"), str(ROOT / "tests/blender/scene_tools.py"), "render", str(job)]
            subprocess.run([*cmd, str(out / f"{name}.png")], check=True)
            rotation = np.asarray(camera.matrix_world)[:3, :3]  # the empty faces the view as the camera does
            placed.append({"image": f"{name}.png", "location": centre.tolist(), "matrix": rotation.tolist(), "size": size})
    (out / "views.json").write_text(json.dumps(placed, indent=1))


if __name__ == "__main__":
    main()
