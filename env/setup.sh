#!/usr/bin/env bash
# Create .venv and install the pinned environment (env/requirements.lock), then this package in editable mode.
# torch and torchvision are pinned as a matching pair: PyPI's torchvision does not import against the
# CPU-only torch wheel some machines carry ("operator torchvision::nms does not exist").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -r env/requirements.lock
.venv/bin/python -m pip install --quiet --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "environment ready: $(.venv/bin/python -c 'import torch, open_clip; print("torch", torch.__version__, "open_clip", open_clip.__version__)')"
