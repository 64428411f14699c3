"""Fidelity losses of LIQE (paper Eqs. 6, 7 and 9; DESIGN.md, "Losses") and of the appearance task.

The fidelity loss 1 - sqrt(p g) - sqrt((1 - p)(1 - g)) compares two Bernoulli
(or categorical) distributions; `EPS` sits inside every square root so its
gradient stays finite at p = 0 or 1, as in the official code.
"""
from __future__ import annotations

import math

import torch

EPS = 1e-8


def _binary_fidelity(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return 1 - torch.sqrt(p * g + EPS) - torch.sqrt((1 - p) * (1 - g) + EPS)


def _phi(d: torch.Tensor) -> torch.Tensor:
    """Phi(d) = 0.5 (1 + erf(d / sqrt 2)): the official `loss_m4` (MNL_Loss.py, l. 153-154)."""
    return 0.5 * (1 + torch.erf(d / math.sqrt(2)))


def _phi_sqrt2(d: torch.Tensor) -> torch.Tensor:
    """Phi(d / sqrt 2) = 0.5 (1 + erf(d / 2)): the paper's Eq. 5 (Thurstone, unit variance per image)."""
    return 0.5 * (1 + torch.erf(d / 2))


#: The pairwise probability p(x better than y) from d = q(x) - q(y), by the names a config uses.
PAIR_PROBABILITIES = {"phi": _phi, "phi-sqrt2": _phi_sqrt2}


def quality_fidelity_loss(pred: torch.Tensor, target: torch.Tensor, group: torch.Tensor,
                          probability: str = "phi", tie_target: float = 0.5) -> torch.Tensor:
    """Pairwise fidelity loss on quality (Eq. 6), pairs formed only within a group.

    For every pair i < j of one group (one dataset's mini-batch; scores of
    different datasets live on different scales, so pairs never cross datasets)
    the target is g = 1 if target_i > target_j, 0 if less and `tie_target` if equal
    (0.5 in the official `loss_m4`, 1 in the paper's Eq. 4), and p is
    `PAIR_PROBABILITIES[probability]` of pred_i - pred_j (the official Phi(d) by
    default, the paper's Phi(d / sqrt 2) as "phi-sqrt2"). The loss is the mean over
    the pairs of a group, then the mean over the groups that have a pair. A group of
    one image contributes nothing (the official code divides by zero pairs and gets
    NaN there); 0 (still attached to `pred`) if no group has a pair.
    """
    if probability not in PAIR_PROBABILITIES:
        raise ValueError(f"unknown pair probability {probability!r}; choose one of {sorted(PAIR_PROBABILITIES)}")
    losses = []
    for g in torch.unique(group):
        members = (group == g).nonzero(as_tuple=True)[0]
        if len(members) < 2:
            continue
        i, j = torch.triu_indices(len(members), len(members), offset=1, device=pred.device)
        q, t = pred[members], target[members].to(pred.dtype)
        p = PAIR_PROBABILITIES[probability](q[i] - q[j])
        g_target = torch.where(t[i] > t[j], 1.0, torch.where(t[i] < t[j], 0.0, tie_target)).to(pred.dtype)
        losses.append(_binary_fidelity(p, g_target).mean())
    if not losses:
        return pred.sum() * 0
    return torch.stack(losses).mean()


def scene_fidelity_loss(prob: torch.Tensor, multi_hot: torch.Tensor) -> torch.Tensor:
    """Multi-label scene fidelity loss (Eq. 7): binary fidelity per class, mean over classes and images.

    prob: p(s|x), (N, 9). multi_hot: (N, 9), 1 for each of the image's scene labels.
    Rows without any scene label (datasets without scene annotation) are ignored.
    """
    known = multi_hot.sum(dim=1) > 0
    if not known.any():
        return prob.sum() * 0
    return _binary_fidelity(prob[known], multi_hot[known].to(prob.dtype)).mean()


def categorical_fidelity_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-class fidelity loss (Eq. 9): 1 - sum_k sqrt(p(k|x) g_k + eps), g one-hot, mean over images.

    The distortion loss over the 11 classes, and the loss of each appearance attribute
    over its 3 levels. prob: (N, K), a softmax. target: class index (N,), -1 where unknown
    (ignored).
    """
    known = target >= 0
    if not known.any():
        return prob.sum() * 0
    one_hot = torch.nn.functional.one_hot(target[known], prob.shape[1]).to(prob.dtype)
    return (1 - torch.sqrt(prob[known] * one_hot + EPS).sum(dim=1)).mean()


def appearance_fidelity_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The appearance task's loss: Eq. 9 per attribute over its low/medium/high levels, averaged over attributes.

    prob: (N, A, 3), one softmax per attribute. target: (N, A) level index, -1 where unknown.
    The mean (not the sum) over the attributes that have a label in the batch keeps the
    task on the [0, 1] scale of the other three losses, so that under DWA (weights that
    sum to the number of tasks) appearance weighs as one task of four, not as four tasks,
    as the scene loss averages its nine binary terms; attributes without any label in the
    batch are left out rather than counted as zero.
    """
    losses = [categorical_fidelity_loss(prob[:, a], target[:, a]) for a in range(prob.shape[1])
              if (target[:, a] >= 0).any()]
    if not losses:
        return prob.sum() * 0
    return torch.stack(losses).mean()
