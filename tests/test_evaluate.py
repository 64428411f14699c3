import math

import numpy as np
import pandas as pd
import pytest
import torch
from train_fakes import tiny_config, write_fake_synthetic

from liqe_lib import report
from liqe_lib.cli import main
from liqe_lib.evaluate import (APPEARANCE_METRICS, METRICS, aggregate, checkpoint_config, evaluate_checkpoint,
                               fit_logistic, logistic4, metrics, quality_metrics, scene_hits, tidy)
from liqe_lib.train import train

BETAS = (4.5, 1.2, 0.3, 0.8)


def test_logistic_is_halfway_at_b3_and_three_quarters_up_at_b3_plus_abs_b4_ln3():
    b1, b2, b3, b4 = BETAS
    assert logistic4(np.array(b3), *BETAS) == pytest.approx((b1 + b2) / 2)
    assert logistic4(np.array(b3 + 0.8 * math.log(3)), *BETAS) == pytest.approx(b2 + 0.75 * (b1 - b2))
    assert logistic4(np.array(b3), b1, b2, b3, -b4) == logistic4(np.array(b3), *BETAS)  # |b4|


def test_logistic_fit_recovers_the_betas_of_noise_free_scores():
    x = np.linspace(-2, 3, 40)
    betas = fit_logistic(x, logistic4(x, *BETAS))
    assert betas[:3] == pytest.approx(BETAS[:3], abs=1e-4) and abs(betas[3]) == pytest.approx(BETAS[3], abs=1e-4)


def test_quality_metrics_match_hand_computed_values():
    pred, mos = [1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 3.0, 2.0, 4.0, 5.0]
    result = quality_metrics(pred, mos)
    assert result["srcc"] == pytest.approx(1 - 6 * 2 / (5 * 24))  # one swapped neighbour pair: sum d^2 = 2
    assert result["krcc"] == pytest.approx((9 - 1) / 10)  # 9 concordant, 1 discordant pair
    x = np.linspace(0, 1, 30)
    perfect = quality_metrics(x, logistic4(x, 80.0, 20.0, 0.5, 0.1))
    assert perfect["plcc"] == pytest.approx(1.0, abs=1e-6) and perfect["rmse"] == pytest.approx(0.0, abs=1e-4)


def test_constant_predictions_have_undefined_correlations_not_a_crash():
    assert all(math.isnan(v) for v in quality_metrics([3.0] * 5, [1, 2, 3, 4, 5]).values())


def test_scene_accuracy_counts_each_label_found_in_the_top_k_as_one_hit_out_of_k():
    prob = torch.tensor([[0.5, 0.3, 0.1, 0.1, 0, 0, 0, 0, 0],   # labels {0, 2}: top-2 = {0, 1}: 1 hit of 2
                         [0.1, 0.6, 0.3, 0, 0, 0, 0, 0, 0],     # label {2}: top-1 = {1}: 0 of 1
                         [0.2, 0.2, 0.6, 0, 0, 0, 0, 0, 0]])    # unknown: 0 of 0
    multi_hot = torch.zeros(3, 9)
    multi_hot[0, [0, 2]] = 1
    multi_hot[1, 2] = 1
    hits, k = scene_hits(prob, multi_hot)
    assert hits.tolist() == [1, 0, 0] and k.tolist() == [2, 1, 0]
    frame = pd.DataFrame({"pred": [1.0, 2.0, 3.0], "mos": [1.0, 2.0, 3.0], "scene_hits": hits.numpy(),
                          "scene_k": k.numpy(), "distortion": [3, -1, 5], "distortion_pred": [3, 3, 4]})
    result = metrics(frame)
    assert result["scene_acc"] == pytest.approx(1 / 3)
    assert result["distortion_acc"] == pytest.approx(1 / 2)  # the unknown row is left out


