"""IQADataset items, collate's skip-and-count, and the multi-dataset sampler's cycling, exact resume and
loading ahead in worker processes."""
import numpy as np
import pytest
import torch
from PIL import Image

from liqe_lib.batch import StepLoader
from liqe_lib.data.dataset import IQADataset, MultiDatasetSampler, collate
from liqe_lib.data.labels import LabelRow
from liqe_lib.data.registry import get_spec
from liqe_lib.vocab import DISTORTIONS, SCENES, UNKNOWN


def _images(folder, count, size=(240, 230)):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i}.png")
        rows.append(LabelRow(f"{i}.png", float(i), "gaussian blur" if i % 2 else UNKNOWN, ("night", "plant") if i % 2 else ()))
    return rows


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def test_items_carry_crops_and_labels_with_the_contract_types(folder):
    rows = _images(folder, 2)
    train, evaluation = (IQADataset("bid", folder, rows, train=t) for t in (True, False))
    item = train[1]
    assert item["crops"].shape == (3, 3, 224, 224) and item["crops"].dtype == torch.uint8
    assert evaluation[1]["crops"].shape == (15, 3, 224, 224)
    assert item["score"].dtype == torch.float32 and float(item["score"]) == 1.0
    assert item["distortion"].dtype == torch.int64 and int(item["distortion"]) == DISTORTIONS.index("blur")
    assert item["scenes"].tolist() == [float(s in ("night", "plant")) for s in SCENES]
    assert (item["path"], item["dataset"], item["fine"]) == ("1.png", "bid", "gaussian blur")
    unknown = train[0]
    assert int(unknown["distortion"]) == -1 and unknown["scenes"].sum() == 0


def test_items_carry_appearance_levels_and_unknown_rows_get_minus_one(folder):
    rows = _images(folder, 2)
    plain = IQADataset("bid", folder, rows, train=False, n_crops=1)
    labelled = IQADataset("bid", folder, rows, train=False, n_crops=1, appearance={"1.png": (0, 2, 1, -1)})
    assert plain[1]["appearance"].tolist() == [-1, -1, -1, -1] and not plain.has_appearance
    assert labelled[1]["appearance"].tolist() == [0, 2, 1, -1] and labelled.has_appearance
    assert labelled[0]["appearance"].tolist() == [-1, -1, -1, -1]
    batch = collate([labelled[0], labelled[1]])
    assert batch["appearance"].shape == (2, 4) and batch["appearance"].dtype == torch.int64


def test_train_crops_are_a_pure_function_of_seed_epoch_and_index(folder):
    rows = _images(folder, 2)
    first, second = IQADataset("bid", folder, rows, train=True, seed=5), IQADataset("bid", folder, rows, train=True, seed=5)
    assert torch.equal(first[0]["crops"], second.get(0, 0)["crops"])
    first.set_epoch(1)
    assert not torch.equal(first[0]["crops"], second[0]["crops"])
    assert torch.equal(first[0]["crops"], second.get(0, 1)["crops"])


def test_spaq_images_are_resized_to_a_shorter_side_of_512(folder):
    Image.new("RGB", (1200, 900), (90, 120, 150)).save(folder / "big.jpg")
    dataset = IQADataset("spaq", folder, [LabelRow("big.jpg", 50.0, UNKNOWN, ())], train=False)
    assert dataset._load("big.jpg").size == (683, 512)
    view = IQADataset("spaq-test", folder, dataset.rows, train=False, spec=get_spec("spaq"))
    assert view._load("big.jpg").size == (683, 512)


def test_collate_skips_unreadable_images_and_lists_them(folder, caplog):
    rows = _images(folder, 2) + [LabelRow("broken.jpg", 1.0, "contrast", ("human",))]
    (folder / "broken.jpg").write_text("not a jpeg")
    dataset = IQADataset("clive", folder, rows, train=True)
    batch = collate([dataset[i] for i in range(3)])
    assert batch["crops"].shape[0] == 2 and batch["path"] == ["0.png", "1.png"]
    assert batch["skipped"] == ["broken.jpg"] and "broken.jpg" in caplog.text
    empty = collate([dataset[2]])
    assert empty["crops"].shape[0] == 0 and empty["skipped"] == ["broken.jpg"]
    assert empty["appearance"].shape == (0, 4)


