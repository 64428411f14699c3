"""LIQE's multitask, multi-dataset training loop (paper Sec. 3.3 and 4.1), read top to bottom in `train`.

Per step: one mini-batch from every training dataset (loaded ahead of the step by
`data.num_workers` worker processes, `batch.StepLoader`); all crops of all images
through CLIP; logits averaged over an image's crops and softmaxed over the
prompts into the joint p(c, s, d | x) (Eqs. 2-3); the quality fidelity loss over
pairs within each dataset (Eq. 6), the scene and distortion fidelity losses
(Eqs. 7 and 9) and, for `all+appearance`, the appearance loss; their DWA- (Eq. 11) or
equally weighted sum (Eq. 10); one AdamW step.

Where the official code and the paper differ, the run follows `cfg.fidelity`
(docs/FIDELITY.md): the config is resolved once at the start (`TrainConfig.resolved`)
and the settings travel from there: the pair probability and tie target of the quality
loss, the Quality + Distortion variant's distortion loss, the training crops, how
passes over a dataset meet epochs, the precision (official fp16 weights on CUDA) and
the epoch selection.

After each epoch the model is validated on the validation part of every training
dataset (the whole dataset's, when training uses a content part of it) and the
epoch is *selected* by `selection_score`. Two
files are written each epoch: `last.pt`, the whole training state (model,
optimiser, scheduler, DWA history, sampler, RNG states), from which `resume=True`
continues bitwise-identically to an uninterrupted run; and, when the epoch is the
best so far, `best.pt`, a model checkpoint that `load_model(weights=...)` and
`liqe evaluate` read. `log.jsonl` holds one record per step and per epoch.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import rundata, runtime
from .batch import Batch, StepLoader, gather_output
from .config import LossConfig, ModelConfig, ScheduleConfig, TrainConfig
from .crops import normalize
from .evaluate import evaluate_datasets
from .losses import appearance_fidelity_loss, categorical_fidelity_loss, quality_fidelity_loss, scene_fidelity_loss
from .model import LIQE, LIQEOutput, load_model
from .unique import HEAD as HEAD_UNIQUE
from .unique import unique_loss
from .weighting import make_weighting

log = logging.getLogger(__name__)

STATE_FORMAT = "liqe-repro-train"
LOG_NAME = "log.jsonl"
#: The metric of each task that model selection averages (official `current_avg`).
SELECTION_METRICS = {"quality": "srcc", "scene": "scene_acc", "distortion": "distortion_acc",
                     "appearance": "appearance_acc"}
SELECTIONS = ("quality", "average")


@dataclass
class TrainResult:
    out_dir: Path
    best_checkpoint: Path
    best_epoch: int  # 0-based; -1 when no epoch was trained (zero-shot variants)
    best_score: float


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train one session of one variant; see the module docstring."""
    cfg = cfg.resolved()
    device = runtime.resolve_device(cfg.device)
    ctx = runtime.setup(device.type)
    device = runtime.process_device(device, ctx)
    out_dir = Path(cfg.out_dir)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(out_dir / "config.yaml")

    # --- model, data, optimiser ---------------------------------------------------------
    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = build_model(cfg.model, device)
    precision = runtime.resolve_precision(cfg.precision, device, cfg.fidelity)
    if ctx.enabled and (precision == "fp16-weights" or cfg.data.passes == "epoch"):
        raise ValueError("several processes need full, evenly shared mini-batches in fp32 or bf16: run them with "
                         "--set data.passes=continuous --set precision=bf16 (the official fp16 weights and partial "
                         "mini-batches are single-process behaviour)")
    if precision == "fp16-weights":
        runtime.to_fp16_weights(model)
    appearance = "train" if "appearance" in model.task_set.tasks else None  # labels by the training tertiles
    sampler = rundata.train_sampler(cfg.data, cfg.seed, appearance)
    loader = StepLoader(sampler, cfg.data.num_workers, pin_memory=device.type == "cuda")
    val_sets = {name: rundata.make_dataset(name, rundata.split_rows(name, cfg.data)["val"], cfg.data, train=False,
                                           appearance=appearance)
                for name in dict.fromkeys(d.name for d in cfg.data.train)}
    tasks = trained_tasks(model, sampler.datasets)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                  betas=(cfg.optim.beta1, cfg.optim.beta2), eps=cfg.optim.eps,
                                  weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg.schedule, cfg.steps_per_epoch, cfg.epochs))
    weighting = make_weighting(cfg.loss.weighting, tasks, cfg.loss.temperature)
    progress = {"epoch": 0, "best_epoch": -1, "best_score": -math.inf}
    if resume and (out_dir / "last.pt").is_file():
        progress = load_state(out_dir / "last.pt", cfg, model, optimizer, scheduler, weighting, sampler)
        log.info("resuming %s at epoch %d", out_dir, progress["epoch"] + 1)
    elif cfg.epochs == 0 and ctx.is_main:  # a zero-shot variant: the untrained model is the result
        save_model(model, cfg, out_dir / "best.pt", epoch=-1, val={})
    net = torch.nn.parallel.DistributedDataParallel(model) if ctx.enabled else model
    run_log = RunLog(out_dir / LOG_NAME, enabled=ctx.is_main, keep_before_epoch=progress["epoch"])
    autocast = runtime.autocast_context(precision, device)
    images_per_step = sum(d.batch_size for d in cfg.data.train)
    log.info("training %s (%s fidelity, %s): tasks %s on %s, %d x %d steps, up to %d images a step, "
             "%d process(es) on %s", cfg.name, cfg.fidelity, precision, tasks, list(sampler.datasets), cfg.epochs,
             cfg.steps_per_epoch, images_per_step, ctx.world_size, device)

    for epoch in range(progress["epoch"], cfg.epochs):
        model.train()
        data = loader.epoch(cfg.steps_per_epoch)
        lambdas = weighting.weights()
        sums = {t: 0.0 for t in tasks}
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"{cfg.name} epoch {epoch + 1}/{cfg.epochs}",
                   disable=not ctx.is_main, leave=False)
        for step in bar:
            start = time.perf_counter()
            # data: one mini-batch per dataset, loaded ahead by the loader's workers (pinned on CUDA, so the
            # copies run asynchronously); this process encodes its share of each
            batch = next(data)
            mine = batch.share(ctx.rank, ctx.world_size)
            # forward: crops -> logits averaged over crops -> joint probability and marginals
            with autocast:
                out = net(normalize(mine.crops.to(device, non_blocking=True)))
            preds = gather_output(out, ctx)
            target = batch.in_rank_order(ctx.world_size).to(device, non_blocking=True)
            # losses: quality pairs only within a dataset; weighted sum of the tasks
            losses = task_losses(preds, target, tasks, cfg.loss, model.task_set.name, model.head)
            total = sum(lambdas[t] * losses[t] for t in tasks)
            check_finite(total, losses, batch, epoch, step)
            # step
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if precision == "fp16-weights":
                runtime.fp16_weights_step(model, optimizer)
            else:
                optimizer.step()
            scheduler.step()
            # log
            values = {t: v.item() for t, v in losses.items()}
            for t in tasks:
                sums[t] += values[t]
            seconds = time.perf_counter() - start
            bar.set_postfix(loss=f"{total.item():.4f}")
            run_log.write(kind="step", epoch=epoch, step=step, global_step=epoch * cfg.steps_per_epoch + step + 1,
                          loss=total.item(), losses=values, weights=lambdas, lr=lr,
                          images_per_s=len(batch.paths) / seconds, seconds=seconds)
        means = {t: sums[t] / cfg.steps_per_epoch for t in tasks}
        weighting.end_epoch(means)
        progress["epoch"] = epoch + 1

        # validate, select, checkpoint (one process writes)
        if ctx.is_main:
            val = evaluate_datasets(model, val_sets, cfg.data.eval_batch_size, device, autocast)
            score = selection_score(val, tasks, cfg.selection)
            if score > progress["best_score"]:
                progress.update(best_epoch=epoch, best_score=score)
                save_model(model, cfg, out_dir / "best.pt", epoch=epoch, val=val)
            save_state(out_dir / "last.pt", cfg, progress, model, optimizer, scheduler, weighting, sampler)
            run_log.write(kind="epoch", epoch=epoch, losses=means, weights=lambdas, val=val, selection_score=score,
                          best_epoch=progress["best_epoch"], skipped_images=len(sampler.skipped))
            log.info("epoch %d/%d: mean losses %s; validation %s; selection score %.4f (best: epoch %d)",
                     epoch + 1, cfg.epochs, _rounded(means), {k: _rounded(v) for k, v in val.items()}, score,
                     progress["best_epoch"] + 1)
        runtime.barrier(ctx)
    return TrainResult(out_dir, out_dir / "best.pt", progress["best_epoch"], progress["best_score"])


