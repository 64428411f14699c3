import pytest

from liqe_lib.config import (DatasetConfig, TrainConfig, apply_overrides, load_config, paper_config,
                             profile_config, smoke_config)


@pytest.mark.parametrize("profile", ["paper", "smoke"])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_round_trips_through_yaml_and_json(tmp_path, profile, suffix):
    cfg = profile_config(profile)
    cfg.save(tmp_path / f"run{suffix}")
    assert load_config(tmp_path / f"run{suffix}") == cfg


def test_paper_profile_holds_the_papers_training_settings():
    cfg = paper_config()
    assert (cfg.model.arch, cfg.model.weights, cfg.model.task_set) == ("ViT-B-32", "openai", "all")
    assert cfg.model.train_visual and cfg.model.train_text and not cfg.model.train_logit_scale
    assert {(d.name, d.batch_size) for d in cfg.data.train} == {
        ("live", 4), ("csiq", 4), ("bid", 4), ("clive", 4), ("koniq10k", 16), ("kadid10k", 16)}
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (5e-6, 1e-3)
    assert (cfg.schedule.name, cfg.schedule.t_max, cfg.schedule.skip_zero_lr) == ("cosine", 5, True)
    assert (cfg.epochs, cfg.steps_per_epoch) == (80, 200)
    assert (cfg.data.train_crops, cfg.data.eval_crops, cfg.data.split) == (3, 15, "official")
    assert (cfg.loss.weighting, cfg.loss.temperature) == ("dwa", 2.0)
    assert (cfg.device, cfg.precision) == ("auto", "auto")


def test_smoke_profile_trains_random_liqe_tiny_on_two_parts_of_the_synthetic_set_on_cpu():
    cfg = smoke_config()
    assert (cfg.model.arch, cfg.model.weights, cfg.device, cfg.precision) == ("liqe-tiny", None, "cpu", "fp32")
    assert [d.key for d in cfg.data.train] == ["synthetic-1of2", "synthetic-2of2"]
    assert cfg.data.split == "random"


def test_overrides_reach_nested_fields_and_list_items_with_yaml_typed_values():
    cfg = apply_overrides(paper_config(), ["optim.lr=1e-4", "data.train.0.batch_size=8", "model.weights=null",
                                           "schedule.t_max=null", "model.train_text=false"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.data.train[0] == DatasetConfig("live", 8)
    assert cfg.model.weights is None and cfg.schedule.t_max is None and cfg.model.train_text is False
    assert paper_config().optim.lr == 5e-6  # the profile itself is untouched


def test_override_of_a_whole_list_builds_dataset_configs():
    cfg = apply_overrides(TrainConfig(), ["data.train=[{name: csiq, batch_size: 4}]"])
    assert cfg.data.train == [DatasetConfig("csiq", 4)]


@pytest.mark.parametrize("override, message", [
    ("optim.learning_rate=1", "no key 'optim.learning_rate'; choose one of"),
    ("data.train.9.batch_size=1", "not an index of a list of 6"),
    ("epochs=many", "config.epochs: expected int, found str 'many'"),
    ("model.train_text=1", "config.model.train_text: expected bool, found int 1"),
    ("optim.lr", "not of the form key=value"),
])
def test_bad_overrides_name_the_key_and_what_was_expected(override, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("[", r"\[")):
        apply_overrides(paper_config(), [override])


def test_unknown_key_in_a_config_file_names_the_file_and_the_valid_keys(tmp_path):
    (tmp_path / "bad.yaml").write_text("optim:\n  lr: 1.0e-4\n  momentum: 0.9\n")
    with pytest.raises(ValueError, match=r"bad\.yaml\.optim: unknown key\(s\) \['momentum'\]"):
        load_config(tmp_path / "bad.yaml")


def test_dataset_key_names_the_part_only_when_a_dataset_is_divided():
    assert DatasetConfig("koniq10k", 16).key == "koniq10k"
    assert DatasetConfig("synthetic", 4, part=1, parts=2).key == "synthetic-2of2"
