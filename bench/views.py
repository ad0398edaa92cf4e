"""Views benchmark: the shape refined against one, two or three views of the object, exact cameras.

    .venv/bin/python -m bench.views --split tune

Per case of bench.cases: "1 view" is bench.quality's default row (the case's photo; shared cache);
"2 views" adds a view 75 degrees round from the photo's and 35 degrees up, "3 views" also one from
behind and above (215 degrees round, 55 up), each a 50 mm camera at the photo's size and distance
with the true mesh's silhouette. Metrics as bench.quality; "IoU unseen" is over its four views,
which no configuration uses (the 2-view camera is 25 degrees from its left one). `--near` adds
"3 views, near cameras" (every camera placed by hand 6-12 degrees off, Fit Camera refine, every
view's camera corrected with the shape) and "... taken as exact" (the further cameras as given).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from engine.camera import BlenderCamera, look_at
from engine.refine import refine
from engine.settings import preset

from .cases import SPLITS, Case, make_case, perturb_camera, render_mask
from .quality import CACHE, cached_run, evaluate, run_one, table
from .report import split_parser, write_split_section

# Further views: (degrees round the object from the photo's camera, degrees up), in order.
EXTRA_VIEWS = ((75.0, 35.0), (215.0, 55.0))
CONFIGS = {"1 view": 0, "2 views": 1, "3 views": 2}  # name -> how many EXTRA_VIEWS
# Every camera placed by hand, 6-12 degrees off (bench.cases CAMERA_ERRORS "near"), refine mode:
# every view's camera corrected with the shape, or the further ones taken as given (fit_views off).
NEAR = "3 views, near cameras"
NEAR_GIVEN = "3 views, near cameras taken as exact"
NEARS = {NEAR: "views3near", NEAR_GIVEN: "views3near-given"}  # config -> cache name


def extra_cameras(case: Case, count: int) -> list[BlenderCamera]:
    """The case's first `count` further views (EXTRA_VIEWS)."""
    centre = (case.gt_verts.min(0) + case.gt_verts.max(0)) / 2
    d = np.asarray(case.camera.location) - centre
    azimuth = float(np.degrees(np.arctan2(d[1], d[0])))
    size = case.camera.image_size_wh
    return [look_at(centre, azimuth + round_, up, 7.5, size) for round_, up in EXTRA_VIEWS[:count]]


def run_views(case_name: str, config: str, seed: int, view_prior: float | None = None) -> dict:
    """One configuration on one case (in a child process); `view_prior`: the weight of the
    corrected cameras' prior (Weights.view_cameras), when not the preset's."""
    count = CONFIGS.get(config, 2)
    if count == 0:
        return run_one(case_name, "default", seed)
    case = make_case(case_name, seed)
    near = config in NEARS
    views = tuple(
        (perturb_camera(case, "near", seed, camera=c, view=i) if near else c, render_mask(case.gt_verts, case.gt_faces, c), None)
        for i, c in enumerate(extra_cameras(case, count), start=1)
    )
    camera = perturb_camera(case, "near", seed) if near else case.camera
    settings = preset("default").with_overrides(seed=seed, fit_camera="refine" if near else "off", fit_views=config != NEAR_GIVEN)
    if view_prior is not None:
        settings = replace(settings, weights=replace(settings.weights, view_cameras=view_prior))
    t = time.perf_counter()
    result = refine(case.coarse_verts, case.coarse_faces, case.mask, camera, settings, image=case.rgb, more_views=views)
    out: dict = {"case": case_name, "config": config, "seconds": time.perf_counter() - t}
    out["sec_per_iter"] = result.report.seconds["per_iteration"]
    out.update(evaluate(case, result.vertices, case.coarse_faces))
    out["verts"] = result.vertices
    return out


def summary(results: dict, cases: list[str]) -> str:
    """Per configuration: mean Chamfer and F-score change against the coarse input, cases worse
    than their input, cases worse than with one view fewer."""
    lines = [
        "| config | Chamfer vs input | F-score vs input (points) | worse than input | worse than one view fewer |",
        "|---|---|---|---|---|",
    ]
    names = list(CONFIGS)
    for k, config in enumerate(names):
        rows = [(results[(c, "coarse")], results[(c, config)]) for c in cases]
        change = np.mean([r["chamfer"] / c0["chamfer"] - 1 for c0, r in rows])
        gain = np.mean([r["fscore"] - c0["fscore"] for c0, r in rows])
        worse = sum(r["chamfer"] > c0["chamfer"] for c0, r in rows)
        fewer = "" if k == 0 else str(sum(results[(c, config)]["chamfer"] > results[(c, names[k - 1])]["chamfer"] for c in cases))
        lines.append(f"| {config} | {100 * change:+.0f} % | {gain:+.1f} | {worse} of {len(cases)} | {fewer} |")
    for near in NEARS:
        if all((c, near) in results for c in cases):
            rows = [(results[(c, "coarse")], results[(c, near)]) for c in cases]
            change = np.mean([r["chamfer"] / c0["chamfer"] - 1 for c0, r in rows])
            worse = sum(r["chamfer"] > c0["chamfer"] for c0, r in rows)
            gain = np.mean([r["fscore"] - c0["fscore"] for c0, r in rows])
            lines.append(f"| {near} | {100 * change:+.0f} % | {gain:+.1f} | {worse} of {len(cases)} |  |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = split_parser(__doc__ or "", SPLITS)
    parser.add_argument("--near", action="store_true", help=f"also '{NEAR}' and '{NEAR_GIVEN}'")
    parser.add_argument("--view-prior", type=float, help="with --near: the corrected cameras' prior weight (tuning)")
    args = parser.parse_args(argv)
    cases = SPLITS[args.split]
    results: dict = {}
    for name in cases:
        results[(name, "coarse")] = cached_run(
            CACHE / f"{name}-coarse-seed{args.seed}.npz", False, run_one, name, "coarse", args.seed
        )
        for config, count in CONFIGS.items():
            key = f"{name}-default-seed{args.seed}.npz" if count == 0 else f"{name}-views{count + 1}-seed{args.seed}.npz"
            r = results[(name, config)] = cached_run(CACHE / key, args.fresh and count > 0, run_views, name, config, args.seed)
            print(f"{name:15s} {config:8s} chamfer {r['chamfer']:7.3f} F {r['fscore']:5.1f} unseen {r['iou_unseen']:.3f} "
                  f"{r.get('seconds', 0):5.1f}s", flush=True)  # fmt: skip
        for near, key in NEARS.items() if args.near else ():
            prior = None if near == NEAR_GIVEN else args.view_prior
            key += "" if prior is None else f"-prior{prior:g}"
            path = CACHE / f"{name}-{key}-seed{args.seed}.npz"
            r = results[(name, near)] = cached_run(path, args.fresh, run_views, name, near, args.seed, prior)
            print(
                f"{name:15s} {key:16s} chamfer {r['chamfer']:7.3f} F {r['fscore']:5.1f} {r.get('seconds', 0):5.1f}s", flush=True
            )
    configs = ["coarse", *CONFIGS, *(NEARS if args.near else ())]
    text = f"{summary(results, cases)}\n\n{table(results, cases, configs)}"
    print(text)
    options = (" --near" if args.near else "") + ("" if args.view_prior is None else f" --view-prior {args.view_prior:g}")
    write_split_section("Views benchmark", "views", args.split, args.seed, text, options)


if __name__ == "__main__":
    main()
