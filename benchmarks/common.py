"""What every benchmark shares: the machine's description, timers (a call, a training step's compute) and
the JSON result file."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from liqe_lib import runtime
from liqe_lib.batch import Batch
from liqe_lib.config import TrainConfig
from liqe_lib.crops import normalize
from liqe_lib.train import build_model, task_losses

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def cpu_model() -> str | None:
    """The CPU's model name (Linux), which `platform.processor()` does not give."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_1min": round(os.getloadavg()[0], 2),  # other work on the machine slows every figure
    }


def seconds_per_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Best of `repeat` timed calls after `warmup` untimed ones (the least disturbed run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def model_step_seconds(cfg: TrainConfig, batch: Batch, device: torch.device, repeat: int = 3) -> float:
    """Seconds of one training step's compute alone: forward, the fidelity losses, backward and the AdamW step
    of `train.train` (the config's model with random weights, its resolved precision and loss settings) on
    `batch` with its crops already on `device`. The loop's step can be no faster: the loader's cost is
    what a training loop spends beyond it (paper_loop.py)."""
    cfg = cfg.resolved()
    cfg.model.weights = None  # random weights: the compute of the real model, nothing to download
    model = build_model(cfg.model, device).train()
    precision = runtime.resolve_precision(cfg.precision, device, cfg.fidelity)
    if precision == "fp16-weights":
        runtime.to_fp16_weights(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr)
    target = batch.to(device)
    crops = normalize(batch.crops.to(device))
    autocast = runtime.autocast_context(precision, device)
    tasks = model.task_set.tasks

    def step() -> None:
        with autocast:
            out = model(crops)
        losses = task_losses(out, target, tasks, cfg.loss, model.task_set.name, model.head)
        optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        if precision == "fp16-weights":
            runtime.fp16_weights_step(model, optimizer)
        else:
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return seconds_per_call(step, repeat=repeat)


def matmul_peak_gflops(n: int = 4096, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> float:
    """The device's dense matmul rate in `dtype`: the ceiling any model on it can reach."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    cuda = torch.device(device).type == "cuda"

    def product() -> None:
        for _ in range(10 if cuda else 1):
            torch.matmul(a, b)
        if cuda:
            torch.cuda.synchronize()

    return 2 * n**3 * (10 if cuda else 1) / seconds_per_call(product, repeat=5) / 1e9


def padded_to_77(tokens: torch.Tensor) -> torch.Tensor:
    """Prompt tokens padded to CLIP's full 77-token context (how IQA-PyTorch and the official code encode them)."""
    full = tokens.new_zeros(tokens.shape[0], 77)
    full[:, : tokens.shape[1]] = tokens
    return full


def write_result(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), "figures": figures}, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")
    return path
