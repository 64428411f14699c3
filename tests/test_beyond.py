"""Notebook 10's tables from tidy tables whose medians are known by hand."""
import math

import pandas as pd
import pytest

from liqe_lib import beyond
from liqe_lib.evaluate import tidy


def _sessions(model, values_by_session, dataset="koniq10k"):
    return pd.concat([tidy({dataset: values}, model, s, "test") for s, values in enumerate(values_by_session, 1)])


def test_versus_table_puts_median_and_std_over_sessions_side_by_side():
    table = beyond.versus_table(pd.concat([
        _sessions("liqe", [{"srcc": 0.8, "plcc": 0.7}, {"srcc": 0.6, "plcc": 0.9}, {"srcc": 0.7, "plcc": 0.8}]),
        _sessions("liqe+appearance", [{"srcc": 0.5, "plcc": 0.4}, {"srcc": 0.7, "plcc": 0.6}]),
        _sessions("liqe", [{"srcc": 0.1}], dataset="synthetic").assign(split="val"),  # not the test split
    ]))
    assert list(table.index) == ["LIQE", "LIQE + appearance"]
    assert list(table.columns) == ["KonIQ-10k SRCC", "KonIQ-10k SRCC std", "KonIQ-10k PLCC", "KonIQ-10k PLCC std"]
    assert table.loc["LIQE", "KonIQ-10k SRCC"] == pytest.approx(0.7)
    assert table.loc["LIQE", "KonIQ-10k SRCC std"] == pytest.approx(0.1)
    assert table.loc["LIQE + appearance", "KonIQ-10k PLCC"] == pytest.approx(0.5)


def test_probe_table_compares_initial_and_trained_features():
    table = beyond.probe_table(pd.concat([
        _sessions("initial", [{"srcc": 0.2, "plcc_raw": 0.3, "alpha": 10.0}, {"srcc": 0.4, "plcc_raw": 0.1}]),
        _sessions("liqe", [{"srcc": 0.9, "plcc_raw": 0.8}]),
    ]))
    assert list(table.columns) == ["KonIQ-10k SRCC", "KonIQ-10k PLCC (raw)"]
    assert table.iloc[0].tolist() == pytest.approx([0.3, 0.2]) and table.iloc[1].tolist() == pytest.approx([0.9, 0.8])
    assert list(table.index) == ["initial (before training)", "LIQE-trained"]


def test_appearance_table_has_a_row_per_attribute_and_the_mean():
    accuracies = {"appearance_acc_brightness": 0.6, "appearance_acc_contrast": 0.5,
                  "appearance_acc_sharpness": math.nan, "appearance_acc_colorfulness": 0.4, "appearance_acc": 0.5}
    table = beyond.appearance_table(_sessions("liqe+appearance", [accuracies, {**accuracies,
                                                                               "appearance_acc_brightness": 0.8}]))
    assert list(table.index) == ["brightness", "contrast", "sharpness", "colorfulness", "mean"]
    assert table.loc["brightness", "KonIQ-10k"] == pytest.approx(0.7) and math.isnan(table.loc["sharpness", "KonIQ-10k"])
