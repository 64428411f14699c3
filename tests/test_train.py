import math

import pytest
import torch
from train_fakes import tiny_config, write_fake_synthetic

from liqe_lib import load_model, rundata
from liqe_lib import train as train_module
from liqe_lib.config import ScheduleConfig
from liqe_lib.crops import normalize
from liqe_lib.batch import Batch, StepLoader
from liqe_lib.train import build_model, lr_factor, read_log, selection_score, task_losses, train


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fake_synthetic(tmp_path_factory.mktemp("data"))


# --- schedule ------------------------------------------------------------------------------

def test_official_cosine_has_a_10_epoch_period_and_skips_the_epochs_at_lr_zero():
    cfg = ScheduleConfig(name="cosine", t_max=5, skip_zero_lr=True)
    factors = [lr_factor(epoch * 10, cfg, steps_per_epoch=10, epochs=80) for epoch in range(16)]
    wave = [(1 + math.cos(math.pi * k / 5)) / 2 for k in range(18)]
    # positions 5 and 15 (lr 0) are passed over, as the official loop steps its scheduler again
    expected = [wave[k] for k in (0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17)]
    assert factors == pytest.approx(expected)
    assert min(factors) > 0.09


def test_paper_reading_of_cosine_is_one_half_wave_over_the_run():
    cfg = ScheduleConfig(name="cosine", t_max=None, skip_zero_lr=False)
    assert lr_factor(0, cfg, 200, 80) == 1.0
    assert lr_factor(40 * 200, cfg, 200, 80) == pytest.approx(0.5)
    assert lr_factor(79 * 200 + 199, cfg, 200, 80) == pytest.approx((1 + math.cos(math.pi * 79 / 80)) / 2)


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    cfg = ScheduleConfig(name="constant", warmup_steps=4)
    assert [lr_factor(s, cfg, 10, 1) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


# --- one step ------------------------------------------------------------------------------

def _batch(scores_a, scores_b, views=1, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)

    def part(scores, offset):
        k = len(scores)
        noise = torch.randint(0, 64, (k, views, 3, 224, 224), generator=g, dtype=torch.uint8)
        brightness = (torch.tensor(scores) * 40).to(torch.uint8).view(k, 1, 1, 1, 1)  # the images differ
        return {"crops": noise + brightness,
                "score": torch.tensor(scores), "distortion": torch.arange(offset, offset + k) % 11,
                "scenes": torch.nn.functional.one_hot(torch.arange(offset, offset + k) % 9, 9).float(),
                "appearance": (torch.arange(offset, offset + k)[:, None] + torch.arange(4)) % 3,
                "path": [f"img{offset + i}.png" for i in range(k)]}
    return Batch.collect({"a": part(scores_a, 0), "b": part(scores_b, len(scores_a))}, ["a", "b"])


def test_share_gives_each_process_a_contiguous_slice_of_every_datasets_minibatch():
    batch = _batch([1.0, 2.0, 3.0, 4.0], [5.0, 6.0])
    assert batch.group.tolist() == [0, 0, 0, 0, 1, 1]
    assert batch.share(0, 2).paths == ["img0.png", "img1.png", "img4.png"]
    assert batch.share(1, 2).paths == ["img2.png", "img3.png", "img5.png"]
    assert batch.in_rank_order(2).paths == ["img0.png", "img1.png", "img4.png", "img2.png", "img3.png", "img5.png"]
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        batch.share(0, 4)


def test_loss_goes_down_over_a_handful_of_steps_on_one_batch():
    torch.manual_seed(0)
    cfg = tiny_config()
    model = build_model(cfg.model)
    batch = _batch([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr)
    totals = []
    for _ in range(6):
        losses = task_losses(model(normalize(batch.crops)), batch, ("quality", "scene", "distortion"),
                             cfg.resolved().loss)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < 0.8 * totals[0]


def test_average_selection_is_the_mean_over_tasks_of_the_mean_over_validation_sets():
    val = {"a": {"srcc": 0.8, "scene_acc": 0.5, "distortion_acc": math.nan},
           "b": {"srcc": 0.6, "scene_acc": 0.7, "distortion_acc": 0.4}}
    tasks = ("quality", "scene", "distortion")
    assert selection_score(val, tasks, "average") == pytest.approx((0.7 + 0.6 + 0.4) / 3)
    assert selection_score(val, ("quality",), "average") == pytest.approx(0.7)
    assert selection_score(val, tasks, "quality") == pytest.approx(0.7)  # official: mean validation SRCC only


def test_official_selection_picks_the_epoch_with_the_best_mean_srcc_when_the_average_prefers_another():
    epochs = [{"a": {"srcc": 0.90, "scene_acc": 0.40, "distortion_acc": 0.40}},  # best SRCC
              {"a": {"srcc": 0.85, "scene_acc": 0.80, "distortion_acc": 0.80}}]  # best average
    tasks = ("quality", "scene", "distortion")
    best = {rule: max(range(2), key=lambda e: selection_score(epochs[e], tasks, rule)) for rule in ("quality", "average")}
    assert best == {"quality": 0, "average": 1}


def test_frozen_parts_of_the_config_do_not_require_grad():
    model = build_model(tiny_config(None, None, "model.train_text=false", "model.train_logit_scale=false",
                                    "model.logit_scale=50").model)
    assert model.clip.logit_scale.exp().item() == pytest.approx(50)
    assert not model.clip.logit_scale.requires_grad and not model.clip.token_embedding.weight.requires_grad
    assert model.clip.visual.conv1.weight.requires_grad


# --- whole runs ----------------------------------------------------------------------------

def test_a_run_logs_every_step_validates_each_epoch_and_saves_a_loadable_best_model(data_root, tmp_path):
    result = train(tiny_config(data_root, tmp_path / "run"))
    records = read_log(tmp_path / "run")
    steps = read_log(tmp_path / "run", kind="step")
    assert steps == [r for r in records if r["kind"] == "step"]
    assert [r["global_step"] for r in steps] == [1, 2]
    assert set(steps[0]["losses"]) == set(steps[0]["weights"]) == {"quality", "scene", "distortion"}
    assert steps[0]["lr"] == 1e-3 and steps[0]["images_per_s"] > 0
    (epoch,) = [r for r in records if r["kind"] == "epoch"]
    assert set(epoch["val"]) == {"synthetic"} and -1 <= epoch["val"]["synthetic"]["srcc"] <= 1
    assert result.best_epoch == 0 and (tmp_path / "run" / "last.pt").is_file()
    model = load_model(weights=result.best_checkpoint)
    assert model.arch == "liqe-tiny" and model.task_set.name == "all"
    assert (tmp_path / "run" / "config.yaml").is_file()


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-worker-processes"])
def test_resumed_run_ends_with_exactly_the_weights_of_an_uninterrupted_run(data_root, tmp_path, monkeypatch, workers):
    """The uninterrupted run loads in its own process; the killed and resumed one with `workers` processes."""
    cfg = tiny_config(data_root, tmp_path / "whole", "epochs=2")
    train(cfg)
    expected = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]

    cfg.out_dir = str(tmp_path / "killed")
    cfg.data.num_workers = workers
    real, calls = train_module.task_losses, []

    def dies_in_the_second_epoch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "task_losses", dies_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.setattr(train_module, "task_losses", real)
    train(cfg, resume=True)
    resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)
    assert [(r["kind"], r["epoch"]) for r in read_log(tmp_path / "killed", kind="epoch")] == [("epoch", 0),
                                                                                               ("epoch", 1)]
    assert [r["losses"] for r in read_log(tmp_path / "killed", kind="step")] == \
        [r["losses"] for r in read_log(tmp_path / "whole", kind="step")]


