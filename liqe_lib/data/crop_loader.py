"""Evaluation crops of many images, decoded by `torch.utils.data.DataLoader` worker processes.

Scoring an image costs a JPEG decode, AdaptiveResize and fifteen window copies on the CPU
(about 20 ms of one core for a 1024x768 JPEG, `benchmarks/score_folder.py`) before the
model sees it. On a GPU the model is far faster than that, so `liqe score`, `LIQE.score`
and gMAD's playground read their images through one loader whose workers prepare the
next batches while the model encodes the current one, into pinned memory when the model
is on CUDA. Crops are cut in the workers, not on the GPU: the fifteen windows of a
1024x768 image hold 96 % of its resized pixels, so cutting them on the host is one copy
and the transfer is the same size either way.

Every item is computed exactly as in the main process (`crops.eval_crops`), so results
and their order do not depend on the number of workers. An unreadable image becomes an
item carrying its reason, never an exception in a worker (which would end the whole
loader); only errors of the caller's own making (a tensor of the wrong shape) are raised.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from PIL import Image
from torchvision.transforms.functional import to_pil_image

from ..crops import EVAL_CROPS, eval_crops
from .images import ImageDecodeError, ImageSource, load_rgb

#: What `LIQE.score` accepts as one image: an `ImageSource` or a (3, H, W) / (1, H, W) tensor.
ScoreInput = ImageSource | torch.Tensor


@dataclass
class CropBatch:
    """A batch of inputs: every input's name and error (None when it was read), and the crops of
    the readable ones, uint8 (k, U, 3, 224, 224) in input order (None when none was readable)."""

    names: list[str]
    errors: list[str | None]
    crops: torch.Tensor | None

    def pin_memory(self) -> "CropBatch":
        """Called by the DataLoader's pin-memory thread (`pin_memory=True`), for non-blocking transfers."""
        if self.crops is not None:
            self.crops = self.crops.pin_memory()
        return self


def as_rgb(image: ScoreInput, name: str | None = None) -> Image.Image:
    """An 8-bit RGB PIL image from any `ScoreInput` (tensors: uint8 as is, floats clamped to [0, 1])."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"an image tensor must be shaped (3, H, W) or (1, H, W), got {tuple(image.shape)}")
        image = to_pil_image(image if image.dtype == torch.uint8 else image.clamp(0, 1))
    return load_rgb(image, name=name)


class EvalCropDataset(torch.utils.data.Dataset):
    """(name, input) pairs -> (name, uint8 crops or None, error reason or None)."""

    def __init__(self, items: Sequence[tuple[str, ScoreInput]], n_crops: int = EVAL_CROPS):
        self.items = items
        self.n_crops = n_crops

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor | None, str | None]:
        name, image = self.items[index]
        try:
            return name, eval_crops(as_rgb(image, name), self.n_crops), None
        except ImageDecodeError as err:
            return name, None, err.reason


def _collate(items: list[tuple[str, torch.Tensor | None, str | None]]) -> CropBatch:
    crops = [c for _, c, _ in items if c is not None]
    return CropBatch([name for name, _, _ in items], [error for _, _, error in items],
                     torch.stack(crops) if crops else None)


def default_workers(device: torch.device | str) -> int:
    """Worker processes for scoring on `device`: on CUDA up to 8, the cores shared by the processes
    `torchrun` starts on this machine (`LOCAL_WORLD_SIZE`), one core left to each main process;
    on CPU none, since there the model needs every core and decoding is 2 % of an image's time."""
    if torch.device(device).type != "cuda":
        return 0
    cores = (os.cpu_count() or 2) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(8, cores - 1))


def crop_batches(items: Sequence[tuple[str, ScoreInput]], batch_size: int, workers: int = 0,
                 pin_memory: bool = False) -> Iterator[CropBatch]:
    """Batches of `batch_size` inputs in input order, decoded and cropped by `workers` processes
    (0: in this process). Each worker keeps two batches ready ahead of the model."""
    loader = torch.utils.data.DataLoader(
        EvalCropDataset(items), batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate,
        pin_memory=pin_memory, prefetch_factor=2 if workers else None)
    yield from loader
