#!/usr/bin/env bash
# The main job on the bundled example, the whole stack: build the extension zip, install it into
# headless Blender (the bpy module), start the engine, refine examples/cow against its plain photo
# with no camera (Find), save out/example/refined.blend and a before/after picture rendered by Blender.
# `scripts/run_example.sh views`: the reference-sheet example instead (two image empties, no photo,
# no camera): out/example/refined_views.blend and out/example/views_before_after.png.
set -euo pipefail
cd "$(dirname "$0")/.."
runner=examples/run_in_blender.py
[[ "${1:-}" == views ]] && runner=examples/run_views_in_blender.py
scripts/setup.sh --blender
mkdir -p out/example
.venv/bin/python build.py --out dist
# A private Blender user folder, so the user's own Blender config is never touched.
BLENDER_USER_RESOURCES="$PWD/out/example/blender-user" \
  .venv-blender/bin/python "$runner" "$PWD/dist/refine_mesh-0.1.0.zip" "$PWD/.venv/bin/python" out/example
