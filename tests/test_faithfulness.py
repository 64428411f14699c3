"""Official LIQE checkpoints are OpenAI CLIP ViT-B/32 state dicts: our backbone must reproduce OpenAI's model.

A random ViT-B/32 in OpenAI's key layout, built by OpenAI's reference implementation
(PyPI `clip-anytorch`), is loaded through `load_model` as a `LIQE.pt`-style file;
image and text embeddings must agree. A GELU model (open_clip's plain ViT-B-32
config) would load the same file without error and disagree: that is checked too.
"""
import warnings

import open_clip
import pytest
import torch
from conftest import require_module

from liqe_lib import load_model

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clip_reference = require_module("clip.model", "as OpenAI's reference CLIP (PyPI clip-anytorch, needs pkg_resources)")


@pytest.fixture(scope="module")
def openai_vit_b32(tmp_path_factory):
    torch.manual_seed(0)
    reference = clip_reference.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                                    vision_patch_size=32, context_length=77, vocab_size=49408,
                                    transformer_width=512, transformer_heads=8, transformer_layers=12).eval()
    path = tmp_path_factory.mktemp("weights") / "LIQE.pt"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_open_clip_backbone_reproduces_openai_clip_embeddings(openai_vit_b32):
    reference, path = openai_vit_b32
    ours = load_model(arch="ViT-B-32", weights=path).eval()
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    tokens = open_clip.tokenize(["a photo of a animal with noise artifacts, which is of bad quality", "a cat"])
    with torch.no_grad():
        assert (ours.clip.encode_image(images) - reference.encode_image(images)).abs().max() < 1e-4
        assert (ours.clip.encode_text(tokens) - reference.encode_text(tokens)).abs().max() < 1e-4


def test_gelu_variant_would_silently_change_the_embeddings(openai_vit_b32):
    reference, path = openai_vit_b32
    gelu = open_clip.create_model("ViT-B-32")
    gelu.load_state_dict(torch.load(path, weights_only=True))
    images = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (gelu.eval().encode_image(images) - reference.encode_image(images)).abs().max() > 1e-3
