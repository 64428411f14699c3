"""Shared fixtures. Tests run offline: the hub is switched off before open_clip is imported.

A test that needs something optional (a test dependency, Chromium, ../shared) asks through
`require_module` / `require`: on a developer's machine it is skipped with the reason, in CI
(`CI=true`) it fails, because a skipped proof proves nothing.
"""
import importlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLE_JPEG = SHARED / "sample_images" / "6898804586.jpg"  # KonIQ-10k, 1024x768
SAMPLE_PNG = SHARED / "sample_images" / "I02_01_03.png"  # KADID-10k, 512x384
LABELS_DIR = SHARED / "liqe_labels"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip (or, in CI, fail) the calling test unless `condition` holds."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing test dependency is a failure, not a skip)")
    pytest.skip(f"{reason} (in CI this is a failure)", allow_module_level=True)


def require_module(name: str, why: str):
    """Import a test dependency; skip without it, fail in CI."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        require(False, f"{name} is needed {why}: {err}; `make setup` installs it")


@pytest.fixture(scope="session")
def shared_labels() -> Path:
    """The official label files in ../shared/liqe_labels, or a skip where this checkout has none."""
    require(LABELS_DIR.is_dir(), f"official label files not found at {LABELS_DIR}")
    return LABELS_DIR


@pytest.fixture(scope="session")
def sample_images() -> tuple[Path, Path]:
    require(SAMPLE_JPEG.is_file(), f"sample images not found under {SHARED / 'sample_images'}")
    return SAMPLE_JPEG, SAMPLE_PNG


@pytest.fixture(scope="session")
def tiny_model():
    """A random-init liqe-tiny LIQE model in eval mode (seeded; do not train it in place)."""
    from liqe_lib import load_model

    torch.manual_seed(0)
    return load_model(arch="liqe-tiny", weights=None).eval()
