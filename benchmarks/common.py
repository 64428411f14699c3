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


def matmul_peak_gflops(n: int = 4096) -> float:
    """The machine's fp32 matmul rate: the ceiling any model on this CPU can reach."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / seconds_per_call(lambda: torch.matmul(a, b), repeat=5) / 1e9


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
