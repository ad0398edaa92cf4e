#!/usr/bin/env bash
# The reference-sheet example: the coarse cow and two reference images (front, side) placed as
# image empties in headless Blender, no photo and no camera; Refine Mesh fits both at once. Saves
# out/example/refined_views.blend and out/example/views_before_after.png (one row per view).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --blender
mkdir -p out/example
.venv/bin/python build.py --out dist
BLENDER_USER_RESOURCES="$PWD/out/example/blender-user" \
  .venv-blender/bin/python examples/run_views_in_blender.py "$PWD/dist/refine_mesh-0.1.0.zip" "$PWD/.venv/bin/python" out/example