def test_sampler_gives_each_dataset_its_batch_size_and_cycles_them_independently(folder):
    rows = _images(folder, 5, size=(224, 224))
    datasets = {"small": IQADataset("small", folder, rows[:3], train=True),
                "large": IQADataset("large", folder, rows, train=True)}
    sampler = MultiDatasetSampler(datasets, {"small": 2, "large": 4}, seed=0)
    seen = {"small": [], "large": []}
    for _ in range(3):
        for name, batch in sampler.next_batch().items():
            assert len(batch["path"]) == {"small": 2, "large": 4}[name]
            seen[name] += batch["path"]
    assert sorted(seen["small"][:3]) == ["0.png", "1.png", "2.png"]  # a pass visits every image once
    assert sorted(seen["small"][3:6]) == ["0.png", "1.png", "2.png"]
    assert sorted(seen["large"][:5]) == [f"{i}.png" for i in range(5)]
    assert sampler.state_dict()["passes"] == {"small": 2, "large": 2}


def test_sampler_state_restores_the_exact_batches_and_crops(folder):
    rows = _images(folder, 5, size=(224, 250))
    make = lambda: MultiDatasetSampler({"a": IQADataset("a", folder, rows, train=True),  # noqa: E731
                                        "b": IQADataset("b", folder, rows[:2], train=True)}, {"a": 3, "b": 1}, seed=9)
    original = make()
    for _ in range(2):
        original.next_batch()
    state = original.state_dict()
    expected = [original.next_batch() for _ in range(3)]
    resumed = make()
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next_batch()
        for name in want:
            assert got[name]["path"] == want[name]["path"] and torch.equal(got[name]["crops"], want[name]["crops"])
    other = MultiDatasetSampler({"a": IQADataset("a", folder, rows, train=True)}, {"a": 3}, seed=1)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)


def test_sampler_counts_unreadable_images_across_steps(folder):
    rows = _images(folder, 2) + [LabelRow("bad.png", 1.0, "contrast", ("human",))]
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    sampler = MultiDatasetSampler({"d": IQADataset("d", folder, rows, train=True)}, {"d": 3}, seed=0)
    sampler.next_batch()
    sampler.next_batch()
    assert sampler.skipped == ["bad.png", "bad.png"]
    assert sampler.state_dict()["skipped"] == ["bad.png", "bad.png"]


def test_worker_processes_count_unreadable_images_when_their_step_is_consumed_not_when_loaded(folder):
    rows = _images(folder, 4) + [LabelRow(f"bad{i}.png", 1.0, "contrast", ()) for i in range(2)]
    for i in range(2):
        (folder / f"bad{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    make = lambda: MultiDatasetSampler({"d": IQADataset("d", folder, rows, train=True)}, {"d": 2},  # noqa: E731
                                       seed=0, passes="epoch")
    in_process = make()
    expected = [in_process.next_batch()["d"]["skipped"] for _ in range(6)]  # 2 passes of 3 steps
    assert expected == [["bad1.png"], ["bad0.png"], [], ["bad0.png"], [], ["bad1.png"]]
    sampler = make()
    steps = StepLoader(sampler, num_workers=2, prefetch_factor=2).epoch(6)
    first = next(steps)  # both workers have loaded further steps by now; only this one is counted
    assert sampler.skipped == expected[0] and len(first.paths) == 2 - len(expected[0])
    consumed = [first] + list(steps)
    assert sampler.skipped == sum(expected, []) == in_process.skipped
    assert [len(b.paths) for b in consumed] == [2 - len(s) for s in expected]