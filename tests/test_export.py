"""Export: a model trained here scores the same when read back from each format; IQA-PyTorch's exact layout."""
import logging
import re

import open_clip
import pytest
import torch

from liqe_lib import cli, load_model
from liqe_lib.backbone import (IQA_PYTORCH_PREFIX, export_weights, openai_fp16_keys, read_weights,
                               strip_wrapper_prefix)
from liqe_lib.crops import normalize
from liqe_lib.losses import quality_fidelity_loss

#: OpenAI's `convert_weights` rule written as key patterns (independent of the module walk that implements it).
OPENAI_FP16 = re.compile(r"(^visual\.conv1\.weight|\.attn\.in_proj_(weight|bias)|\.attn\.out_proj\.(weight|bias)"
                         r"|\.mlp\.c_(fc|proj)\.(weight|bias)|^text_projection|^visual\.proj)$")


@pytest.fixture(scope="module")
def crops():
    g = torch.Generator().manual_seed(1)
    return normalize(torch.randint(0, 256, (4, 2, 3, 224, 224), generator=g, dtype=torch.uint8))


def train_briefly(crops, fp16_weights: bool):
    """A liqe-tiny after a few AdamW steps of the quality loss: weights no initialisation would give.

    fp16_weights: keep the tensors OpenAI stores in fp16 at fp16 precision after every step, as the
    official training does (fp16 weights, fp32 optimiser step, rounded back).
    """
    torch.manual_seed(5)
    model = load_model(arch="liqe-tiny", weights=None).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mos, group = torch.tensor([1.0, 2.0, 4.0, 5.0]), torch.zeros(4, dtype=torch.long)
    half = {f"clip.{k}" for k in openai_fp16_keys(model.clip)}
    for _ in range(3):
        loss = quality_fidelity_loss(model(crops).score, mos, group)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if fp16_weights:
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name in half:
                        param.copy_(param.half().float())
    return model.eval()


@pytest.fixture(scope="module")
def trained(crops):
    return train_briefly(crops, fp16_weights=False)


@pytest.fixture(scope="module")
def trained_official(crops):
    return train_briefly(crops, fp16_weights=True)


def scores(model, crops) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(crops).score


@pytest.mark.parametrize("format, precision, weights", [
    ("liqe-repro", "openai", "fp32"), ("clip", "openai", "fp32"),
    ("iqa-pytorch", "fp32", "fp32"), ("iqa-pytorch", "openai", "official fp16")])
def test_exported_model_scores_the_same_when_read_back(request, crops, tmp_path, format, precision, weights):
    model = request.getfixturevalue("trained_official" if weights == "official fp16" else "trained")
    model.save(tmp_path / "model.pt", format=format, precision=precision)
    assert read_weights(tmp_path / "model.pt").format == format
    loaded = load_model(arch="liqe-tiny", weights=tmp_path / "model.pt", task_set="all")
    assert loaded.arch == "liqe-tiny" and loaded.task_set.name == "all"
    assert (scores(loaded, crops) - scores(model, crops)).abs().max() < 1e-4


def test_fp16_split_of_fp32_trained_weights_is_logged_with_the_exact_alternative(trained, crops, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="liqe_lib.backbone"):
        trained.save(tmp_path / "model.pt", format="iqa-pytorch")
    assert "rounded to fp16" in caplog.text and "precision='fp32'" in caplog.text
    loaded = load_model(arch="liqe-tiny", weights=tmp_path / "model.pt", task_set="all")
    assert (scores(loaded, crops) - scores(trained, crops)).abs().max() < 1e-3


def test_iqa_pytorch_layout_is_openai_keys_with_the_fp16_split():
    """The exact layout IQA-PyTorch's `load_pretrained_network(net, path, True, "params")` reads, on ViT-B/32."""
    clip = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    saved = export_weights(clip, "iqa-pytorch")
    assert list(saved) == ["params"]
    keys = [k[len(IQA_PYTORCH_PREFIX):] for k in saved["params"]]
    assert all(k.startswith(IQA_PYTORCH_PREFIX) for k in saved["params"]) and keys == list(clip.state_dict())
    assert len(keys) == 302  # OpenAI's ViT-B/32 CLIP.state_dict()
    half = {k for k in keys if saved["params"][IQA_PYTORCH_PREFIX + k].dtype == torch.float16}
    assert half == {k for k in keys if OPENAI_FP16.search(k)} and len(half) == 3 + 24 * 8
    assert all(saved["params"][IQA_PYTORCH_PREFIX + k].dtype == torch.float32 for k in set(keys) - half)
    assert {"logit_scale", "token_embedding.weight", "positional_embedding", "visual.class_embedding"} <= \
        set(keys) - half


def test_iqa_pytorch_file_loads_strictly_as_iqa_pytorch_does(trained, crops, tmp_path):
    """IQA-PyTorch: torch.load, take "params", drop `module.`, strict load_state_dict into a net whose
    only child is `clip_model` (a CLIP with OpenAI's keys)."""
    trained.save(tmp_path / "liqe_mine.pt", format="iqa-pytorch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip_model = open_clip.create_model("liqe-tiny", pretrained=None)

    net = Net()
    state = strip_wrapper_prefix(torch.load(tmp_path / "liqe_mine.pt", map_location="cpu")["params"])
    net.load_state_dict(state, strict=True)
    for key, value in trained.clip.state_dict().items():
        assert torch.allclose(net.clip_model.state_dict()[key], value, atol=1e-2, rtol=1e-3), key


def test_a_linear_head_cannot_go_into_a_clip_state_dict(tmp_path):
    model = load_model(arch="liqe-tiny", weights=None, head="linear")
    with pytest.raises(ValueError, match="linear head cannot be saved in the iqa-pytorch format"):
        model.save(tmp_path / "x.pt", format="iqa-pytorch")
    with pytest.raises(ValueError, match="unknown weights format 'onnx'"):
        model.save(tmp_path / "x.pt", format="onnx")


def test_liqe_export_command_writes_the_iqa_pytorch_layout(trained, crops, tmp_path, capsys):
    trained.save(tmp_path / "best.pt")
    out = tmp_path / "exported" / "liqe_mine.pt"
    assert cli.main(["export", str(tmp_path / "best.pt"), "--format", "iqa-pytorch", "--out", str(out),
                     "--precision", "fp32"]) == 0
    printed = capsys.readouterr().out
    assert "task_set='all'" in printed and "pyiqa.create_metric('liqe_mix'" in printed
    loaded = load_model(arch="liqe-tiny", weights=out, task_set="all")
    assert (scores(loaded, crops) - scores(trained, crops)).abs().max() < 1e-4
