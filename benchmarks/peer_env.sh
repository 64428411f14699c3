#!/usr/bin/env bash
# Create .venv-peer: IQA-PyTorch (PyPI pyiqa, a benchmark-only dependency of benchmarks/peer.py) layered
# over the project environment, so both tools run on the same pinned torch.
#
# .venv-peer sees the project venv's packages through a .pth file, installs this checkout (-e .) and pyiqa and whatever of its
# dependencies that venv lacks into itself, with env/requirements.lock as constraints: nothing the project
# pins (torch, numpy, pillow, open_clip, timm, ...) is replaced, and the project venv is not modified.
# pyiqa's `openai-clip` shadows clip-anytorch's `clip` module in .venv-peer only (same tokenizer code).
#
#   BASE_VENV=/path/to/venv   the project environment (default: .venv, made by env/setup.sh)
#   PYIQA=0.1.16              the pyiqa version
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_VENV=${BASE_VENV:-.venv}
PYIQA=${PYIQA:-0.1.16}
[ -x "$BASE_VENV/bin/python" ] || { echo "no project environment at $BASE_VENV: run env/setup.sh first" >&2; exit 1; }
[ -x .venv-peer/bin/python ] || "$BASE_VENV/bin/python" -m venv .venv-peer
base_site=$("$BASE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
peer_site=$(.venv-peer/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$base_site')" > "$peer_site/_project_venv.pth"  # its own .pth files too
grep -v -E '^(pip|setuptools)==' env/requirements.lock > .venv-peer/constraints.txt
.venv-peer/bin/python -m pip install --quiet -c .venv-peer/constraints.txt "pyiqa==$PYIQA"
.venv-peer/bin/python -m pip install --quiet --no-deps -e .  # liqe_lib from this checkout
echo "peer environment ready: $(.venv-peer/bin/python -c 'import torch, pyiqa; print("pyiqa", pyiqa.__version__, "torch", torch.__version__)')"
