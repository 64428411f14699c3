"""Task weighting: dynamic weight average (DWA, Liu et al. 2019; paper Eq. 11) and equal weights.

DWA raises the weight of a task whose loss fell slowly over the last epoch:
w_j = L_j(e-1) / L_j(e-2), lambda_j = K exp(w_j / T) / sum_i exp(w_i / T), with K
tasks and temperature T = 2; the first two epochs use lambda = 1. The weights sum
to K. Per-epoch mean losses are its whole state, which is what a checkpoint saves.
"""
from __future__ import annotations

import math


class EqualWeighting:
    """lambda_j = 1 for every task and epoch (Table 4, variant 5)."""

    def __init__(self, tasks: tuple[str, ...]):
        self.tasks = tuple(tasks)
        self.history: list[dict[str, float]] = []

    def weights(self) -> dict[str, float]:
        return {t: 1.0 for t in self.tasks}

    def end_epoch(self, mean_losses: dict[str, float]) -> None:
        """Record the epoch's mean loss per task (kept for logs and resume)."""
        self.history.append({t: float(mean_losses[t]) for t in self.tasks})

    def state_dict(self) -> dict:
        return {"history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.history = [dict(h) for h in state["history"]]


class DynamicWeightAverage(EqualWeighting):
    """DWA over the tasks, from the mean losses of the two previous epochs."""

    def __init__(self, tasks: tuple[str, ...], temperature: float = 2.0):
        super().__init__(tasks)
        self.temperature = temperature

    def weights(self) -> dict[str, float]:
        if len(self.history) < 2:
            return super().weights()
        last, before = self.history[-1], self.history[-2]
        ratios = {t: last[t] / before[t] for t in self.tasks}
        exps = {t: math.exp(r / self.temperature) for t, r in ratios.items()}
        total = sum(exps.values())
        return {t: len(self.tasks) * e / total for t, e in exps.items()}


def make_weighting(name: str, tasks: tuple[str, ...], temperature: float = 2.0) -> EqualWeighting:
    """`dwa` or `equal`, by the name a config uses."""
    if name == "dwa":
        return DynamicWeightAverage(tasks, temperature)
    if name == "equal":
        return EqualWeighting(tasks)
    raise ValueError(f"unknown loss weighting {name!r}; choose 'dwa' or 'equal'")
