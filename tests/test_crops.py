import numpy as np
import pytest
import torch
from PIL import Image

from liqe_lib.crops import (adaptive_resize, cut, eval_crop_positions, eval_crops, eval_grid_stride, grid_positions,
                             normalize, to_tensor, train_crops)


def test_grid_of_a_512x384_image_takes_every_fourth_of_60_windows():
    # stride 32: tops 0..160 (6), lefts 0..288 (10); N = 60, step 4
    positions = eval_crop_positions(384, 512)
    expected = [((k // 10) * 32, (k % 10) * 32) for k in range(0, 60, 4)]
    assert positions == expected
    assert positions[:4] == [(0, 0), (0, 128), (0, 256), (32, 64)]
    assert positions[-1] == (160, 192)


def test_grid_of_a_1024x768_image_uses_stride_48_and_every_13th_of_204_windows():
    # a side of 1024 -> stride 48: tops 0..528 (12), lefts 0..768 (17); N = 204, step 13
    positions = eval_crop_positions(768, 1024)
    assert positions[:3] == [(0, 0), (0, 624), (48, 432)]
    assert positions[-1] == ((182 // 17) * 48, (182 % 17) * 48) == (480, 576)
    assert len(set(positions)) == 15


def test_grid_of_a_224x224_image_repeats_its_only_window():
    assert eval_crop_positions(224, 224) == [(0, 0)] * 15


def test_grid_smaller_than_15_positions_spreads_crops_over_all_windows():
    positions = eval_crop_positions(224, 224 + 32 * 4)  # 5 positions
    assert sorted(set(positions)) == [(0, 32 * k) for k in range(5)]
    assert positions.count((0, 0)) == 3


def test_adaptive_resize_shrinks_large_keeps_medium_and_upscales_tiny_images():
    assert adaptive_resize(Image.new("RGB", (2000, 1500))).size == (1024, 768)
    assert adaptive_resize(Image.new("RGB", (1024, 768))).size == (1024, 768)
    assert adaptive_resize(Image.new("RGB", (800, 600))).size == (800, 600)  # shorter side < 768: untouched
    assert adaptive_resize(Image.new("RGB", (100, 80))).size == (280, 224)
    assert adaptive_resize(Image.new("RGB", (80, 3000))).size == (224, 8400)


def test_adaptive_resize_truncates_the_long_side_as_torchvision_resize_does():
    # 768 * 2001 / 1501 = 1023.83: torchvision's Resize(768) (the official AdaptiveResize) gives 1023,
    # rounding would give 1024 and switch the evaluation grid from stride 32 to 48
    resized = adaptive_resize(Image.new("RGB", (2001, 1501)))
    assert resized.size == (1023, 768)
    assert eval_grid_stride(768, 1023) == 32
    assert adaptive_resize(Image.new("RGB", (1501, 2001))).size == (768, 1023)


def test_eval_crops_cut_exactly_the_chosen_windows():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (384, 512, 3), dtype=np.uint8))
    crops = eval_crops(image)
    assert crops.shape == (15, 3, 224, 224) and crops.dtype == torch.uint8
    full = to_tensor(image)
    assert torch.equal(crops[5], full[:, 64:288, 0:224])  # grid index 20 -> row 2, column 0
    assert len({c.numpy().tobytes() for c in crops}) == 15


def test_cut_copies_only_the_requested_windows():
    image = torch.arange(3 * 300 * 300, dtype=torch.int32).view(3, 300, 300)
    crops = cut(image, [(10, 20)], size=5)
    assert crops.shape == (1, 3, 5, 5)
    assert crops[0, 0, 0, 0] == 10 * 300 + 20


def test_official_grid_sampler_draws_grid_windows_and_flips_all_crops_of_an_image_together():
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    full = to_tensor(image)
    # stride 32 on 300x400: tops 0, 32, 64; lefts 0..160 -> 3 x 6 = 18 windows
    grid = grid_positions(300, 400)
    assert len(grid) == 18 and grid[:7] == [(0, 0), (0, 32), (0, 64), (0, 96), (0, 128), (0, 160), (32, 0)]
    plain = {full[:, t:t + 224, l:l + 224].numpy().tobytes() for t, l in grid}
    mirrored = {full.flip(-1)[:, t:t + 224, l:l + 224].numpy().tobytes() for t, l in grid}
    flips = []
    for seed in range(12):
        crops = train_crops(image, torch.Generator().manual_seed(seed), n=3, sampler="grid")
        assert crops.shape == (3, 3, 224, 224)
        keys = [c.numpy().tobytes() for c in crops]
        in_plain, in_mirrored = [k in plain for k in keys], [k in mirrored for k in keys]
        assert all(in_plain) or all(in_mirrored)  # one flip for the whole image, windows on its grid
        flips.append(all(in_mirrored))
    assert 0 < sum(flips) < 12
    # seed 0 by hand: the flip draw comes first, then randint(0, 18, (3,)) picks the windows
    generator = torch.Generator().manual_seed(0)
    flip = torch.rand(1, generator=generator).item() < 0.5
    picks = torch.randint(0, 18, (3,), generator=generator).tolist()
    source = full.flip(-1) if flip else full
    expected = torch.stack([source[:, t:t + 224, l:l + 224] for t, l in (grid[k] for k in picks)])
    assert torch.equal(train_crops(image, torch.Generator().manual_seed(0), n=3), expected)


def test_random_sampler_crops_are_reproducible_from_the_generator_and_flip_some_views():
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    a = train_crops(image, torch.Generator().manual_seed(3), n=8, sampler="random")
    b = train_crops(image, torch.Generator().manual_seed(3), n=8, sampler="random")
    assert a.shape == (8, 3, 224, 224) and torch.equal(a, b)
    full = to_tensor(image)
    windows = {full[:, t:t + 224, l:l + 224].numpy().tobytes() for t in range(77) for l in range(177)}
    flipped = sum(c.numpy().tobytes() not in windows for c in a)
    assert all(c.numpy().tobytes() in windows or c.flip(-1).numpy().tobytes() in windows for c in a)
    assert 0 < flipped < 8


def test_normalize_applies_clips_mean_and_std():
    out = normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    assert out[0, :, 0, 0].tolist() == pytest.approx([(1 - 0.48145466) / 0.26862954,
                                                      (1 - 0.4578275) / 0.26130258,
                                                      (1 - 0.40821073) / 0.27577711])
