"""How right can a camera fitted to a coarse mesh's silhouette be? Bounds for the camera benchmark.

    .venv/bin/python -m bench.camera_bounds --split tune

Per case, camera IoU (bench.camera: the ground-truth mesh's silhouettes under a camera and under
the true one) of:
- `given`: the hand-placed ("near") camera as given;
- `fitted`: today's refine-mode fit from it (bench.camera's near-refine run, shared cache);
- `exact mesh`: the same fit with the ground-truth mesh in place of the coarse one (the fit's own
  reach when the mesh is right);
- `true turn`: the true viewing direction with the given camera's distance, lens and shift (a
  perfect orbit under a held framing: the best a held fit can do);
- `true turn, fitted framing`: the same with distance, lens and position then fitted to the coarse
  mesh's silhouette (a perfect orbit under a freed framing);
- `optimum near truth`: the camera the coarse mesh's silhouette prefers when polished from the
  true camera itself, nothing held: where any fit that trusts the silhouette ends, however good
  its start or search.
And the refined shape's Chamfer (x1000) with the true camera (bench.quality's default row), with
today's fitted camera, and with the `true turn` camera: what a perfect viewing direction would
give the shape while the framing stays the hand-placed one.
"""

from __future__ import annotations

import numpy as np

from engine.align import fit_camera, silhouette_optimum
from engine.refine import refine
from engine.settings import preset

from .camera import camera_iou, run_camera
from .cases import SPLITS, make_case, perturb_camera
from .quality import CACHE, cached_run, evaluate, run_one
from .report import run_split_rows

COLUMNS = ("given", "fitted", "exact mesh", "true turn", "true turn, fitted framing", "optimum near truth")
CHAMFER = ("Chamfer, true camera", "Chamfer, fitted", "Chamfer, true turn")


def bounds(case_name: str, seed: int) -> dict[str, float]:
    """For one case's near camera: the camera IoU of each COLUMNS camera and the CHAMFER values."""
    case = make_case(case_name, seed)
    given = perturb_camera(case, "near", seed)
    true_turn = perturb_camera(case, "near", seed, turn=False)
    coarse = (case.coarse_verts, case.coarse_faces, case.mask)
    fitted = cached_run(
        CACHE / f"{case_name}-camera-near-refine-seed{seed}.npz", False, run_camera, case_name, "near-refine", seed
    )
    cameras = {
        "given": given,
        "exact mesh": fit_camera(case.gt_verts, case.gt_faces, case.mask, given, "refine").camera,
        "true turn": true_turn,
        "true turn, fitted framing": silhouette_optimum(*coarse, true_turn, hold_orbit=True),
        "optimum near truth": silhouette_optimum(*coarse, case.camera),
    }
    exact = cached_run(CACHE / f"{case_name}-default-seed{seed}.npz", False, run_one, case_name, "default", seed)
    turned = refine(case.coarse_verts, case.coarse_faces, case.mask, true_turn, preset("default").with_overrides(seed=seed))
    return {
        "fitted": fitted["camera_iou_out"],
        **{k: camera_iou(case, c) for k, c in cameras.items()},
        CHAMFER[0]: exact["chamfer"],
        CHAMFER[1]: fitted["chamfer"],
        CHAMFER[2]: evaluate(case, turned.vertices, case.coarse_faces)["chamfer"],
    }


def table(rows: dict[str, dict[str, float]]) -> str:
    keys = COLUMNS + CHAMFER
    head = "| case | " + " | ".join(f"camera IoU, {k}" for k in COLUMNS) + " | " + " | ".join(CHAMFER) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 1)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    means = {k: float(np.mean([r[k] for r in rows.values()])) for k in keys}
    lines.append("| **mean** | " + " | ".join(f"{means[k]:.3f}" for k in keys) + " |")
    reach = [str(sum(r[k] >= 0.95 for r in rows.values())) for k in COLUMNS] + [""] * len(CHAMFER)
    lines.append("| **camera IoU 0.95 or better** | " + " | ".join(reach) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_split_rows(__doc__, "Camera bounds", "camera_bounds", SPLITS, bounds, table, argv)


if __name__ == "__main__":
    main()