# --- model ---------------------------------------------------------------------------------

def build_model(cfg: ModelConfig, device: torch.device | str = "cpu") -> LIQE:
    """The LIQE model of a config, with the parameters that do not train frozen.

    `logit_scale` is stored as log(1/tau_1) (paper Eq. 3), as in CLIP; the config
    gives the scale itself.
    """
    model = load_model(cfg.arch, cfg.weights, task_set=cfg.task_set, head=cfg.head, device=device)
    if cfg.logit_scale is not None and isinstance(model, LIQE):
        with torch.no_grad():
            model.clip.logit_scale.fill_(math.log(cfg.logit_scale))
    trains = {"visual": cfg.train_visual, "text": cfg.train_text, "logit_scale": cfg.train_logit_scale,
              "head": True}
    for name, param in model.named_parameters():
        param.requires_grad_(trains[parameter_role(name)])
    return model


def parameter_role(name: str) -> str:
    """Which part of LIQE (or UNIQUE: `features`, `fc`) a parameter belongs to: visual, text, logit_scale or head."""
    if name.startswith(("clip.visual.", "features.")):
        return "visual"
    if name == "clip.logit_scale":
        return "logit_scale"
    if name.startswith(("quality_head.", "fc.")):
        return "head"
    return "text"


def trained_tasks(model: LIQE, datasets: dict) -> tuple[str, ...]:
    """The tasks the model learns: those of its task set (quality alone for the linear head)
    that some training row is labelled for. A task without labels would add a constant 0."""
    tasks = ("quality",) if model.head == "linear" else model.task_set.tasks
    rows = [row for ds in datasets.values() for row in ds.rows]
    labelled = {"quality": True, "scene": any(r.scenes for r in rows),
                "distortion": any(r.coarse_distortion != "unknown" for r in rows),
                "appearance": any(ds.has_appearance for ds in datasets.values())}
    for task in tasks:
        if not labelled[task]:
            log.warning("no training row has a %s label: the %s loss is left out", task, task)
    kept = tuple(t for t in tasks if labelled[t])
    if not kept:
        raise ValueError(f"nothing to train: the training rows have no labels for any of the tasks {tasks}")
    return kept