def test_worker_processes_load_exactly_the_batches_of_the_main_process_across_epochs(data_root):
    # official passes: 8 images per dataset at 3 a batch end each pass with a partial batch of 2, and every
    # epoch restarts the passes (`start_epoch`)
    cfg = tiny_config(data_root, None, "data.train.0.batch_size=3", "data.train.1.batch_size=3",
                      "data.train_crops=3").resolved()
    assert cfg.data.passes == "epoch"
    main, workers = (StepLoader(rundata.train_sampler(cfg.data, cfg.seed), n) for n in (0, 2))
    for epoch in range(2):
        want, got = list(main.epoch(3)), list(workers.epoch(3))
        assert [len(b.paths) for b in want] == [6, 6, 4]
        for a, b in zip(want, got):
            assert a.paths == b.paths
            assert all(torch.equal(getattr(a, f), getattr(b, f))
                       for f in ("crops", "score", "distortion", "scenes", "appearance", "group"))
        assert workers.sampler.state_dict() == main.sampler.state_dict()
    assert main.sampler.state_dict()["passes"] == {"synthetic-1of2": 2, "synthetic-2of2": 2}
    assert want[0].crops.shape == (6, 3, 3, 224, 224) and want[0].crops.dtype == torch.uint8


def test_resume_refuses_a_state_saved_under_other_settings(data_root, tmp_path):
    train(tiny_config(data_root, tmp_path / "run"))
    with pytest.raises(ValueError, match=r"optim\.lr.*0\.001, 0\.002"):
        train(tiny_config(data_root, tmp_path / "run", "optim.lr=2e-3"), resume=True)


def test_a_nan_loss_stops_the_run_naming_the_step_the_losses_and_the_images(data_root, tmp_path):
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1: total nan.*'quality': nan.*distorted/"):
        train(tiny_config(data_root, tmp_path / "run", "model.logit_scale=.nan"))


def test_a_missing_dataset_is_an_error_that_says_where_and_how_to_get_it(tmp_path):
    from liqe_lib import rundata
    from liqe_lib.config import paper_config

    data = paper_config().data
    data.root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"CSIQ not found at .*CSIQ: get it from https://.*liqe data verify"):
        rundata.ensure_dataset("csiq", data)
