"""What every benchmark shares: the machine's description, a timer and the JSON result file."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
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