def lr_factor(step: int, cfg: ScheduleConfig, steps_per_epoch: int, epochs: int) -> float:
    """Learning-rate multiplier at a step: linear warm-up, then per-epoch cosine annealing.

    The cosine is evaluated at the epoch, so the rate is constant within an epoch
    as with the official per-epoch `CosineAnnealingLR`: (1 + cos(pi k / T)) / 2 at
    wave position k, T = `t_max` (or the number of epochs). With `skip_zero_lr`
    the positions where the wave is 0 are passed over, as the official loop does.
    """
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.name == "constant":
        return warmup
    if cfg.name != "cosine":
        raise ValueError(f"unknown schedule {cfg.name!r}; choose cosine or constant")
    period = cfg.t_max or max(epochs, 1)
    epoch, position = step // steps_per_epoch, 0
    for _ in range(epoch):
        position += 1
        while cfg.skip_zero_lr and position % (2 * period) == period:
            position += 1
    return warmup * (1 + math.cos(math.pi * position / period)) / 2


# --- one step ------------------------------------------------------------------------------

def task_losses(out: LIQEOutput, batch: Batch, tasks: tuple[str, ...], cfg: LossConfig,
                task_set: str = "all", head: str = "prompts") -> dict[str, torch.Tensor]:
    """The per-task fidelity losses (Eqs. 6, 7 and 9, and the appearance task's) in fp32, with the resolved
    fidelity settings of `cfg`; UNIQUE (head "unique") trains by its own uncertainty-aware loss.

    The Quality + Distortion variant (task set `quality+distortion`) under
    `qd_distortion_loss="multi-label"` scores its distortion probabilities with the multi-label
    (scene) loss, as the official loop does: its mtl == 2 branch calls `calc_loss2`, whose second
    loss is `Multi_Fidelity_Loss` (train_unique_clip_weight.py l. 102-107 and 283-291).
    """
    losses = {}
    if head == HEAD_UNIQUE:
        losses["quality"] = unique_loss(out, batch.score, batch.group)
    elif "quality" in tasks:
        losses["quality"] = quality_fidelity_loss(out.score.float(), batch.score, batch.group,
                                                  cfg.pair_probability, cfg.tie_target)
    if "scene" in tasks:
        losses["scene"] = scene_fidelity_loss(out.scene.float(), batch.scenes)
    if "distortion" in tasks:
        distortion = out.distortion.float()
        if task_set == "quality+distortion" and cfg.qd_distortion_loss == "multi-label":
            one_hot = torch.zeros_like(distortion)
            known = batch.distortion >= 0
            one_hot[known] = torch.nn.functional.one_hot(batch.distortion[known], distortion.shape[1]).to(distortion)
            losses["distortion"] = scene_fidelity_loss(distortion, one_hot)
        else:
            losses["distortion"] = categorical_fidelity_loss(distortion, batch.distortion)
    if "appearance" in tasks:
        losses["appearance"] = appearance_fidelity_loss(out.appearance.float(), batch.appearance)
    return losses


