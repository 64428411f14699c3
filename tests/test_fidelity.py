"""The fidelity switch (docs/FIDELITY.md): `official` (the official LIQE code, a64655f) vs `paper`, point by point.

Each test pins one point with hand-computed values in both modes; the loss values themselves
are pinned in test_losses.py, the crops in test_crops.py, the selection rule in test_train.py.
"""
import math

import pandas as pd
import pytest
import torch
from train_fakes import tiny_config, write_fake_synthetic

from liqe_lib import runtime
from liqe_lib.batch import Batch
from liqe_lib.config import FIDELITY_PRESETS, apply_overrides, paper_config
from liqe_lib.data.dataset import IQADataset, MultiDatasetSampler
from liqe_lib.data.labels import LabelRow
from liqe_lib.evaluate import aggregate, metrics, tidy
from liqe_lib.experiments import variant_config
from liqe_lib.losses import scene_fidelity_loss
from liqe_lib.model import LIQEOutput
from liqe_lib.train import read_log, task_losses, train


def test_the_paper_profile_defaults_to_official_and_one_switch_changes_every_point():
    official = paper_config().resolved()
    assert (official.fidelity, official.loss.pair_probability, official.loss.tie_target, official.selection,
            official.data.train_crop_sampler, official.data.passes, official.loss.qd_distortion_loss) == \
        ("official", "phi", 0.5, "quality", "grid", "epoch", "multi-label")
    paper = apply_overrides(paper_config(), ["fidelity=paper"]).resolved()
    assert (paper.loss.pair_probability, paper.loss.tie_target, paper.selection, paper.data.train_crop_sampler,
            paper.data.passes, paper.loss.qd_distortion_loss) == \
        ("phi-sqrt2", 1.0, "average", "random", "continuous", "multi-class")
    assert set(FIDELITY_PRESETS["official"]) == set(FIDELITY_PRESETS["paper"])


def test_one_setting_overrides_its_preset_and_the_rest_follow_the_mode():
    cfg = apply_overrides(paper_config(), ["fidelity=paper", "loss.pair_probability=phi"]).resolved()
    assert (cfg.loss.pair_probability, cfg.loss.tie_target, cfg.selection) == ("phi", 1.0, "average")
    with pytest.raises(ValueError, match="unknown fidelity 'exact'"):
        apply_overrides(paper_config(), ["fidelity=exact"]).resolved()


def test_auto_precision_is_official_fp16_weights_on_cuda_bf16_for_the_paper_and_fp32_on_cpu():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert runtime.resolve_precision("auto", cuda, "official") == "fp16-weights"
    assert runtime.resolve_precision("auto", cuda, "paper") == "bf16"
    assert runtime.resolve_precision("auto", cpu, "official") == runtime.resolve_precision("auto", cpu, "paper") == "fp32"


def test_fp16_weights_step_loses_an_update_below_half_an_fp16_step_and_applies_a_larger_one():
    small, large = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    model = torch.nn.Sequential(small, large)
    with torch.no_grad():
        small.weight.fill_(1.0)
        large.weight.fill_(1.0)
    runtime.to_fp16_weights(model)
    assert small.weight.dtype == torch.float16
    # SGD with unit gradients: the update is the learning rate itself
    optimizer = torch.optim.SGD([{"params": [small.weight], "lr": 1e-9}, {"params": [large.weight], "lr": 1e-2}])
    small.weight.grad = torch.ones_like(small.weight)
    large.weight.grad = torch.ones_like(large.weight)
    runtime.fp16_weights_step(model, optimizer)
    # half an fp16 step at 1 is 2^-11 ~ 4.9e-4: 1 - 1e-9 rounds back to 1, 1 - 1e-2 to the fp16 nearest 0.99
    assert small.weight.dtype == large.weight.dtype == torch.float16
    assert small.weight.item() == 1.0
    assert large.weight.item() == float(torch.tensor(0.99).half()) == 0.990234375


def test_fp16_weights_keep_layer_norms_embeddings_and_logit_scale_in_fp32(tiny_model):
    import copy

    model = copy.deepcopy(tiny_model)
    runtime.to_fp16_weights(model)
    clip = model.clip
    assert clip.visual.conv1.weight.dtype == clip.text_projection.dtype == clip.visual.proj.dtype == torch.float16
    assert clip.transformer.resblocks[0].attn.in_proj_weight.dtype == torch.float16
    assert clip.ln_final.weight.dtype == clip.token_embedding.weight.dtype == clip.logit_scale.dtype == torch.float32
    assert clip.visual.class_embedding.dtype == torch.float32
    out = model(torch.zeros(1, 1, 3, 224, 224))
    assert out.score.dtype == torch.float16 and 1 <= out.score.item() <= 5


