"""liqe-repro: LIQE (Zhang et al., CVPR 2023) as a reproducible paper package and a blind IQA tool."""
from importlib.metadata import PackageNotFoundError, version

from .model import LIQE, ImageScore, LIQEOutput, load_model

try:
    __version__ = version("liqe-repro")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["LIQE", "LIQEOutput", "ImageScore", "load_model", "__version__"]
