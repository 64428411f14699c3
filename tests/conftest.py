"""Shared fixtures. Tests run offline: the hub is switched off before open_clip is imported."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLE_JPEG = SHARED / "sample_images" / "6898804586.jpg"  # KonIQ-10k, 1024x768
SAMPLE_PNG = SHARED / "sample_images" / "I02_01_03.png"  # KADID-10k, 512x384
LABELS_DIR = SHARED / "liqe_labels"


@pytest.fixture(scope="session")
def shared_labels() -> Path:
    """The official label files in ../shared/liqe_labels, or a skip where this checkout has none."""
    if not LABELS_DIR.is_dir():
        pytest.skip(f"official label files not found at {LABELS_DIR}")
    return LABELS_DIR


@pytest.fixture(scope="session")
def sample_images() -> tuple[Path, Path]:
    if not SAMPLE_JPEG.is_file():
        pytest.skip(f"sample images not found under {SHARED / 'sample_images'}")
    return SAMPLE_JPEG, SAMPLE_PNG


@pytest.fixture(scope="session")
def tiny_model():
    """A random-init liqe-tiny LIQE model in eval mode (seeded; do not train it in place)."""
    from liqe_lib import load_model

    torch.manual_seed(0)
    return load_model(arch="liqe-tiny", weights=None).eval()
