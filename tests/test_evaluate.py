import math

import numpy as np
import pandas as pd
import pytest
import torch
from train_fakes import tiny_config, write_fake_synthetic

from liqe_lib import report
from liqe_lib.cli import main
from liqe_lib.evaluate import (aggregate, evaluate_checkpoint, fit_logistic, logistic4, metrics, quality_metrics,
                               scene_hits, tidy)
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


def test_table1_and_table5_follow_the_papers_aggregation():
    table = pd.concat([tidy({"koniq10k": {"srcc": v, "scene_acc": a}, "synthetic": {"srcc": 0.5, "scene_acc": 0.3}},
                            "liqe", s, "test") for s, (v, a) in enumerate([(0.9, 0.8), (0.7, 0.6), (0.8, 0.7)], 1)])
    t1 = report.table1(table)
    assert t1.loc["KonIQ-10k", "median"] == pytest.approx(0.8) and t1.loc["KonIQ-10k", "median (paper)"] == 0.919
    assert t1.loc["synthetic", "median"] == pytest.approx(0.5) and math.isnan(t1.loc["synthetic", "median (paper)"])
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
    assert set(values.index) == {"srcc", "krcc", "plcc", "rmse", "scene_acc", "distortion_acc"}
    assert 0 <= values["distortion_acc"] <= 1 and 0 <= values["scene_acc"] <= 1


def test_liqe_evaluate_prints_the_metrics_and_writes_the_tidy_csv(checkpoint, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "synthetic", "--split", "val",
                 "--csv", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "srcc" in out and "synthetic" in out
    assert set(pd.read_csv(tmp_path / "m.csv")["split"]) == {"val"}
