#!/usr/bin/env bash
# The test suite: real PyTorch3D, real Blender (the bpy wheel), real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --blender
exec .venv/bin/python -m pytest -q "$@"
