import numpy as np
import pytest
import torch
from PIL import Image

from liqe_lib import LIQE, load_model
from liqe_lib.crops import normalize
from liqe_lib.vocab import QUALITY_LEVELS


def _crops(batch: int, views: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return normalize(torch.randint(0, 256, (batch, views, 3, 224, 224), generator=g, dtype=torch.uint8))


def _image(seed: int, size=(320, 256)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def out(tiny_model):
    with torch.no_grad():
        return tiny_model(_crops(2))


def test_joint_probability_has_shape_5_9_11_and_sums_to_one(out):
    assert out.joint.shape == (2, 5, 9, 11)
    assert torch.allclose(out.joint.sum(dim=(1, 2, 3)), torch.ones(2))


def test_marginals_are_explicit_sums_of_the_joint(out):
    assert torch.allclose(out.quality, out.joint.sum(dim=(2, 3)))
    assert torch.allclose(out.scene, out.joint.sum(dim=(1, 3)))
    assert torch.allclose(out.distortion, out.joint.sum(dim=(1, 2)))


def test_score_is_the_expected_quality_level(out):
    assert torch.allclose(out.score, (out.quality * torch.arange(1.0, 6.0)).sum(dim=1))
    assert ((out.score >= 1) & (out.score <= 5)).all()


def test_logits_are_averaged_over_the_crops_of_each_image(tiny_model):
    crops = _crops(1, views=3)
    with torch.no_grad():
        image = tiny_model.clip.encode_image(crops[0], normalize=True)
        logits = tiny_model.clip.logit_scale.exp() * image @ tiny_model.text_features().T
        expected = logits.mean(dim=0).softmax(dim=-1).view(5, 9, 11)
        assert torch.allclose(tiny_model(crops).joint[0], expected, atol=1e-6)


def test_separate_templates_give_three_independent_softmaxes():
    torch.manual_seed(0)
    model = load_model(arch="liqe-tiny", weights=None, task_set="separate").eval()
    with torch.no_grad():
        out = model(_crops(2))
    assert [g.shape for g in out.groups] == [(2, 5), (2, 9), (2, 11)]
    for group in out.groups:
        assert torch.allclose(group.sum(dim=1), torch.ones(2))
    assert out.scene is out.groups[1] and out.distortion is out.groups[2]
    with pytest.raises(ValueError):
        _ = out.joint


def test_appearance_task_adds_one_softmax_per_attribute_and_leaves_the_joint_as_it_was(out):
    torch.manual_seed(0)  # the weights of `tiny_model`
    model = load_model(arch="liqe-tiny", weights=None, task_set="all+appearance").eval()
    crops = _crops(2)
    with torch.no_grad():
        both = model(crops)
        image = model.clip.encode_image(crops.flatten(0, 1), normalize=True)
        logits = (model.clip.logit_scale.exp() * image @ model.text_features()[495:].T).view(2, 2, 12).mean(dim=1)
    assert both.appearance.shape == (2, 4, 3) and len(both.groups) == 5
    assert torch.allclose(both.appearance.sum(dim=2), torch.ones(2, 4))  # each attribute sums to 1, not all 12
    assert torch.allclose(both.appearance, logits.view(2, 4, 3).softmax(dim=2), atol=1e-6)
    assert torch.allclose(both.groups[0], out.joint, atol=1e-6) and torch.allclose(both.score, out.score, atol=1e-5)
    assert out.appearance is None


def test_linear_head_scores_without_prompts():
    torch.manual_seed(0)
    model = load_model(arch="liqe-tiny", weights=None, head="linear").eval()
    with torch.no_grad():
        out = model(_crops(3))
    assert out.score.shape == (3,) and out.quality is None and out.groups == ()


def test_truncated_prompt_encoding_equals_clips_77_token_encoding(tiny_model):
    with torch.no_grad():
        full_tokens = tiny_model.prompt_tokens.new_zeros(len(tiny_model.task_set.prompts), 77)
        full_tokens[:, : tiny_model.prompt_tokens.shape[1]] = tiny_model.prompt_tokens
        reference = tiny_model.clip.encode_text(full_tokens, normalize=True)
        shortcut = tiny_model.encode_prompts(tiny_model.prompt_tokens)
    assert tiny_model.prompt_tokens.shape[1] < 30
    assert (reference - shortcut).abs().max().item() < 1e-5


def test_text_features_are_cached_in_eval_and_invalidated_by_an_optimiser_step():
    torch.manual_seed(0)
    model = load_model(arch="liqe-tiny", weights=None)
    model.eval()
    first = model.text_features()
    assert model.text_features() is first  # cached
    model.train()
    with_grad = model.text_features()
    assert with_grad.requires_grad and with_grad is not first
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(_crops(2)).score.sum().backward()
    optimiser.step()
    model.eval()
    after = model.text_features()
    assert not torch.allclose(after, first)
    assert torch.allclose(after, model.encode_prompts(model.prompt_tokens).detach())


def test_frozen_text_tower_is_cached_even_while_training():
    torch.manual_seed(0)
    model = load_model(arch="liqe-tiny", weights=None).train()
    for p in model._text_parameters():
        p.requires_grad_(False)
    assert model.text_features() is model.text_features()


def test_scores_of_a_batch_equal_scores_of_each_image_alone(tiny_model):
    a, b = _image(1), _image(2, size=(512, 384))
    together = tiny_model.score([a, b], batch_size=2)
    alone = tiny_model.score([a]) + tiny_model.score([b])
    assert together[0].score != pytest.approx(together[1].score, abs=1e-6)
    for x, y in zip(together, alone):
        assert x.score == pytest.approx(y.score, abs=1e-5)


def test_score_accepts_paths_pil_and_tensors_of_any_size(tiny_model, sample_images, tmp_path):
    jpeg, png = sample_images
    pil = Image.open(png).convert("RGB")
    uint8 = torch.from_numpy(np.array(pil)).permute(2, 0, 1)
    results = tiny_model.score([png, pil, uint8, uint8.float() / 255, _image(3, size=(100, 80)), jpeg])
    assert results[0].source == str(png) and results[1].source == "image-1"
    assert results[0].score == pytest.approx(results[1].score, abs=1e-5)
    assert results[0].score == pytest.approx(results[2].score, abs=1e-5)
    assert results[0].score == pytest.approx(results[3].score, abs=1e-4)
    for r in results:
        assert 1 <= r.score <= 5
        assert list(r.quality_probs) == list(QUALITY_LEVELS) and sum(r.quality_probs.values()) == pytest.approx(1, abs=1e-5)
        assert len(r.scenes) == 3 and r.scenes[0][1] >= r.scenes[1][1]
        assert r.distortion is not None


def test_score_restores_training_mode(tiny_model):
    tiny_model.train()
    tiny_model.score([_image(4)])
    assert tiny_model.training
    tiny_model.eval()


def test_unknown_head_is_refused(tiny_model):
    with pytest.raises(ValueError, match="head"):
        LIQE(tiny_model.clip, lambda prompts: torch.zeros(len(prompts), 77, dtype=torch.long), head="mlp")
