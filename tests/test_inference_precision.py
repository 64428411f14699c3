"""The scoring model path: bf16 image tower within 0.01 of fp32, fp32 exact, attention on the fused path.

bf16 runs natively on the CPU (the same rounding of weights and activations as on a GPU),
so the bound is checked here on ViT-B-32 itself: random weights with CLIP's trained
logit scale of 100, which amplifies any error of the features as a trained model does,
on the two real photographs and distorted copies of them.
"""
import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.profiler import profile

from liqe_lib import load_model, score
from liqe_lib.data.distortions import GENERATORS


@pytest.fixture(scope="module")
def vit_b32():
    torch.manual_seed(0)
    model = load_model(arch="ViT-B-32", weights=None).eval()
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(100))  # CLIP's trained (clamped) value
    return model


@pytest.fixture(scope="module")
def test_images(sample_images):
    photo = Image.open(sample_images[0]).convert("RGB")
    rng = np.random.default_rng(1)
    distorted = [GENERATORS[k](photo, 5, rng) for k in (2, 3)]  # white noise, gaussian blur
    return [str(p) for p in sample_images] + distorted


def test_bf16_image_tower_scores_within_0_01_of_fp32(vit_b32, test_images):
    fp32 = vit_b32.score(test_images)
    bf16_model = copy.deepcopy(vit_b32).use_precision("bf16")
    assert bf16_model.clip.visual.conv1.weight.dtype == torch.bfloat16
    bf16 = bf16_model.score(test_images)
    assert torch.equal(bf16_model.text_features(), vit_b32.text_features())  # the text side stays fp32
    gaps = [abs(a.score - b.score) for a, b in zip(fp32, bf16)]
    assert 0 < max(gaps) < 0.01  # bf16 really ran, and stayed close
    for a, b in zip(fp32, bf16):
        assert max(abs(a.quality_probs[k] - b.quality_probs[k]) for k in a.quality_probs) < 0.005
    assert [r.score for r in vit_b32.score(test_images)] == [r.score for r in fp32]  # fp32: deterministic


def test_auto_precision_is_fp32_on_cpu(tiny_model):
    tiny_model.use_precision("auto")
    assert tiny_model.clip.visual.conv1.weight.dtype == torch.float32
    with pytest.raises(ValueError, match="fp16"):
        tiny_model.use_precision("fp16")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_image_tower_attention_takes_the_fused_path(tiny_model, dtype):
    """Inference runs nn.MultiheadAttention's fused kernel (`_native_multi_head_attention`, which picks
    SDPA's flash/memory-efficient kernels on CUDA), not the unfused Python path of training."""
    visual = tiny_model.clip.visual.to(dtype)
    try:
        with torch.inference_mode(), profile() as prof:
            visual(torch.zeros(2, 3, 224, 224, dtype=dtype))
    finally:
        visual.float()
    layers = len(visual.transformer.resblocks)
    assert sum(event.name == "aten::_native_multi_head_attention" for event in prof.events()) == layers


def test_score_cli_refuses_bf16_for_unique(monkeypatch, tmp_path, sample_images, capsys):
    from liqe_lib import unique

    model = unique.load_weights(None, "cpu")
    monkeypatch.setattr(score, "load_model", lambda arch, weights, **kwargs: model)
    status = score.run(score_args(str(sample_images[0]), "--precision", "bf16"))
    assert status == 2 and "fp32 only" in capsys.readouterr().err


def score_args(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    score.register(parser.add_subparsers())
    return parser.parse_args(["score", "--weights", "none", *argv])


def test_compiled_image_tower_gives_the_same_scores(tiny_model, sample_images):
    compiled = copy.deepcopy(tiny_model)
    score.prepare_for_inference(compiled, "fp32", compile=True)
    expected = [r.score for r in tiny_model.score(list(sample_images))]
    assert [r.score for r in compiled.score(list(sample_images))] == pytest.approx(expected, abs=1e-5)
