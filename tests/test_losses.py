import math

import pytest
import torch

from liqe_lib.losses import (appearance_fidelity_loss, categorical_fidelity_loss, quality_fidelity_loss,
                             scene_fidelity_loss)

SQRT_EPS = 1e-4  # sqrt(1e-8)
P_OFFICIAL = 0.15865525393145707  # Phi(1 - 2) = (1 + erf(-1 / sqrt 2)) / 2: official loss_m4
P_PAPER = 0.23975006109347674  # Phi((1 - 2) / sqrt 2) = (1 + erf(-1/2)) / 2: Eq. 5


def official_loss_m4(y_pred: torch.Tensor, per_num: list[int], y: torch.Tensor) -> torch.Tensor:
    """The official `loss_m4` (MNL_Loss.py l. 128-163 at a64655f), step by step, as the reference."""
    loss, start = 0, 0
    for n in per_num:
        pred, mos = y_pred[start:start + n].unsqueeze(1), y[start:start + n].unsqueeze(1)
        start += n
        i, j = torch.triu_indices(n, n, offset=1)
        d, gts = (pred - pred.t())[i, j], (mos - mos.t())[i, j]
        g = 0.5 * (torch.sign(gts) + 1)
        p = 0.5 * (1 + torch.erf(d / torch.sqrt(torch.tensor([2.0], dtype=d.dtype))))
        loss = loss + torch.mean(1 - (torch.sqrt(p * g + 1e-8) + torch.sqrt((1 - p) * (1 - g) + 1e-8)))
    return loss / len(per_num)


def test_default_quality_loss_equals_official_loss_m4_in_value_and_gradient():
    generator = torch.Generator().manual_seed(0)
    pred = (1 + 4 * torch.rand(24, generator=generator, dtype=torch.float64)).requires_grad_()
    mos = torch.randint(0, 6, (24,), generator=generator).double()  # ties included
    sizes = [4, 4, 16]
    group = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    ours = quality_fidelity_loss(pred, mos, group)
    (ours_grad,) = torch.autograd.grad(ours, pred)
    reference = official_loss_m4(pred, sizes, mos)
    (reference_grad,) = torch.autograd.grad(reference, pred)
    assert abs(ours.item() - reference.item()) < 1e-7
    assert (ours_grad - reference_grad).abs().max().item() < 1e-7


def test_quality_pair_with_a_wrong_order_costs_hand_computed_fidelity_in_both_modes():
    pred, target, group = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 1.0]), torch.tensor([0, 0])
    official = quality_fidelity_loss(pred, target, group)
    paper = quality_fidelity_loss(pred, target, group, probability="phi-sqrt2", tie_target=1.0)
    assert official.item() == pytest.approx(1 - math.sqrt(P_OFFICIAL + 1e-8) - SQRT_EPS, abs=1e-6)
    assert paper.item() == pytest.approx(1 - math.sqrt(P_PAPER + 1e-8) - SQRT_EPS, abs=1e-6)
    assert paper.item() == pytest.approx(0.510257200508905, abs=1e-6)


def test_quality_tie_target_is_one_half_officially_and_one_in_the_paper():
    pred, target, group = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0]), torch.tensor([0, 0])
    half = lambda p: 1 - math.sqrt(0.5 * p + 1e-8) - math.sqrt(0.5 * (1 - p) + 1e-8)  # noqa: E731
    official = quality_fidelity_loss(pred, target, group)
    paper = quality_fidelity_loss(pred, target, group, probability="phi-sqrt2", tie_target=1.0)
    assert official.item() == pytest.approx(half(P_OFFICIAL), abs=1e-6)
    assert paper.item() == pytest.approx(1 - math.sqrt(P_PAPER + 1e-8) - SQRT_EPS, abs=1e-6)


def test_gradient_of_the_official_probability_is_steeper_at_zero_by_sqrt_2():
    d = torch.zeros(2, requires_grad=True)
    target = torch.tensor([1.0, 0.0])
    group = torch.tensor([0, 0])
    grads = {}
    for name in ("phi", "phi-sqrt2"):
        (grads[name],) = torch.autograd.grad(quality_fidelity_loss(d * 1, target, group, probability=name), d)
    assert (grads["phi"][0] / grads["phi-sqrt2"][0]).item() == pytest.approx(math.sqrt(2), rel=1e-5)


