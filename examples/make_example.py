"""Regenerate the bundled example (examples/cow/): a simulated coarse reconstruction of the cow
(from the benchmark's generator), its Blender camera, a Cycles-rendered RGBA photo (alpha = the
silhouette) and photo.jpg, the plain photo a user has (shaded, on a backdrop, no alpha, twice the
camera's size; rendered like the photo benchmark's product shots).

    PYTHONPATH=. .venv/bin/python examples/make_example.py   # needs .venv-blender (bpy) too
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from bench.cases import make_case
from bench.photos import colours
from engine.io import save_mesh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> None:
    case = make_case("cow")
    out = HERE / "cow"
    out.mkdir(exist_ok=True)
    save_mesh(out / "coarse.obj", case.coarse_verts, case.coarse_faces)
    save_mesh(out / "ground_truth.obj", case.gt_verts, case.gt_faces)
    (out / "camera.json").write_text(json.dumps(case.camera.to_dict(), indent=1))
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"camera": case.camera.to_dict(), "mesh": str(out / "ground_truth.obj"), "samples": 32}))
        cmd = [
            str(ROOT / ".venv-blender/bin/python"),
            str(ROOT / "tests/blender/scene_tools.py"),
            "render",
            str(job),
            str(out / "photo.png"),
        ]
        subprocess.run(cmd, check=True)
        obj, backdrop = colours("cow", "product", 0)
        plain = dict(mesh=str(out / "ground_truth.obj"), camera=case.camera.to_dict(), style="product",
                     object_rgb=obj, backdrop_rgb=backdrop, out=str(out / "photo.jpg"))  # fmt: skip
        job.write_text(json.dumps([plain]))
        subprocess.run([str(ROOT / ".venv-blender/bin/python"), str(ROOT / "bench/photo_render.py"), str(job)], check=True)


if __name__ == "__main__":
    main()
