import numpy as np
import pandas as pd
import pytest

from liqe_lib.realign import load_betas, pooled_srcc, realign


def test_paper_betas_cover_the_six_datasets():
    betas = load_betas()
    assert sorted(betas) == ["bid", "clive", "csiq", "kadid10k", "koniq10k", "live"]
    assert betas["kadid10k"] == pytest.approx([96.48609525396549, 4.793032715285075, 3.0858805354668464, 0.8040785706161221])


def test_realign_is_the_four_parameter_logistic():
    # b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|)); at x = b3 it is the midpoint (b1 + b2) / 2
    assert realign(np.array([3.0]), np.array([10.0, 0.0, 3.0, -2.0]))[0] == pytest.approx(5.0)
    assert realign(np.array([5.0]), np.array([10.0, 0.0, 3.0, 2.0]))[0] == pytest.approx(10 / (1 + np.exp(-1)))


def test_pooling_ranks_across_datasets_on_the_common_scale():
    # both logistics are nearly linear on 1..3; b's realigned scores (about 55) all lie above a's (about 50).
    # A model that ranks well within each set but puts all of b below a loses on the pooled ranking.
    identity_like = {"a": np.array([100.0, 0.0, 2.0, 100.0]), "b": np.array([105.0, 5.0, 2.0, 100.0])}
    within_only = pd.DataFrame({"dataset": ["a"] * 3 + ["b"] * 3, "mos": [1, 2, 3] * 2, "pred": [4, 5, 6, 1, 2, 3]})
    across = within_only.assign(pred=[1, 2, 3, 4, 5, 6])
    assert pooled_srcc(across, identity_like) == pytest.approx(1.0)
    assert pooled_srcc(within_only, identity_like) == pytest.approx(1 - 6 * 54 / (6 * 35))  # rank differences of 3 for all six images
    with pytest.raises(KeyError, match="no realignment betas"):
        pooled_srcc(within_only.assign(dataset="synthetic"), identity_like)


def test_a_dataset_without_betas_is_already_on_the_common_scale():
    assert realign(np.array([1.5, 2.5]), None).tolist() == [1.5, 2.5]
    single = pd.DataFrame({"dataset": ["synthetic"] * 3, "mos": [1.0, 2.0, 3.0], "pred": [0.1, 0.3, 0.2]})
    assert pooled_srcc(single, {"synthetic": None}) == pytest.approx(0.5)
