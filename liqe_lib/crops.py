"""Resizing and cropping of LIQE (DESIGN.md, "Crops").

Images are resized with AdaptiveResize(768) and cut into 224x224 windows: three
windows for training, fifteen windows of a regular grid for evaluation. Training
windows come from one of two samplers (`TRAIN_CROP_SAMPLERS`, `data.train_crop_sampler`,
docs/FIDELITY.md): the official code's "grid" (flip the whole image once, then draw
windows with replacement from the evaluation grid) or "random" (any offset, each
window flipped on its own). Only the chosen windows are ever copied out: the
official dataset code materialises the whole grid (204 windows, 123 MB of floats,
for a 1024x768 image) before selecting fifteen.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

CROP_SIZE = 224
RESIZE_SHORTER = 768
EVAL_CROPS = 15
TRAIN_CROPS = 3
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TRAIN_CROP_SAMPLERS = ("grid", "random")


def adaptive_resize(image: Image.Image, shorter: int = RESIZE_SHORTER, min_side: int = CROP_SIZE) -> Image.Image:
    """AdaptiveResize of the official code, plus upscaling of small images.

    An image whose sides are both at least `shorter` is resized (bilinear) so its
    shorter side is `shorter`; other images keep their size, except that an image
    with a side under `min_side` is upscaled so that side becomes `min_side`
    (a 224x224 crop must fit; the official code would crash instead). The long side
    is truncated, int(target * long / short), as torchvision's `Resize(768)` in the
    official `AdaptiveResize` (utils.py l. 160) computes it: rounding instead would
    turn a 1363x1022 result into 1364 and, near 1024, flip the grid's stride 32/48.
    """
    w, h = image.size
    small, large = min(w, h), max(w, h)
    if small >= shorter:
        target = shorter
    elif small < min_side:
        target = min_side
    else:
        return image
    long_side = int(target * large / small)
    size = (target, long_side) if w == small else (long_side, target)
    return image.resize(size, Image.BILINEAR)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB image -> uint8 tensor (3, H, W), without a float copy."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def eval_grid_stride(height: int, width: int) -> int:
    """Stride of the evaluation grid: 32, or 48 when a side is at least 1024 pixels."""
    return 48 if max(height, width) >= 1024 else 32


def grid_positions(height: int, width: int, size: int = CROP_SIZE) -> list[tuple[int, int]]:
    """(top, left) of every `size` window at the stride of `eval_grid_stride`, in row-major order
    (the official `unfold` grid of ImageDataset2.py l. 70-78)."""
    if height < size or width < size:
        raise ValueError(f"image of {width}x{height} is smaller than a {size}x{size} crop; adaptive_resize it first")
    stride = eval_grid_stride(height, width)
    return [(top, left) for top in range(0, height - size + 1, stride) for left in range(0, width - size + 1, stride)]


def eval_crop_positions(height: int, width: int, n: int = EVAL_CROPS, size: int = CROP_SIZE) -> list[tuple[int, int]]:
    """(top, left) of the `n` evaluation windows of an image of the given size.

    With N grid positions (`grid_positions`) the windows at indices i * (N // n) are
    taken (the official rule, computed per image, never per batch). When the grid
    has fewer than n positions, indices (i * N) // n spread the n crops over all
    of them (repeating some) instead of repeating the first window n times.
    """
    grid = grid_positions(height, width, size)
    count = len(grid)
    step = count // n
    indices = [i * step for i in range(n)] if step else [(i * count) // n for i in range(n)]
    return [grid[k] for k in indices]


def cut(image: torch.Tensor, positions: list[tuple[int, int]], size: int = CROP_SIZE) -> torch.Tensor:
    """Copy out only the windows at `positions` from a (3, H, W) tensor -> (U, 3, size, size)."""
    return torch.stack([image[:, t:t + size, l:l + size] for t, l in positions])


def eval_crops(image: Image.Image, n: int = EVAL_CROPS) -> torch.Tensor:
    """The evaluation crops of one image: AdaptiveResize, then the n grid windows, uint8 (n, 3, 224, 224)."""
    tensor = to_tensor(adaptive_resize(image))
    return cut(tensor, eval_crop_positions(tensor.shape[1], tensor.shape[2], n))


def train_crops(image: Image.Image, generator: torch.Generator, n: int = TRAIN_CROPS,
                sampler: str = "grid") -> torch.Tensor:
    """n training windows of 224x224, uint8 (n, 3, 224, 224), drawn by `sampler`:

    * "grid" (official): the whole image is flipped horizontally with probability 1/2
      (`RandomHorizontalFlip` in `_preprocess3`, utils.py l. 178-185), then n windows
      are drawn uniformly with replacement from its evaluation grid
      (`torch.randint(0, N, (num_patch,))`, ImageDataset2.py l. 86);
    * "random": n windows at any offset, each flipped with probability 1/2 on its own.
    """
    tensor = to_tensor(adaptive_resize(image))
    h, w = tensor.shape[1:]
    if sampler == "grid":
        if torch.rand(1, generator=generator).item() < 0.5:
            tensor = tensor.flip(-1)
        grid = grid_positions(h, w)
        picks = torch.randint(0, len(grid), (n,), generator=generator).tolist()
        return cut(tensor, [grid[k] for k in picks])
    if sampler != "random":
        raise ValueError(f"unknown train crop sampler {sampler!r}; choose one of {TRAIN_CROP_SAMPLERS}")
    tops = torch.randint(0, h - CROP_SIZE + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(0, w - CROP_SIZE + 1, (n,), generator=generator).tolist()
    flips = torch.rand(n, generator=generator).lt(0.5).tolist()
    crops = cut(tensor, list(zip(tops, lefts)))
    return torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flips)])


def normalize(crops: torch.Tensor) -> torch.Tensor:
    """uint8 crops (..., 3, H, W) -> float crops normalised with CLIP's mean and std."""
    mean = torch.tensor(CLIP_MEAN, device=crops.device).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, device=crops.device).view(3, 1, 1)
    return (crops.float().div_(255) - mean) / std
