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
from datetime import timedelta

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


PRECISIONS = ("auto", "fp32", "bf16", "fp16-weights")


def resolve_precision(precision: str, device: torch.device, fidelity: str = "official") -> str:
    """`auto`: on CUDA the official code's fp16 weights (`fidelity` official) or bf16 autocast with fp32
    weights (paper); fp32 on CPU, where the official loop also steps in fp32 (train_unique_clip_weight.py
    l. 303-304). Any other value is kept (and checked)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "fp16-weights" if fidelity == "official" else "bf16"


def autocast_context(precision: str, device: torch.device, fidelity: str = "official"):
    """bf16 autocast when the precision resolves to bf16; fp32 and fp16 weights run without autocast."""
    if resolve_precision(precision, device, fidelity) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def _fp16_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """The tensors OpenAI's `clip.model.convert_weights` keeps in fp16: weights and biases of convolutions,
    linear layers and attention, and the `text_projection` / `proj` matrices. Layer norms, embeddings,
    the class and position embeddings and `logit_scale` stay fp32, as in the official model."""
    tensors = []
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            tensors += [module.weight, module.bias]
        if isinstance(module, torch.nn.MultiheadAttention):
            tensors += [getattr(module, name) for name in
                        ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                         "bias_k", "bias_v")]
        tensors += [getattr(module, name) for name in ("text_projection", "proj")
                    if isinstance(getattr(module, name, None), torch.nn.Parameter)]
    return [t for t in tensors if t is not None]


def to_fp16_weights(model: torch.nn.Module) -> None:
    """Round the official fp16 tensors (`_fp16_tensors`) to fp16 in place, as `clip.load` gives them on CUDA."""
    for tensor in _fp16_tensors(model):
        tensor.data = tensor.data.half()


def fp16_weights_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """The official optimiser step with fp16 weights (train_unique_clip_weight.py l. 303-308, utils.py l. 187-191):
    every parameter and gradient to fp32 (`convert_models_to_fp32`), the step, then the fp16 tensors rounded
    back (`clip.model.convert_weights`). Gradients were computed in fp16 without loss scaling, and an update
    smaller than half an fp16 step of its weight is lost in the rounding."""
    for param in model.parameters():
        param.data = param.data.float()
        if param.grad is not None:
            param.grad.data = param.grad.data.float()
    optimizer.step()
    to_fp16_weights(model)


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


def context() -> Context:
    """This process's place among those that `torchrun` describes in the environment (one process without it)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context()
    return Context(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device_type: str = "cpu", backend: str | None = None, timeout: timedelta | None = None) -> Context:
    """Join the process group of `context()` (a no-op in one process): NCCL for a CUDA `device_type`, else
    gloo, unless `backend` says; `timeout` bounds every collective (torch's default: 30 minutes)."""
    ctx = context()
    if ctx.enabled and not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if device_type == "cuda" else "gloo"), timeout=timeout)
        log.info("process %d of %d joined the %s process group", ctx.rank, ctx.world_size, dist.get_backend())
    return ctx


def process_device(device: torch.device, ctx: Context) -> torch.device:
    """The device of this process: under `torchrun` a CUDA device becomes GPU LOCAL_RANK (made current)."""
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    return device


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
