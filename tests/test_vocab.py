import pytest

from liqe_lib import appearance
from liqe_lib.vocab import (APPEARANCE_ATTRIBUTES, AXES, DISTORTIONS, FINE_TO_COARSE, JOINT_TEMPLATE, QUALITY_LEVELS,
                            SCENES, TASK_SETS, PromptGroup, TaskSet, coarse_distortion, get_task_set)


def test_label_spaces_have_the_papers_sizes_and_order():
    assert QUALITY_LEVELS == ("bad", "poor", "fair", "good", "perfect")
    assert len(SCENES) == 9 and SCENES[-1] == "others"
    assert DISTORTIONS[:2] == ("jpeg2000 compression", "jpeg compression") and DISTORTIONS[-1] == "other"
    assert len(DISTORTIONS) == 11


def test_all_33_fine_types_map_onto_the_11_classes():
    assert len(FINE_TO_COARSE) == 33
    assert set(FINE_TO_COARSE.values()) == set(DISTORTIONS)
    assert coarse_distortion("fastfading") == "jpeg2000 compression"
    assert coarse_distortion("color blocking") == "spatial"
    assert coarse_distortion("unknown") == "unknown"


def test_all_task_prompts_are_quality_major_then_scene_then_distortion():
    prompts = get_task_set("all").prompts
    assert len(prompts) == 495
    assert prompts[0] == "a photo of a animal with jpeg2000 compression artifacts, which is of bad quality"
    assert prompts[1] == "a photo of a animal with jpeg compression artifacts, which is of bad quality"
    assert prompts[11] == "a photo of a cityscape with jpeg2000 compression artifacts, which is of bad quality"
    assert prompts[99] == "a photo of a animal with jpeg2000 compression artifacts, which is of poor quality"
    assert prompts[494] == "a photo of a others with other artifacts, which is of perfect quality"
    assert get_task_set("all").groups[0].shape == (5, 9, 11)


def test_every_task_combination_has_its_prompt_count():
    counts = {name: len(ts.prompts) for name, ts in TASK_SETS.items()}
    assert counts == {"all": 495, "quality+scene": 45, "quality+distortion": 55, "quality": 5, "scene": 9,
                      "distortion": 11, "two-level": 2, "separate": 25, "all+appearance": 507}
    assert get_task_set("quality+scene").prompts[1] == "a photo of a cityscape, which is of bad quality"
    assert get_task_set("quality+distortion").prompts[0] == "a photo with jpeg2000 compression artifacts, which is of bad quality"
    assert get_task_set("two-level").prompts == ["a photo with bad quality", "a photo with good quality"]
    separate = get_task_set("separate")
    assert [len(g.prompts) for g in separate.groups] == [5, 9, 11]
    assert separate.groups[1].prompts[0] == "a photo of a animal"
    assert separate.groups[2].prompts[0] == "a photo with jpeg2000 compression artifacts"
    assert separate.tasks == ("quality", "scene", "distortion")
    assert get_task_set("quality+distortion").tasks == ("quality", "distortion")


def test_appearance_prompts_are_twelve_one_group_of_three_levels_per_attribute():
    task_set = get_task_set("all+appearance")
    assert task_set.prompts[:495] == get_task_set("all").prompts
    assert task_set.prompts[495:] == [
        "a photo with low brightness", "a photo with medium brightness", "a photo with high brightness",
        "a photo with low contrast", "a photo with medium contrast", "a photo with high contrast",
        "a photo with low sharpness", "a photo with medium sharpness", "a photo with high sharpness",
        "a photo with low colorfulness", "a photo with medium colorfulness", "a photo with high colorfulness"]
    assert [g.shape for g in task_set.groups[1:]] == [(3,)] * 4
    assert task_set.tasks == ("quality", "scene", "distortion", "appearance")
    assert get_task_set("all").tasks == ("quality", "scene", "distortion")


def test_appearance_attributes_are_the_measured_ones_in_prompt_spelling():
    assert [a.replace("colour", "color") for a in appearance.ATTRIBUTES] == list(APPEARANCE_ATTRIBUTES)


def test_a_task_set_with_only_some_appearance_attributes_is_refused():
    with pytest.raises(ValueError, match="needs all of"):
        TaskSet("half", (PromptGroup(JOINT_TEMPLATE, AXES), PromptGroup("a photo with {l} contrast", ("contrast",))))