def test_appearance_accuracy_is_per_attribute_over_labelled_images_and_their_mean():
    frame = pd.DataFrame({"pred": [1.0, 2.0, 3.0], "mos": [1.0, 2.0, 3.0], "scene_hits": [0, 0, 0],
                          "scene_k": [0, 0, 0], "distortion": [-1, -1, -1], "distortion_pred": [0, 0, 0],
                          "appearance_brightness": [0, 1, 2], "appearance_brightness_pred": [0, 1, 1],  # 2 of 3
                          "appearance_contrast": [2, -1, 2], "appearance_contrast_pred": [2, 0, 0],  # 1 of 2
                          "appearance_sharpness": [-1, -1, -1], "appearance_sharpness_pred": [0, 1, 2],  # none
                          "appearance_colorfulness": [1, 1, 0], "appearance_colorfulness_pred": [1, 1, 0]})  # 3/3
    result = metrics(frame)
    assert result["appearance_acc_brightness"] == pytest.approx(2 / 3)
    assert result["appearance_acc_contrast"] == pytest.approx(1 / 2)
    assert math.isnan(result["appearance_acc_sharpness"]) and result["appearance_acc_colorfulness"] == 1
    assert result["appearance_acc"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert "appearance_acc" not in metrics(frame.iloc[:, :6])  # a model without the task: no such metric


def test_sessions_aggregate_to_median_and_sample_std():
    table = pd.concat([tidy({"csiq": {"srcc": v}}, "liqe", s, "test") for s, v in enumerate([0.90, 0.94, 0.92], 1)])
    assert list(table.columns) == ["model", "dataset", "session", "split", "metric", "value"]
    row = aggregate(table).iloc[0]
    assert (row["median"], row["sessions"]) == (pytest.approx(0.92), 3)
    assert row["std"] == pytest.approx(0.02)


def test_table4_puts_reproduced_medians_next_to_the_papers():
    rows = {"live": {"srcc": 0.95}, "csiq": {"srcc": 0.91}}
    table = pd.concat([tidy(rows, "liqe", 1, "test"), tidy({"live": {"srcc": 0.5}}, "frozen-text", 1, "test")])
    result = report.table4(table)
    assert result.loc["LIQE", "LIVE"] == pytest.approx(0.95) and result.loc["LIQE", "LIVE (paper)"] == 0.970
    assert result.loc["LIQE", "Mean"] == pytest.approx(0.93)
    assert result.loc["(3) Frozen Textual Encoder", "LIVE"] == pytest.approx(0.5)
    assert math.isnan(result.loc["(1) Pretrained CLIP (C=2)", "LIVE"])
    assert result.loc["(1) Pretrained CLIP (C=2)", "LIVE (paper)"] == 0.801


def test_table2_takes_whole_datasets_and_test_splits_never_validation():
    table = pd.concat([tidy({"tid2013": {"srcc": v}}, "liqe", s, "all") for s, v in enumerate([0.7, 0.5, 0.6], 1)]
                      + [tidy({"synthetic": {"srcc": 0.4}}, "liqe", 1, "test"),
                         tidy({"spaq": {"srcc": 0.99}}, "liqe", 1, "val")])
    result = report.table2(table)
    assert result.loc["LIQE", "TID2013"] == pytest.approx(0.6)
    assert result.loc["LIQE", "synthetic"] == pytest.approx(0.4)
    assert math.isnan(result.loc["LIQE", "SPAQ"])
    assert result.loc["LIQE", "SPAQ (paper)"] == 0.881


def test_table1_and_table5_follow_the_papers_aggregation():
    table = pd.concat([tidy({"koniq10k": {"srcc": v, "scene_acc": a}, "synthetic": {"srcc": 0.5, "scene_acc": 0.3}},
                            "liqe", s, "test") for s, (v, a) in enumerate([(0.9, 0.8), (0.7, 0.6), (0.8, 0.7)], 1)])
    t1 = report.table1(table)
    assert t1.loc["KonIQ-10k", "SRCC"] == pytest.approx(0.8) and t1.loc["KonIQ-10k", "SRCC (paper)"] == 0.919
    assert t1.loc["synthetic", "SRCC"] == pytest.approx(0.5) and math.isnan(t1.loc["synthetic", "SRCC (paper)"])
    official = report.table1(table, statistic="mean")  # BIQA_benchmark.py: mean and population std
    assert official.loc["KonIQ-10k", "SRCC"] == pytest.approx(0.8)
    assert official.loc["KonIQ-10k", "std"] == pytest.approx(math.sqrt(0.02 / 3))
    t5 = report.table5(table)  # median over sessions of the mean over datasets
    assert t5.loc["All Tasks (LIQE)", "mSRCC"] == pytest.approx((0.8 + 0.5) / 2)
    assert t5.loc["All Tasks (LIQE)", "mACC_scene"] == pytest.approx((0.7 + 0.3) / 2)


def test_markdown_rounds_numbers_and_prints_missing_values_as_a_dash(tmp_path):
    frame = pd.DataFrame({"SRCC": [0.91234, float("nan")]}, index=pd.Index(["a", "b"], name="model"))
    assert report.to_markdown(frame, note="smoke") == (
        "> smoke\n\n| model | SRCC |\n|---|---|\n| a | 0.912 |\n| b | - |\n")
    csv, md = report.write(frame, tmp_path / "t")
    assert csv.read_text().startswith("model,SRCC") and md.is_file()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = write_fake_synthetic(tmp_path_factory.mktemp("data"))
    return train(tiny_config(root, tmp_path_factory.mktemp("run"))).best_checkpoint


def test_evaluate_checkpoint_tests_the_held_out_contents_with_its_training_data_settings(checkpoint):
    table = evaluate_checkpoint(checkpoint, ["synthetic"], "test")
    values = table.set_index("metric")["value"]
    assert set(table["model"]) == {"liqe"} and set(table["split"]) == {"test"}
    assert set(values.index) == {"srcc", "krcc", "plcc", "rmse", "scene_acc", "scene_acc_official", "distortion_acc"}
    assert 0 <= values["distortion_acc"] <= 1 and 0 <= values["scene_acc"] <= 1


def test_an_appearance_checkpoint_is_tested_on_every_attribute(tmp_path_factory):
    root = write_fake_synthetic(tmp_path_factory.mktemp("data"))
    run = train(tiny_config(root, tmp_path_factory.mktemp("run"), "model.task_set=all+appearance"))
    values = evaluate_checkpoint(run.best_checkpoint, ["synthetic"], "test").set_index("metric")["value"]
    assert list(values.index) == [*METRICS, *APPEARANCE_METRICS]
    assert all(0 <= values[m] <= 1 for m in APPEARANCE_METRICS)


def test_liqe_evaluate_prints_the_metrics_and_writes_the_tidy_csv(checkpoint, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "synthetic", "--split", "val",
                 "--csv", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "srcc" in out and "synthetic" in out
    assert set(pd.read_csv(tmp_path / "m.csv")["split"]) == {"val"}


def test_liqe_evaluate_probe_ridge_writes_the_probes_tidy_table(checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.csv"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "synthetic", "--probe", "ridge",
                 "--csv", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["model", "dataset", "session", "split", "metric", "value"]
    values = table.set_index("metric")["value"]
    assert set(table["model"]) == {"liqe (ridge probe)"} and set(table["split"]) == {"test"}
    # the fake set's 6 contents x 4 images split 4/1/1 by content (the checkpoint's own split settings)
    assert (values["n_train"], values["n_val"], values["n_test"]) == (16, 4, 4)
    assert -1 <= values["srcc"] <= 1 and -1 <= values["plcc_raw"] <= 1 and values["alpha"] > 0
    assert "plcc_raw" in capsys.readouterr().out


def test_liqe_evaluate_probe_ridge_takes_random_init_and_refuses_another_split(checkpoint, tmp_path, capsys):
    root = checkpoint_config(checkpoint).data.root
    args = ["evaluate", "--checkpoint", "none", "--arch", "liqe-tiny", "--dataset", "synthetic", "--probe", "ridge",
            "--set", f"root={root}", "--set", "split=random", "--set", "eval_crops=1", "--csv", str(tmp_path / "p.csv")]
    assert main(args) == 0
    assert set(pd.read_csv(tmp_path / "p.csv")["model"]) == {"none (ridge probe)"}
    with pytest.raises(SystemExit, match="drop --split"):
        main([*args, "--split", "val"])
