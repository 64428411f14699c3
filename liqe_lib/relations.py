"""Task relationships made measurable: do the auxiliary tasks pull the shared image encoder the
same way as quality assessment (cooperative) or against it (conflicting)? (Paper Sec. 4.5, Table 5.)

For a model and a few training mini-batches, the gradient of each task's fidelity loss
with respect to the image encoder's parameters is taken separately; the cosine between
the quality gradient and each auxiliary gradient says whether a step on that task also
lowers the quality loss (> 0) or raises it (< 0).
"""
from __future__ import annotations

import pandas as pd
import torch

from . import rundata
from .config import LossConfig, TrainConfig
from .crops import normalize
from .model import LIQE
from .batch import Batch
from .train import build_model, task_losses


def task_gradients(model: LIQE, batch: Batch, tasks: tuple[str, ...], loss: LossConfig) -> dict[str, torch.Tensor]:
    """Per task, the flattened gradient of its loss (the run's resolved `loss` settings) with respect to the
    image encoder (one forward pass)."""
    params = [p for name, p in model.clip.named_parameters() if name.startswith("visual.") and p.requires_grad]
    losses = task_losses(model(normalize(batch.crops)), batch, tasks, loss, model.task_set.name, model.head)
    gradients = {}
    for task in tasks:
        grads = torch.autograd.grad(losses[task], params, retain_graph=True, allow_unused=True)
        gradients[task] = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])
    return gradients


def gradient_cosines(model: LIQE, batches: list[Batch], loss: LossConfig) -> pd.DataFrame:
    """One row per batch and auxiliary task: cosine(grad quality, grad task) on the image encoder."""
    tasks = model.task_set.tasks
    rows = []
    for index, batch in enumerate(batches):
        grads = task_gradients(model, batch, tasks, loss)
        rows += [{"batch": index, "task": task,
                  "cosine": float(torch.nn.functional.cosine_similarity(grads["quality"], grads[task], dim=0))}
                 for task in tasks if task != "quality"]
    return pd.DataFrame(rows)


def training_batches(cfg: TrainConfig, count: int, seed: int = 1) -> list[Batch]:
    """`count` training mini-batches of a run's datasets (a sampler seeded apart from the run's own)."""
    cfg = cfg.resolved()
    sampler = rundata.train_sampler(cfg.data, seed)
    keys = [d.key for d in cfg.data.train]
    return [Batch.collect(sampler.next_batch(), keys) for _ in range(count)]


def cosines_at_start_and_end(cfg: TrainConfig, trained: LIQE, batches: list[Batch]) -> pd.DataFrame:
    """Gradient cosines of the run's initial model (same seed as training) and of the trained one."""
    loss = cfg.resolved().loss
    torch.manual_seed(cfg.seed)
    initial = build_model(cfg.model)
    return pd.concat([gradient_cosines(initial, batches, loss).assign(point="initialisation"),
                      gradient_cosines(trained, batches, loss).assign(point="trained")], ignore_index=True)
