"""Pseudo-MOS: full-reference scores standing in for subjective ones on the synthetic dataset.

Following the pseudo-label recipe of `papers/qa_feature_multitask.txt` (Sec. 2.2), six
classic full-reference metrics from piq (SSIM, MS-SSIM, FSIM, VSI, GMSD, MDSI) score each
distorted image against its pristine reference; each metric is min-max normalised over
the whole set (GMSD and MDSI are distances, so they are flipped), the six are averaged,
and the mean is mapped linearly onto the 1-5 range of LIQE's quality levels, higher better.

The metrics run at half resolution: piq's SSIM, FSIM and VSI already average-pool images
to about 256 pixels, and the six metrics dominate the cost of building the set.
"""
from __future__ import annotations

import math

import numpy as np
import piq
import torch
import torch.nn.functional as F

METRICS: tuple[str, ...] = ("ssim", "ms_ssim", "fsim", "vsi", "gmsd", "mdsi")
#: Metrics that measure a distance (0 = identical), flipped before averaging.
DISTANCES = frozenset({"gmsd", "mdsi"})
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, finest scale first
MS_SSIM_KERNEL = 11
WORKING_POOL = 2
MOS_RANGE = (1.0, 5.0)


def ms_ssim_scales(min_side: int, kernel_size: int = MS_SSIM_KERNEL) -> int:
    """Number of MS-SSIM scales an image with this shorter side supports (at most 5).

    Each scale halves the image and the Gaussian window must still fit, so s scales need
    a side of at least (kernel_size - 1) * 2**(s - 1) + 1 pixels: 161 for the standard five.
    Smaller images use the finest scales only, with their weights renormalised.
    """
    if min_side < kernel_size:
        raise ValueError(f"MS-SSIM needs images of at least {kernel_size} pixels per side, got {min_side}")
    fit = math.floor(math.log2((min_side - 1) / (kernel_size - 1))) + 1
    return max(1, min(len(MS_SSIM_WEIGHTS), fit))


def _ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(MS_SSIM_WEIGHTS[:ms_ssim_scales(min(x.shape[-2:]))], dtype=x.dtype)
    return piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none", scale_weights=weights)


_METRIC_FUNCTIONS = {
    "ssim": lambda x, y: piq.ssim(x, y, data_range=1.0, reduction="none"),
    "ms_ssim": _ms_ssim,
    "fsim": lambda x, y: piq.fsim(x, y, data_range=1.0, reduction="none"),
    "vsi": lambda x, y: piq.vsi(x, y, data_range=1.0, reduction="none"),
    "gmsd": lambda x, y: piq.gmsd(x, y, data_range=1.0, reduction="none"),
    "mdsi": lambda x, y: piq.mdsi(x, y, data_range=1.0, reduction="none"),
}


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxWx3 arrays of one size -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)


@torch.inference_mode()
def full_reference_scores(distorted: torch.Tensor, reference: torch.Tensor) -> dict[str, np.ndarray]:
    """The six raw metric values of each distorted image (N, 3, H, W) against one reference (1, 3, H, W)."""
    if distorted.shape[1:] != reference.shape[1:]:
        raise ValueError(f"distorted images {tuple(distorted.shape[1:])} and reference "
                         f"{tuple(reference.shape[1:])} differ in size")
    x = F.avg_pool2d(distorted, WORKING_POOL)
    y = F.avg_pool2d(reference, WORKING_POOL).expand_as(x).contiguous()
    return {name: _METRIC_FUNCTIONS[name](x, y).double().numpy() for name in METRICS}


def pseudo_mos(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Mean of the min-max normalised metrics (distances flipped), mapped onto 1-5.

    Normalisation is over the whole set, so the best-scored image of every metric
    counts as 1 and the worst as 0; a metric that is constant over the set (a set of
    one image) contributes 1.
    """
    normalised = []
    for name in METRICS:
        values = np.asarray(scores[name], dtype=np.float64)
        if name in DISTANCES:
            values = -values
        span = values.max() - values.min()
        normalised.append((values - values.min()) / span if span > 0 else np.ones_like(values))
    low, high = MOS_RANGE
    return low + (high - low) * np.mean(normalised, axis=0)
