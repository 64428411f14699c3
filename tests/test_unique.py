"""UNIQUE (liqe_lib.unique): shapes, per-image crop averaging, weights, checkpoints and the loss by hand."""
import math

import pytest
import torch
import torchvision
from PIL import Image

from liqe_lib.backbone import WeightsError
from liqe_lib.crops import CLIP_MEAN, CLIP_STD, EVAL_CROPS, eval_crops, normalize
from liqe_lib.model import LIQEOutput
from liqe_lib.unique import (IMAGENET_MEAN, IMAGENET_STD, MARGIN, build_unique, imagenet_weights_file,
                             load_unique, unique_loss)

PHI_1 = 0.8413447460685429  # Phi(1)
PHI_2 = 0.9772498680518208  # Phi(2)
E = 1e-8  # the fidelity loss's eps under each square root


@pytest.fixture(scope="module")
def unique():
    torch.manual_seed(0)
    return build_unique(pretrained=False).eval()


def crops(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_forward_gives_a_mean_and_a_positive_std_per_image(unique):
    out = unique(crops(2, 3, 3, 64, 64))
    assert out.score.shape == out.uncertainty.shape == (2,)
    assert (out.uncertainty > 0).all()
    assert out.groups == () and out.quality is out.scene is out.distortion is out.appearance is None
    assert unique(crops(1, 2, 3, 224, 224)).score.shape == (1,)
    assert (unique.task_set.name, unique.task_set.tasks, unique.head, unique.arch) == \
        ("quality", ("quality",), "unique", "unique-resnet34")


def test_crops_of_one_image_never_change_another_images_prediction(unique):
    x = crops(2, 3, 3, 64, 64)
    y = x.clone()
    y[1] = crops(3, 3, 64, 64, seed=1)
    a, b = unique(x), unique(y)
    assert torch.equal(a.score[0], b.score[0]) and torch.equal(a.uncertainty[0], b.uncertainty[0])
    assert not torch.equal(a.score[1], b.score[1])


def test_prediction_is_the_mean_of_the_per_crop_predictions(unique):
    x = crops(1, 3, 3, 64, 64)
    whole = unique(x)
    single = [unique(x[:, u:u + 1]) for u in range(3)]
    torch.testing.assert_close(whole.score, sum(o.score for o in single) / 3, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(whole.uncertainty, sum(o.uncertainty for o in single) / 3, rtol=1e-5, atol=1e-6)


def test_clip_normalised_input_reaches_the_backbone_imagenet_normalised(unique):
    pixels = torch.rand(2, 3, 8, 8)
    clip = (pixels - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    imagenet = (pixels - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(clip * unique.input_scale + unique.input_shift, imagenet)


def test_checkpoint_round_trip_gives_identical_scores(unique, tmp_path):
    path = tmp_path / "unique.pt"
    unique.save(path, epoch=3)
    saved = torch.load(path, weights_only=True)
    assert {k: saved[k] for k in ("format", "arch", "task_set", "head", "epoch")} == \
        {"format": "liqe-repro", "arch": "unique-resnet34", "task_set": "quality", "head": "unique", "epoch": 3}
    loaded = load_unique(path).eval()
    x = crops(2, 2, 3, 64, 64)
    a, b = unique(x), loaded(x)
    assert torch.equal(a.score, b.score) and torch.equal(a.uncertainty, b.uncertainty)


def test_load_unique_refuses_a_liqe_checkpoint(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "liqe.pt")
    with pytest.raises(WeightsError, match="not a unique-resnet34 checkpoint"):
        load_unique(tmp_path / "liqe.pt")


def test_missing_imagenet_weights_is_an_error_naming_file_url_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    assert imagenet_weights_file() == folder / "resnet34-b627a593.pth"
    with pytest.raises(WeightsError) as err:
        build_unique()
    text = str(err.value)
    assert "resnet34-b627a593.pth" in text
    assert "https://download.pytorch.org/models/resnet34-b627a593.pth" in text
    assert str(folder) in text


def test_imagenet_weights_are_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    state = torchvision.models.resnet34().state_dict()
    imagenet_weights_file().parent.mkdir(parents=True)
    torch.save(state, imagenet_weights_file())
    model = build_unique()
    features = model.features.state_dict()
    assert features.keys() == {k for k in state if not k.startswith("fc.")}
    assert all(torch.equal(features[k], state[k]) for k in features)


def test_score_uses_each_images_own_evaluation_crops(unique):
    image = Image.fromarray(torch.randint(0, 256, (240, 232, 3), dtype=torch.uint8,
                                          generator=torch.Generator().manual_seed(0)).numpy())
    result = unique.score(image)
    with torch.no_grad():
        expected = unique(normalize(eval_crops(image, EVAL_CROPS))[None]).score
    assert len(result) == 1 and result[0].score == pytest.approx(float(expected), rel=1e-5)


# --- the loss, by hand in float64 --------------------------------------------------------------

def output(mean, std):
    return LIQEOutput((), None, None, None, torch.tensor(mean, dtype=torch.float64), None,
                      torch.tensor(std, dtype=torch.float64))


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_loss_of_one_pair():
    # sigma^2 sums to 1, so p = Phi(f_0 - f_1) = Phi(1); the better image comes first: g = 1
    loss = unique_loss(output([1.0, 0.0], [0.6, 0.8]), t([5.0, 3.0]), torch.tensor([0, 0]))
    assert loss.item() == pytest.approx(1 - math.sqrt(PHI_1 + E) - math.sqrt(E), abs=1e-7)


def test_loss_of_three_images_with_a_tie_and_a_lone_image():
    # sigma^2 = 1/2 each: p = Phi(f_i - f_j); pairs (0,1): Phi(1), g=1; (0,2): 1/2, tie g=1/2; (1,2): Phi(-1), g=0
    pair = 1 - math.sqrt(PHI_1 + E) - math.sqrt(E)
    tie = 1 - 2 * math.sqrt(0.25 + E)
    s = math.sqrt(0.5)
    out = output([1.0, 0.0, 1.0, 7.0], [s, s, s, 0.3])
    loss = unique_loss(out, t([2.0, 1.0, 2.0, 9.0]), torch.tensor([0, 0, 0, 1]))  # image 3 alone in group 1
    assert loss.item() == pytest.approx((pair + tie + pair) / 3, abs=1e-7)


def test_loss_is_the_mean_over_groups_of_the_mean_over_pairs():
    out = output([1.0, 0.0, 0.0, 1.0], [0.6, 0.8, 0.6, 0.8])  # group 1 ranks the wrong way round
    wrong = 1 - math.sqrt(1 - PHI_1 + E) - math.sqrt(E)  # p = Phi(-1), g = 1
    right = 1 - math.sqrt(PHI_1 + E) - math.sqrt(E)
    loss = unique_loss(out, t([5.0, 3.0, 5.0, 3.0]), torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx((right + wrong) / 2, abs=1e-7)


def test_hinge_on_sigma_follows_the_order_of_the_opinion_score_stds():
    out, score, group = output([1.0, 0.0], [0.6, 0.8]), t([5.0, 3.0]), torch.tensor([0, 0])
    fidelity = 1 - math.sqrt(PHI_1 + E) - math.sqrt(E)
    # std_0 > std_1 wants sigma_0 > sigma_1 by the margin: max(0, 0.025 - (0.6 - 0.8)) = 0.225
    assert unique_loss(out, score, group, score_std=t([0.2, 0.1])).item() == pytest.approx(fidelity + 0.225)
    assert unique_loss(out, score, group, score_std=t([0.1, 0.2])).item() == pytest.approx(fidelity)
    assert unique_loss(out, score, group, score_std=t([0.1, 0.1])).item() == pytest.approx(fidelity + MARGIN)


def test_thurstone_target_from_opinion_score_stds():
    # g = Phi((5 - 3) / sqrt(0.6^2 + 0.8^2)) = Phi(2); p = Phi(1); hinge: std_0 < std_1 and sigma_0 < sigma_1
    out = output([1.0, 0.0], [0.6, 0.8])
    loss = unique_loss(out, t([5.0, 3.0]), torch.tensor([0, 0]), score_std=t([0.6, 0.8]), target="thurstone")
    expected = 1 - math.sqrt(PHI_1 * PHI_2 + E) - math.sqrt((1 - PHI_1) * (1 - PHI_2) + E)
    assert loss.item() == pytest.approx(expected + max(0.0, MARGIN - 0.2), abs=1e-7)


def test_sigma_learns_only_from_the_hinge_unless_asked():
    mean = t([1.0, 0.0]).requires_grad_()
    std = t([0.6, 0.8]).requires_grad_()
    out = LIQEOutput((), None, None, None, mean, None, std)
    unique_loss(out, t([5.0, 3.0]), torch.tensor([0, 0])).backward()
    assert mean.grad.abs().sum() > 0 and std.grad is None
    unique_loss(out, t([5.0, 3.0]), torch.tensor([0, 0]), detach_sigma=False).backward()
    assert std.grad.abs().sum() > 0


def test_loss_without_any_pair_is_zero_and_attached():
    mean, std = t([1.0, 2.0]).requires_grad_(), t([0.5, 0.5]).requires_grad_()
    loss = unique_loss(LIQEOutput((), None, None, None, mean, None, std), t([1.0, 2.0]), torch.tensor([0, 1]))
    assert loss.item() == 0 and loss.requires_grad
