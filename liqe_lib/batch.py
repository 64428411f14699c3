"""One training step's images and labels, every training dataset's mini-batch concatenated, how
steps are loaded ahead of the training loop, and how a step is shared between DDP processes.

Every process draws the same global batch (the sampler is seeded alike), encodes its own
share of each dataset's mini-batch (`Batch.share`), and gathers all predictions back
(`gather_output`) so that the quality loss sees every pair of a dataset, as in one process.
`Batch.in_rank_order` puts the labels in the order of the gathered predictions.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from . import runtime
from .data.dataset import Job, MultiDatasetSampler, load_step
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

    def pin_memory(self) -> "Batch":
        """The tensors in page-locked memory, from which copies to the GPU run asynchronously
        (the DataLoader's pinning thread calls this)."""
        return dataclasses.replace(self, **{f: getattr(self, f).pin_memory() for f in _ROWS})

    def _select(self, index: torch.Tensor) -> "Batch":
        return Batch(**{f: getattr(self, f)[index] for f in _ROWS}, paths=[self.paths[i] for i in index.tolist()])

    def share(self, rank: int, world_size: int) -> "Batch":
        """This process's share: the rank-th contiguous slice of every dataset's mini-batch."""
        if world_size == 1:
            return self  # no copy: the crops stay in the loader's pinned memory
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

    def to(self, device: torch.device, non_blocking: bool = False) -> "Batch":
        """The labels on `device`; the crops stay where they are (the step moves only its own share)."""
        return dataclasses.replace(self, **{f: getattr(self, f).to(device, non_blocking=non_blocking)
                                            for f in _ROWS if f != "crops"})


class StepLoader:
    """The sampler's training steps as `Batch`es, loaded ahead of the loop by worker processes.

    `epoch(steps)` starts an epoch of the sampler (`start_epoch`) and draws the whole epoch's
    plan at once (`MultiDatasetSampler.plan`: indices only, cheap). A DataLoader whose sampler
    is that plan and whose dataset maps one step's jobs to its Batch (`_Steps`) then loads
    `prefetch_factor` steps per worker ahead while the current step computes, in
    `num_workers` worker processes (0: in this process, when the loop asks for the step).
    Loading is a pure function of the jobs, so the batches do not depend on the number of
    workers; and since checkpoints are written only at epoch ends, when the whole plan has been
    drawn, the sampler's saved state is that of an uninterrupted run: resume stays exact.
    Unreadable images join `sampler.skipped` as their step is consumed.

    The official code keeps one DataLoader per dataset with 8 workers and pinned memory
    (utils.py l. 31, train_unique_clip_weight.py l. 621) and starts their workers afresh at
    every epoch's `iter(loader)` (l. 176-177); here one loader serves every dataset, and its
    workers persist across epochs.
    """

    def __init__(self, sampler: MultiDatasetSampler, num_workers: int = 0, pin_memory: bool = False,
                 prefetch_factor: int = 2):
        self.sampler = sampler
        self._plan = _Plan()
        # Worker seeds come from a private generator: the default one would draw from the global RNG,
        # which is checkpointed, at every new iterator, and a resumed run creates its iterator anew.
        self._loader = torch.utils.data.DataLoader(
            _Steps(sampler.datasets), batch_size=None, sampler=self._plan, num_workers=num_workers,
            pin_memory=pin_memory, prefetch_factor=prefetch_factor if num_workers else None,
            persistent_workers=num_workers > 0, generator=torch.Generator())

    def epoch(self, steps: int) -> Iterator[Batch]:
        """The `steps` batches of the next epoch, in order."""
        self.sampler.start_epoch()
        self._plan.steps = self.sampler.plan(steps)
        for batch, skipped in self._loader:
            self.sampler.skipped += skipped
            yield batch


class _Plan(torch.utils.data.Sampler):
    """The DataLoader's sampler: the current epoch's steps, each a list of jobs (set by `StepLoader.epoch`;
    persistent workers keep the DataLoader, so the plan changes in place)."""

    def __init__(self):
        self.steps: list[list[Job]] = []

    def __iter__(self) -> Iterator[list[Job]]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


class _Steps(torch.utils.data.Dataset):
    """One step's jobs -> (its Batch, the paths of its unreadable images), in any process."""

    def __init__(self, datasets: dict):
        self.datasets = datasets

    def __getitem__(self, jobs: Sequence[Job]) -> tuple[Batch, list[str]]:
        batches = load_step(self.datasets, jobs)
        return Batch.collect(batches, list(batches)), [path for b in batches.values() for path in b["skipped"]]


def gather_output(out: LIQEOutput, ctx: runtime.Context) -> LIQEOutput:
    """Predictions of the whole global batch in every process (see `runtime.gather_for_loss`)."""
    if not ctx.enabled:
        return out
    return LIQEOutput((), *(runtime.gather_for_loss(x, ctx) for x in (out.quality, out.scene, out.distortion,
                                                                          out.score, out.appearance,
                                                                          out.uncertainty)))
