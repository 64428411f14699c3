"""One training step's images and labels, every training dataset's mini-batch concatenated, and
how a step is shared between DDP processes.

Every process draws the same global batch (the sampler is seeded alike), encodes its own
share of each dataset's mini-batch (`Batch.share`), and gathers all predictions back
(`gather_output`) so that the quality loss sees every pair of a dataset, as in one process.
`Batch.in_rank_order` puts the labels in the order of the gathered predictions.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from . import runtime
from .model import LIQEOutput

#: The tensor fields of a Batch: one row per image, selected and concatenated alike.
_ROWS = ("crops", "score", "distortion", "scenes", "appearance", "group")


@dataclass
class Batch:
    """The images of one step, datasets concatenated. `group` is the dataset's index (pairs stay within it)."""

    crops: torch.Tensor  # uint8 (N, U, 3, 224, 224)
    score: torch.Tensor  # (N,)
    distortion: torch.Tensor  # (N,) class index, -1 unknown
    scenes: torch.Tensor  # (N, 9) multi-hot, zeros unknown
    appearance: torch.Tensor  # (N, 4) level index per appearance attribute, -1 unknown
    group: torch.Tensor  # (N,)
    paths: list[str]

    @classmethod
    def collect(cls, batches: dict[str, dict], keys: list[str]) -> "Batch":
        """The collated mini-batches of `keys`, in that order (`MultiDatasetSampler.next_batch`)."""
        parts = [batches[k] for k in keys]
        labels = {f: torch.cat([b[f] for b in parts]) for f in _ROWS if f != "group"}
        group = torch.cat([torch.full((len(b["score"]),), i) for i, b in enumerate(parts)])
        return cls(**labels, group=group, paths=[p for b in parts for p in b["path"]])

    def _select(self, index: torch.Tensor) -> "Batch":
        return Batch(**{f: getattr(self, f)[index] for f in _ROWS}, paths=[self.paths[i] for i in index.tolist()])

    def share(self, rank: int, world_size: int) -> "Batch":
        """This process's share: the rank-th contiguous slice of every dataset's mini-batch."""
        index = []
        for g in self.group.unique():
            members = (self.group == g).nonzero(as_tuple=True)[0]
            if len(members) % world_size:
                raise ValueError(f"a mini-batch of {len(members)} images cannot be shared by {world_size} "
                                 "processes: make every batch size a multiple of the number of processes")
            size = len(members) // world_size
            index.append(members[rank * size:(rank + 1) * size])
        return self._select(torch.cat(index))

    def in_rank_order(self, world_size: int) -> "Batch":
        """The rows in the order `gather_output` concatenates the processes' predictions."""
        if world_size == 1:
            return self
        shares = [self.share(r, world_size) for r in range(world_size)]
        return Batch(**{f: torch.cat([getattr(s, f) for s in shares]) for f in _ROWS},
                     paths=[p for s in shares for p in s.paths])

    def to(self, device: torch.device) -> "Batch":
        """The labels on `device`; the crops stay where they are (the step moves only its own share)."""
        return dataclasses.replace(self, **{f: getattr(self, f).to(device) for f in _ROWS if f != "crops"})


def gather_output(out: LIQEOutput, ctx: runtime.Context) -> LIQEOutput:
    """Predictions of the whole global batch in every process (see `runtime.gather_for_loss`)."""
    if not ctx.enabled:
        return out
    return LIQEOutput((), *(runtime.gather_for_loss(x, ctx) for x in (out.quality, out.scene, out.distortion,
                                                                          out.score, out.appearance,
                                                                          out.uncertainty)))
