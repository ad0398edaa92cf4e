"""How much of the error left after a refinement is depth the photo cannot show? An oracle.

    .venv/bin/python -m bench.depth_bounds --split test

Moving every vertex along its own viewing ray leaves the picture exactly as it is. Per case, the
refined mesh (bench.quality's default row, shared cache) is remapped along the rays by the depth
map d' = d_c + t + s (d - d_c) + a X + b Y (d: depth, d_c: the refined mesh's mean depth, X, Y:
image position at that depth, in object sizes) whose parameters (scale s, tilt a and b, offset t)
bring it closest to the ground truth (Nelder-Mead on the symmetric Chamfer distance of surface
samples). Four numbers per case that no silhouette carries; the table gives the Chamfer and
F-score with them found from the truth, next to the input's and the refinement's.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from engine.camera import BlenderCamera

from .cases import SPLITS, make_case
from .metrics import mesh_accuracy, sample_points
from .quality import CACHE, cached_run, run_one
from .report import run_split_rows

KEYS = ("input", "refined", "depth oracle")


def along_rays(camera: BlenderCamera, verts: np.ndarray, params: np.ndarray, size: float) -> np.ndarray:
    """(N, 3) world points moved along their viewing rays by the depth map of the module
    docstring; params = (s, a, b, t), t in object sizes."""
    w2c = camera.world_to_camera()
    p = verts @ w2c[:3, :3].T + w2c[:3, 3]  # camera frame, looking down -z
    s, a, b, t = params
    depth = -p[:, 2]
    mean = float(depth.mean())
    ortho = camera.type == "ORTHO"
    xy = p[:, :2] if ortho else p[:, :2] * (mean / depth)[:, None]
    xy = (xy - xy.mean(0)) / size
    moved = mean + t * size + s * (depth - mean) + (a * xy[:, 0] + b * xy[:, 1]) * size
    if ortho:
        q = np.concatenate([p[:, :2], -moved[:, None]], 1)
    else:
        q = p * (moved / depth)[:, None]
    return (q - w2c[:3, 3]) @ w2c[:3, :3]


def depth_oracle(case_name: str, seed: int) -> dict[str, float]:
    """Chamfer (x1000) and F-score (%) of the input, the refinement and the refinement remapped
    along the rays by the truth's best depth map, for one case."""
    case = make_case(case_name, seed)
    refined = cached_run(CACHE / f"{case_name}-default-seed{seed}.npz", False, run_one, case_name, "default", seed)["verts"]
    size = float(np.ptp(case.gt_verts, axis=0).max())
    surface = sample_points(refined, case.coarse_faces, 3000).double().numpy()
    truth = sample_points(case.gt_verts, case.gt_faces, 3000).double().numpy()
    to_truth = cKDTree(truth)

    def distance(params: np.ndarray) -> float:
        moved = along_rays(case.camera, surface, params, size)
        return float((to_truth.query(moved)[0] ** 2).mean() + (cKDTree(moved).query(truth)[0] ** 2).mean())

    start = np.array([1.0, 0.0, 0.0, 0.0])
    simplex = np.vstack([start, start + 0.05 * np.eye(4)])
    best = minimize(distance, start, method="Nelder-Mead", options={"initial_simplex": simplex, "maxfev": 400}).x
    out = {}
    for key, verts in zip(KEYS, (case.coarse_verts, refined, along_rays(case.camera, refined, best, size))):
        chamfer, fscore = mesh_accuracy(verts, case.coarse_faces, case.gt_verts, case.gt_faces)
        out[f"{key} Chamfer"], out[f"{key} F"] = 1000 * chamfer, 100 * fscore
    return out


def table(rows: dict[str, dict[str, float]]) -> str:
    keys = [f"{k} {m}" for m in ("Chamfer", "F") for k in KEYS]
    lines = ["| case | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    means = {k: float(np.mean([r[k] for r in rows.values()])) for k in keys}
    for name, row in [*rows.items(), ("**mean**", means)]:
        lines.append(f"| {name} | " + " | ".join(f"{row[k]:.3f}" if "Chamfer" in k else f"{row[k]:.1f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_split_rows(__doc__, "Depth bounds", "depth_bounds", SPLITS, depth_oracle, table, argv)


if __name__ == "__main__":
    main()
