"""Where a run executes: device, precision, and processes under `torchrun`.

Multi-process training uses DistributedDataParallel (NCCL on GPUs, gloo on CPU).
LIQE's quality loss compares every pair of images of a dataset's mini-batch
(paper Eq. 6), so splitting a mini-batch over processes must not split its pairs.
Each process encodes its share of every mini-batch; the predictions are then
gathered so that every process computes the loss of the whole global batch, and
the gradient that flows back to a process's share is scaled so that DDP's
gradient average equals the single-process gradient of the same global batch.
"""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_context(precision: str, device: torch.device):
    """bf16 autocast on CUDA (instead of the official fp16 weights) or on request; fp32 otherwise."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp32":
        return nullcontext()
    raise ValueError(f"unknown precision {precision!r}; choose auto, fp32 or bf16")


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_type: str) -> Context:
    """Join the process group that `torchrun` describes in the environment (a no-op without it)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context()
    ctx = Context(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        log.info("process %d of %d joined the %s process group", ctx.rank, world_size, dist.get_backend())
    return ctx


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


class _GatherForLoss(torch.autograd.Function):
    """all_gather whose backward hands each process the gradient of its own share, times world size.

    Every process computes the same loss from the gathered tensor, so each holds
    the full gradient already (no reduction needed); DDP then averages parameter
    gradients over the processes, which the factor world_size turns into the sum
    of the shares' contributions, i.e. the single-process gradient.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows, ctx.world_size = rank, x.shape[0], world_size
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        start = ctx.rank * ctx.rows
        return grad[start:start + ctx.rows] * ctx.world_size, None, None


def gather_for_loss(x: torch.Tensor | None, ctx: Context) -> torch.Tensor | None:
    """Concatenate every process's `x` in rank order (identity in a single process)."""
    if x is None or not ctx.enabled:
        return x
    return _GatherForLoss.apply(x, ctx.rank, ctx.world_size)