def check_finite(total: torch.Tensor, losses: dict[str, torch.Tensor], batch: Batch, epoch: int, step: int) -> None:
    """Stop the run on a NaN or infinite loss, naming the step, the losses and the images (never skip)."""
    if torch.isfinite(total):
        return
    raise FloatingPointError(
        f"non-finite loss at epoch {epoch + 1}, step {step + 1}: total {total.item()}, "
        f"per task {({t: v.item() for t, v in losses.items()})}; images of the batch: {batch.paths}")


def selection_score(val: dict[str, dict[str, float]], tasks: tuple[str, ...], rule: str = "quality") -> float:
    """How an epoch is scored for model selection; the epoch with the highest score is selected
    (a tie keeps the earlier epoch).

    "quality" (official): the mean validation SRCC over the datasets (`srcc_avg`), the rule of
    `quality_best_ckpt.pt` (train_unique_clip_weight.py l. 407-419), the checkpoint that
    BIQA_benchmark.py tests. "average": the mean over the trained tasks of each task's metric
    (SRCC, scene or distortion accuracy) averaged over the datasets (`current_avg`, the
    official `avg_best_ckpt.pt`, l. 369-385). Datasets without labels for a task (NaN) are
    left out of that task's average.
    """
    if rule not in SELECTIONS:
        raise ValueError(f"unknown selection {rule!r}; choose one of {SELECTIONS}")
    per_task = []
    for task in (("quality",) if rule == "quality" and "quality" in tasks else tasks):
        values = [m[SELECTION_METRICS[task]] for m in val.values()
                  if SELECTION_METRICS[task] in m and not math.isnan(m[SELECTION_METRICS[task]])]
        if values:
            per_task.append(sum(values) / len(values))
    return sum(per_task) / len(per_task) if per_task else -math.inf


# --- files ---------------------------------------------------------------------------------

def save_model(model: LIQE, cfg: TrainConfig, path: Path, epoch: int, val: dict) -> None:
    """A model checkpoint (backbone format `liqe-repro`) that records its run's config and selection."""
    _atomic(path, lambda tmp: model.save(tmp, config=cfg.to_dict(), epoch=epoch, val=val))


def save_state(path: Path, cfg: TrainConfig, progress: dict, model, optimizer, scheduler, weighting,
               sampler) -> None:
    """Everything `resume` needs to continue exactly where the run stands after an epoch."""
    state = {"format": STATE_FORMAT, "config": cfg.to_dict(), "progress": dict(progress),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "weighting": weighting.state_dict(), "sampler": sampler.state_dict(),
             "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                     "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}
    _atomic(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path, cfg: TrainConfig, model, optimizer, scheduler, weighting, sampler) -> dict:
    """Restore a `save_state` file (our own file, hence `weights_only=False`: it holds RNG states).

    A state saved under another config would not continue the same run: that is an error
    naming the settings that differ (the output folder may move, and the number of loader
    workers may change: the batches do not depend on it).
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a training state of this package (format {state.get('format')!r})")
    differ = _differences(state["config"], cfg.to_dict())
    for free in ("out_dir", "data.num_workers"):  # neither changes what the run computes
        differ.pop(free, None)
    if differ:
        raise ValueError(f"cannot resume from {path}: it was saved with other settings "
                         f"(key: saved -> now) {differ}; use another out_dir or the saved config")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    weighting.load_state_dict(state["weighting"])
    sampler.load_state_dict(state["sampler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    if state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["progress"]


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def _differences(saved: dict, now: dict, prefix: str = "") -> dict[str, tuple]:
    found = {}
    for key in saved.keys() | now.keys():
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found.update(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            found[f"{prefix}{key}"] = (a, b)
    return found


def _atomic(path: Path, write) -> None:
    """Write through a temporary file, so a run killed while saving leaves the previous file intact."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def read_log(out_dir: str | os.PathLike, kind: str | None = None) -> list[dict]:
    """The records of a run's `log.jsonl` (`RunLog`), in order; only those of `kind` ("step", "epoch") if given."""
    lines = (Path(out_dir) / LOG_NAME).read_text().splitlines()
    return [r for r in map(json.loads, lines) if kind is None or r["kind"] == kind]


class RunLog:
    """JSON lines, one record per step and per epoch. On resume, records of the epochs
    being redone are dropped, so the log reads like that of an uninterrupted run."""

    def __init__(self, path: Path, enabled: bool = True, keep_before_epoch: int = 0):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if keep_before_epoch and path.is_file():
            kept = [line for line in path.read_text().splitlines() if json.loads(line)["epoch"] < keep_before_epoch]
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, **record) -> None:
        if self.enabled:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
