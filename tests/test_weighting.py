import math

import pytest

from liqe_lib.weighting import DynamicWeightAverage, EqualWeighting, make_weighting

TASKS = ("quality", "scene", "distortion")


def test_dwa_weights_are_one_for_the_first_two_epochs():
    dwa = DynamicWeightAverage(TASKS)
    assert dwa.weights() == {t: 1.0 for t in TASKS}
    dwa.end_epoch({"quality": 1.0, "scene": 2.0, "distortion": 0.5})
    assert dwa.weights() == {t: 1.0 for t in TASKS}


def test_dwa_favours_the_task_whose_loss_fell_least():
    dwa = DynamicWeightAverage(TASKS, temperature=2.0)
    dwa.end_epoch({"quality": 1.0, "scene": 2.0, "distortion": 0.5})
    dwa.end_epoch({"quality": 0.5, "scene": 2.0, "distortion": 0.5})  # ratios 0.5, 1, 1
    weights = dwa.weights()
    assert weights["quality"] == pytest.approx(0.8407951960600039)
    assert weights["scene"] == pytest.approx(1.079602401969998)
    assert weights["distortion"] == pytest.approx(1.079602401969998)
    assert sum(weights.values()) == pytest.approx(3.0)


def test_dwa_uses_only_the_last_two_epochs_and_round_trips_its_state():
    dwa = DynamicWeightAverage(("a", "b"))
    for losses in ({"a": 9.0, "b": 1.0}, {"a": 2.0, "b": 2.0}, {"a": 2.0, "b": 1.0}):
        dwa.end_epoch(losses)
    ea, eb = math.exp(1.0 / 2), math.exp(0.5 / 2)
    assert dwa.weights() == pytest.approx({"a": 2 * ea / (ea + eb), "b": 2 * eb / (ea + eb)})
    restored = DynamicWeightAverage(("a", "b"))
    restored.load_state_dict(dwa.state_dict())
    assert restored.weights() == dwa.weights()


def test_equal_weighting_never_changes():
    equal = make_weighting("equal", TASKS)
    assert isinstance(equal, EqualWeighting) and not isinstance(equal, DynamicWeightAverage)
    for _ in range(3):
        equal.end_epoch({"quality": 1.0, "scene": 0.1, "distortion": 5.0})
    assert equal.weights() == {t: 1.0 for t in TASKS}
    with pytest.raises(ValueError, match="dwa"):
        make_weighting("uncertainty", TASKS)