def test_quality_pairs_never_cross_groups_and_a_group_of_one_adds_nothing():
    pred = torch.tensor([1.0, 2.0, 50.0])
    target = torch.tensor([3.0, 1.0, -7.0])
    two_groups = quality_fidelity_loss(pred, target, torch.tensor([0, 0, 1]))
    alone = quality_fidelity_loss(pred[:2], target[:2], torch.tensor([0, 0]))
    assert two_groups.item() == pytest.approx(alone.item(), abs=1e-7)
    singletons = quality_fidelity_loss(pred[:2], target[:2], torch.tensor([0, 1]))
    assert singletons.item() == 0 and singletons.requires_grad is False


def test_quality_loss_is_the_mean_over_groups_of_the_mean_over_pairs():
    # group 0: one wrong pair; group 1: three correctly ordered pairs with gaps 1, 1 and 2
    pred = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0])
    target = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0])
    group = torch.tensor([0, 0, 1, 1, 1])
    p1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))  # Phi(1)
    p2 = 0.5 * (1 + math.erf(2 / math.sqrt(2)))  # Phi(2)
    right = lambda p: 1 - math.sqrt(p + 1e-8) - SQRT_EPS  # noqa: E731
    wrong = 1 - math.sqrt(P_OFFICIAL + 1e-8) - SQRT_EPS
    expected = (wrong + (2 * right(p1) + right(p2)) / 3) / 2
    assert quality_fidelity_loss(pred, target, group).item() == pytest.approx(expected, abs=1e-6)


def test_scene_loss_averages_binary_fidelity_over_classes_and_skips_unlabelled_rows():
    prob = torch.full((2, 9), 0.05)
    prob[0, 0], prob[0, 1] = 0.5, 0.1
    labels = torch.zeros(2, 9)
    labels[0, 0] = 1
    per_class = [1 - math.sqrt(0.5 + 1e-8) - SQRT_EPS, 1 - SQRT_EPS - math.sqrt(0.9 + 1e-8)]
    per_class += [1 - SQRT_EPS - math.sqrt(0.95 + 1e-8)] * 7
    assert scene_fidelity_loss(prob, labels).item() == pytest.approx(sum(per_class) / 9, abs=1e-6)


def test_distortion_loss_is_one_minus_root_of_true_class_probability():
    prob = torch.tensor([[0.6] + [0.04] * 10, [0.1] * 10 + [0.0]])
    target = torch.tensor([0, -1])
    expected = 1 - math.sqrt(0.6 + 1e-8) - 10 * SQRT_EPS
    assert categorical_fidelity_loss(prob, target).item() == pytest.approx(expected, abs=1e-6)


def test_losses_are_finite_and_differentiable_at_certain_predictions():
    prob = torch.tensor([[1.0] + [0.0] * 10], requires_grad=True)
    loss = categorical_fidelity_loss(prob, torch.tensor([3]))
    loss.backward()
    assert torch.isfinite(prob.grad).all() and loss.item() == pytest.approx(1 - 11 * SQRT_EPS, abs=1e-6)


def test_appearance_loss_is_the_mean_over_labelled_attributes_of_each_attributes_fidelity():
    third = 1 / 3
    prob = torch.tensor([[[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [third, third, third], [0.0, 0.0, 1.0]],
                         [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.25, 0.5, 0.25]]])
    target = torch.tensor([[0, -1, 1, 2],     # contrast unknown in both images: left out, not a zero
                           [2, -1, -1, 1]])   # sharpness known in the first image only
    two_eps = 2 * SQRT_EPS  # the two wrong levels' sqrt(0 + eps)
    brightness = ((1 - math.sqrt(0.7) - two_eps) + (1 - math.sqrt(0.5) - two_eps)) / 2
    sharpness = 1 - math.sqrt(third) - two_eps
    colorfulness = ((1 - math.sqrt(1 + 1e-8) - two_eps) + (1 - math.sqrt(0.5) - two_eps)) / 2
    loss = appearance_fidelity_loss(prob, target)
    assert loss.item() == pytest.approx((brightness + sharpness + colorfulness) / 3, abs=1e-6)
    assert loss.item() == pytest.approx(0.26553764, abs=1e-6)


def test_appearance_loss_without_any_label_is_zero_and_constant():
    loss = appearance_fidelity_loss(torch.full((2, 4, 3), 1 / 3), torch.full((2, 4), -1))
    assert loss.item() == 0 and loss.requires_grad is False
