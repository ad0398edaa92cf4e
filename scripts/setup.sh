#!/usr/bin/env bash
# Create or update the project's environments. Idempotent: pip runs only when a requirements file
# changed since the last successful install.
#   scripts/setup.sh            engine environment (.venv)
#   scripts/setup.sh --blender  also Blender's (.venv-blender: bpy 5.0; .venv-blender42: bpy 4.2 LTS,
#                               the oldest the extension supports) and the add-on's
#                               type checker (.venv-typecheck, fake-bpy-module for Blender 4.2)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (bpy 5.0 is cp311)"'

install() {  # install <venv> <requirements>
  local venv=$1 req=$2 stamp="$1/.installed-$(basename "$2")"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    echo "setup: installing $req into $venv (first time: several minutes, torch is large)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
}

install .venv requirements.txt
if [ "${1:-}" = "--blender" ]; then
  install .venv-blender requirements-blender.txt
  install .venv-blender42 requirements-blender42.txt
  install .venv-typecheck requirements-typecheck.txt
fi