def test_epoch_passes_restart_every_epoch_and_keep_the_last_partial_batch(tmp_path):
    rows = [LabelRow(f"img{i}.png", float(i), "unknown", ()) for i in range(5)]
    datasets = {"d": IQADataset("d", tmp_path, rows, train=True)}  # images absent: only indices are drawn here
    official = MultiDatasetSampler(datasets, {"d": 2}, seed=0, passes="epoch")
    sizes = [len(official._draw("d")) for _ in range(4)]
    assert sizes == [2, 2, 1, 2]  # 5 images at 2 a batch: the DataLoader's last batch holds one image
    official.start_epoch()  # part-way through pass 1: a new epoch starts a fresh pass
    assert (official.passes["d"], official.positions["d"]) == (2, 0)
    continuous = MultiDatasetSampler(datasets, {"d": 2}, seed=0, passes="continuous")
    assert [len(continuous._draw("d")) for _ in range(4)] == [2, 2, 2, 2]
    continuous.start_epoch()
    assert (continuous.passes["d"], continuous.positions["d"]) == (1, 3)


def test_quality_plus_distortion_officially_scores_distortion_with_the_multi_label_loss():
    prob = torch.tensor([[0.6] + [0.04] * 10, [0.1] * 10 + [0.0]])
    labels = torch.tensor([0, 3])
    out = LIQEOutput((), None, None, prob, None)
    batch = Batch(torch.zeros(2, 1, 3, 1, 1, dtype=torch.uint8), torch.zeros(2), labels, torch.zeros(2, 9),
                  torch.full((2, 4), -1), torch.zeros(2, dtype=torch.long), ["a", "b"])
    official, paper = (apply_overrides(paper_config(), [f"fidelity={m}"]).resolved().loss for m in ("official", "paper"))
    multi_label = task_losses(out, batch, ("distortion",), official, "quality+distortion")["distortion"]
    one_hot = torch.nn.functional.one_hot(labels, 11).float()
    assert multi_label.item() == pytest.approx(scene_fidelity_loss(prob, one_hot).item(), abs=1e-7)
    eps = 1e-4  # sqrt(1e-8)
    by_hand = ((1 - math.sqrt(0.6 + 1e-8) - 10 * eps) + (1 - math.sqrt(0.1 + 1e-8) - 10 * eps)) / 2
    assert task_losses(out, batch, ("distortion",), paper, "quality+distortion")["distortion"].item() == \
        pytest.approx(by_hand, abs=1e-6)
    assert task_losses(out, batch, ("distortion",), official, "all")["distortion"].item() == \
        pytest.approx(by_hand, abs=1e-6)  # the slip is the Q+D variant's only


def test_official_scene_accuracy_counts_a_single_label_image_only_when_it_is_right():
    frame = pd.DataFrame({"pred": [1.0, 2.0, 3.0, 4.0], "mos": [1.0, 2.0, 3.0, 4.0],
                          "scene_hits": [1, 0, 0, 1], "scene_k": [1, 1, 1, 2],
                          "distortion": [-1] * 4, "distortion_pred": [0] * 4})
    result = metrics(frame)
    assert result["scene_acc"] == pytest.approx(2 / 5)  # top-k rule: 2 hits of 1 + 1 + 1 + 2 labels
    assert result["scene_acc_official"] == pytest.approx(2 / 3)  # denominator 1 (right) + 0 + 0 + 2


def test_sessions_aggregate_by_the_mean_and_population_std_officially():
    table = pd.concat([tidy({"csiq": {"srcc": v}}, "liqe", s, "test") for s, v in enumerate([0.90, 0.94, 0.95], 1)])
    official, paper = aggregate(table, "mean").iloc[0], aggregate(table, "median").iloc[0]
    assert official["mean"] == pytest.approx(0.93) and official["std"] == pytest.approx(math.sqrt(0.0014 / 3))
    assert paper["median"] == pytest.approx(0.94) and paper["std"] == pytest.approx(math.sqrt(0.0014 / 2))


def test_a_variants_own_settings_win_over_study_wide_overrides():
    cfg = variant_config("pretrained-clip-c2", "paper", ["epochs=1", "steps_per_epoch=2"])
    assert (cfg.epochs, cfg.steps_per_epoch, cfg.model.task_set) == (0, 2, "two-level")
    forced = variant_config("unique", "paper", ["model.weights=openai"], forced=["model.weights=null"])
    assert (forced.model.arch, forced.model.weights) == ("unique-resnet34", None)


@pytest.mark.parametrize("mode", ["official", "paper"])
def test_one_smoke_session_trains_in_each_mode_and_records_its_resolved_settings(tmp_path, mode):
    root = write_fake_synthetic(tmp_path / "data")
    cfg = tiny_config(root, tmp_path / mode, f"fidelity={mode}", "epochs=2", "data.train.0.batch_size=3")
    result = train(cfg)
    saved = (tmp_path / mode / "config.yaml").read_text()
    expected = FIDELITY_PRESETS[mode]
    assert f"pair_probability: {expected['loss.pair_probability']}" in saved
    assert f"passes: {expected['data.passes']}" in saved
    steps = read_log(tmp_path / mode, kind="step")
    assert len(steps) == 4 and all(math.isfinite(r["loss"]) for r in steps)
    assert result.best_checkpoint.is_file()
