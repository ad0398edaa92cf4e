#!/usr/bin/env bash
# The main job on the bundled example: refine examples/cow/coarse.obj against the Cycles-rendered
# photo and write out/example/refined.obj, a JSON report and a before/after picture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out/example
.venv/bin/python -m engine refine \
  --mesh examples/cow/coarse.obj --image examples/cow/photo.png --camera examples/cow/camera.json \
  --out out/example/refined.obj --report out/example/report.json --preview out/example/before_after.png "$@"
echo "before/after picture: out/example/before_after.png"
