"""Time to show a streamed 100k-vertex update in Blender: the add-on's path (world -> local,
shape-key foreach_set, mesh update) against the slower ways of writing positions.

    .venv-blender/bin/python -m bench.blender_update
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from refine_addon import scene_io  # noqa: E402  (bpy + numpy only)

from .report import BENCHMARKS_MD, machine, write_section  # noqa: E402


def median_ms(fn: Callable[[], object], repeats: int = 30) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=316, y_subdivisions=316, size=2.0)
    obj = bpy.context.active_object
    obj.location, obj.rotation_euler = (1.0, 2.0, 0.5), (0.3, 0.1, 0.7)
    bpy.context.view_layer.update()
    n = len(obj.data.vertices)
    obj.shape_key_add(name="Basis")
    key = obj.shape_key_add(name="REFINE")
    key.value = 1.0
    world, _ = scene_io.mesh_world(obj)
    rng = np.random.default_rng(0)
    frames = [world + rng.normal(0, 1e-3, world.shape).astype(np.float32) for _ in range(2)]
    count = iter(range(10**9))

    def addon_path() -> None:  # what Refinement.show does per streamed frame
        scene_io.write_key(key, scene_io.world_to_local(obj, frames[next(count) % 2]))
        obj.data.update()

    local = scene_io.world_to_local(obj, world)
    flat = local.ravel()
    rows = [
        ("add-on path: world->local + ShapeKey.points.foreach_set + mesh.update()", median_ms(addon_path)),
        ("ShapeKey.points.foreach_set only", median_ms(lambda: key.points.foreach_set("co", flat))),
        ("ShapeKey.data.foreach_set", median_ms(lambda: key.data.foreach_set("co", flat))),
        ("mesh.vertices.foreach_set", median_ms(lambda: obj.data.vertices.foreach_set("co", flat), 10)),
    ]
    loop_ms = median_ms(lambda: [setattr(p, "co", c) for p, c in zip(key.data, local.tolist())], 3)
    rows.append(("Python loop over ShapeKey.data", loop_ms))
    base = rows[0][1]
    lines = ["| method | median ms | vs add-on path |", "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {ms / base:.1f}x |" for name, ms in rows]
    table = "\n".join(lines)
    print(f"{n} vertices\n{table}")
    write_section(
        BENCHMARKS_MD,
        "blender",
        f"## Applying a streamed update in Blender ({machine()}, bpy {bpy.app.version_string})\n\n"
        f"Command: `.venv-blender/bin/python -m bench.blender_update` ({n:,} vertices, median of 30; target < 5 ms).\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
