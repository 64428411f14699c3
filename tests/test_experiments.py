import json

import pytest
import yaml
import torch
from train_fakes import write_fake_synthetic

from liqe_lib import load_model
from liqe_lib.config import profile_config
from liqe_lib.experiments import BEYOND, OPPONENTS, TABLE4, TABLE5, VARIANTS, variant_config
from liqe_lib.train import train

TINY = ("steps_per_epoch=1", "data.train.0.batch_size=2", "data.train.1.batch_size=2",
        "data.train_crops=1", "data.eval_crops=1", "schedule.warmup_steps=0")


def _differences(a: dict, b: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k in a:
        if isinstance(a[k], dict):
            keys |= _differences(a[k], b[k], f"{prefix}{k}.")
        elif a[k] != b[k]:
            keys.add(prefix + k)
    return keys


@pytest.mark.parametrize("profile", ["smoke", "paper"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_differs_from_liqe_only_in_its_declared_settings(name, profile):
    base = variant_config("liqe", profile).to_dict()
    variant = variant_config(name, profile).to_dict()
    declared = dict(item.split("=", 1) for item in VARIANTS[name])
    differences = _differences(variant, base) - {"name", "out_dir"}
    assert differences <= set(declared)  # a declared setting may equal the profile's (UNIQUE's fp32 in smoke)
    for key, value in declared.items():
        if key != "model.weights":  # smoke profiles force random init
            actual = _get(variant, key)
            assert actual == (type(actual)(yaml.safe_load(value)) if actual is not None else None), key


def _get(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


def test_every_row_of_tables_4_and_5_is_a_variant_and_runs_write_to_their_own_folder():
    assert set(TABLE4) | set(TABLE5) | set(BEYOND) | set(OPPONENTS) == set(VARIANTS)
    cfg = variant_config("frozen-text", "smoke", session=2)
    assert cfg.out_dir.endswith("frozen-text/session-2") and cfg.data.session == 2
    assert cfg.out_dir.startswith(str(profile_config("smoke").out_dir).rsplit("/", 1)[0])


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fake_synthetic(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("name", sorted(set(VARIANTS) - {"pretrained-clip-c2"}))
def test_every_trained_variant_trains_one_step(name, data_root, tmp_path):
    cfg = variant_config(name, "smoke", [f"data.root={data_root}", *TINY, "epochs=1"], out_root=tmp_path)
    result = train(cfg)
    model = load_model(weights=result.best_checkpoint)
    assert model.task_set.name == cfg.model.task_set and model.head == cfg.model.head
    steps = [json.loads(line) for line in (tmp_path / name / "session-1" / "log.jsonl").read_text().splitlines()
             if '"step"' in line]
    assert len(steps) == 1
    with torch.no_grad():
        score = model(torch.zeros(1, 1, 3, 224, 224)).score
    assert (score is None) == (name in ("scene", "distortion"))


def test_zero_shot_variant_saves_the_untrained_model_and_takes_no_step(data_root, tmp_path):
    cfg = variant_config("pretrained-clip-c2", "smoke", [f"data.root={data_root}", *TINY], out_root=tmp_path)
    result = train(cfg)
    assert result.best_epoch == -1
    assert load_model(weights=result.best_checkpoint).task_set.quality_levels == ("bad", "good")


def test_liqe_plus_appearance_weighs_four_tasks_by_dwa_and_validates_each_attribute(data_root, tmp_path):
    cfg = variant_config("liqe+appearance", "smoke", [f"data.root={data_root}", *TINY, "epochs=3"], out_root=tmp_path)
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "liqe+appearance" / "session-1" / "log.jsonl").read_text()
           .splitlines()]
    tasks = {"quality", "scene", "distortion", "appearance"}
    steps = [r for r in log if r["kind"] == "step"]
    assert all(set(r["losses"]) == tasks for r in steps) and 0 < steps[0]["losses"]["appearance"] < 1
    assert steps[0]["weights"] == dict.fromkeys(tasks, 1.0)
    assert sum(steps[2]["weights"].values()) == pytest.approx(4) and steps[2]["weights"] != steps[0]["weights"]
    val = [r for r in log if r["kind"] == "epoch"][0]["val"]["synthetic"]
    accuracies = [val[f"appearance_acc_{a}"] for a in ("brightness", "contrast", "sharpness", "colorfulness")]
    assert all(0 <= a <= 1 for a in accuracies) and val["appearance_acc"] == pytest.approx(sum(accuracies) / 4)
