"""How well the run's self-check (engine/selfcheck.py) tells refinements that hurt the 3D shape
from those that helped: its warnings against the outcome, over the quality benchmark's runs.

    .venv/bin/python -m bench.selfcheck --configs default no-stretch

Runs come from .cache/bench/ (bench.quality's cache; missing ones are run). A run is "bad" when
its Chamfer distance is above the coarse input's or its unseen-view IoU drops more than 0.01.
"""

from __future__ import annotations

import argparse

from engine.selfcheck import self_check

from .cases import SPLITS, make_case
from .quality import CACHE, CONFIGS, cached_run, run_one


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["default"], choices=[c for c in CONFIGS if c != "coarse"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = {"runs": 0, "warned": 0, "bad": 0, "warned and bad": 0}
    for split, cases in SPLITS.items():
        for name in cases:
            case = make_case(name, args.seed)
            size = float((case.coarse_verts.max(0) - case.coarse_verts.min(0)).max())
            coarse = cached_run(CACHE / f"{name}-coarse-seed{args.seed}.npz", False, run_one, name, "coarse", args.seed)
            for config in args.configs:
                r = cached_run(CACHE / f"{name}-{config}-seed{args.seed}.npz", False, run_one, name, config, args.seed)
                check = self_check(case.coarse_verts, r["verts"], case.coarse_faces, case.camera, size)
                bad = r["chamfer"] > coarse["chamfer"] or r["iou_unseen"] < coarse["iou_unseen"] - 0.01
                warned = bool(check["warnings"])
                for key, hit in (("runs", True), ("warned", warned), ("bad", bad), ("warned and bad", warned and bad)):
                    counts[key] += hit
                volume = check["volume_change"]
                print(
                    f"{split:4s} {name:16s} {config:12s} {'BAD ' if bad else 'good'} along {check['along_ray']:.3f} "
                    f"across {check['across_ray']:.3f} volume {'-' if volume is None else f'{volume:+.2f}'} "
                    f"{'; '.join(w.split(':')[0] for w in check['warnings'])}",
                    flush=True,
                )
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
