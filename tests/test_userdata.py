"""Your own labelled images: CSV datasets (bad rows with their lines), registration, fine-tuning, README example."""
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from liqe_lib import cli, evaluate, load_model, rundata
from liqe_lib.config import DataConfig, profile_config
from liqe_lib.data.distortions import GENERATORS
from liqe_lib.data.registry import DatasetSpec, get_spec, load_rows, register_dataset
from liqe_lib.data.synthetic import load_pristine, package_sources
from liqe_lib.data.userdata import CLASS_AS_FINE, UserDataError, check_trainable, register_csv

README = Path(__file__).resolve().parents[1] / "README.md"
CONTENTS = ("chelsea", "coffee", "astronaut", "rocket")
DARKEN = next(g for g in GENERATORS if g.slug == "darken")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """20 synthetic images (4 contents darkened at 5 levels, `data.synthetic`'s generator) and `mine.csv`
    with absolute paths and only `path,mos` (mos = 6 - level)."""
    folder = tmp_path_factory.mktemp("mine")
    lines = ["path,mos"]
    for source in (s for s in package_sources() if s.name in CONTENTS):
        reference, _ = load_pristine(source, longer=224)
        for level in range(1, 6):
            path = folder / f"{source.name}_{level}.png"
            DARKEN(reference, level, np.random.default_rng(level)).save(path)
            lines.append(f"{path},{6 - level}")
    (folder / "mine.csv").write_text("\n".join(lines) + "\n")
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


def test_every_bad_row_kind_is_reported_with_its_file_and_line(images, tmp_path):
    shutil.copy(images / "chelsea_1.png", tmp_path / "a.png")
    shutil.copy(images / "chelsea_2.png", tmp_path / "b.png")
    labels = write(tmp_path, "bad.csv", "path,mos,std,scene,distortion,split\n"
                   "a.png,4.5,0.3,animal,blur,train\n"           # 2: good
                   "missing.png,3,,,,train\n"                    # 3
                   "b.png,four,,,,train\n"                       # 4
                   "b.png,2,,beach,,val\n"                       # 5
                   "b.png,2,,,smudge,val\n"                      # 6
                   "b.png,2,,,,holdout\n"                        # 7
                   "b.png,2,-1,,,test\n"                         # 8
                   "a.png,1,,,,test\n")                          # 9: duplicate of line 2
    with pytest.raises(UserDataError) as info:
        register_csv(labels)
    message, file = str(info.value), str(labels)
    assert message.startswith(f"7 problem(s) in {file}")
    for line, text in ((3, "image 'missing.png' not found"), (4, "mos 'four' is not a finite number"),
                       (5, "unknown scene 'beach'"), (6, "unknown distortion 'smudge'"),
                       (7, "split 'holdout': expected one of train, val, test"),
                       (8, "std '-1' is not a non-negative number"),
                       (9, "duplicate image 'a.png' (first on line 2)")):
        assert f"{file}:{line}: {text}" in message, text
    assert f"{file}:2:" not in message


def test_header_and_liqe_format_problems_name_the_line(images, tmp_path):
    with pytest.raises(UserDataError, match=r"bad\.csv:1: header: missing column\(s\) \['mos'\], unknown column"
                                            r"\(s\) \['distorion'\]"):
        register_csv(write(tmp_path, "bad.csv", "path,distorion\na.png,blur\n"))
    shutil.copy(images / "chelsea_1.png", tmp_path / "a.png")
    row = "a.png\t{}\tunknown\tunknown\tinvalid\tinvalid\n"
    text = "".join(row.replace("a.png", f"a{i}.png").format(3) for i in range(4)) + row.format("four")
    with pytest.raises(UserDataError) as info:
        register_csv(write(tmp_path, "labels.txt", text))
    assert f"{tmp_path / 'labels.txt'}:5: score 'four' is not a number" in str(info.value)
    assert f"{tmp_path / 'labels.txt'}:1: image 'a0.png' not found" in str(info.value)


def test_optional_columns_scenes_classes_and_the_split_column(images, tmp_path):
    rows = ["path,mos,scene,distortion,split"]
    for i, (scene, distortion) in enumerate([("still life; animal", "blur"), ("", "white noise"), ("night", ""),
                                             ("others", "noise")]):
        shutil.copy(images / f"coffee_{i + 1}.png", tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{5 - i},{scene},{distortion},{('train', 'train', 'val', 'test')[i]}")
    spec = register_csv(write(tmp_path, "rich.csv", "\n".join(rows) + "\n"))
    first, second, third, fourth = spec.rows
    assert first.scenes == ("still_life", "animal") and first.coarse_distortion == "blur"
    assert second.distortion == "white noise" and third.distortion == "unknown" and third.scenes == ("night",)
    assert fourth.coarse_distortion == "noise" and CLASS_AS_FINE["jpeg compression"] == "jpeg compression"
    assert spec.split_source == "split column"
    assert [len(spec.split[p]) for p in ("train", "val", "test")] == [2, 1, 1]


def test_generated_split_keeps_each_content_in_one_part(images, tmp_path):
    lines = (images / "mine.csv").read_text().splitlines()
    rows = ["path,mos,content"] + [f"{line},{Path(line.split(',')[0]).stem.split('_')[0]}" for line in lines[1:]]
    spec = register_csv(write(tmp_path, "grouped.csv", "\n".join(rows) + "\n"), session=3)
    assert spec.split_source == "generated 70/10/20 (seed 3, by content)"
    parts = {part: {spec.content_of(r.path) for r in spec.split[part]} for part in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == len(CONTENTS)  # four contents, each in exactly one part
    assert sum(len(v) for v in spec.split.values()) == 20


def test_a_registered_csv_travels_by_name_with_its_rows_and_split(images):
    spec = register_csv(images / "mine.csv")
    assert get_spec("mine") is spec and spec.split_source == "generated 70/10/20 (seed 1)"
    assert load_rows("mine") == list(spec.rows) and len(spec.rows) == 20
    split = rundata.split_rows("mine", DataConfig(split="official", session=7))  # the carried split, whatever cfg says
    assert {p: len(rows) for p, rows in split.items()} == {"train": 14, "val": 2, "test": 4}
    dataset = rundata.make_dataset("mine", split["test"], DataConfig(eval_crops=1), train=False)
    assert dataset[0]["crops"].shape == (1, 3, 224, 224) and dataset[0]["score"] == split["test"][0].score
    with pytest.raises(ValueError, match="belongs to LIVE"):
        register_dataset(DatasetSpec("live", "mine", str(images), "csv", False, 4, "", ""))


def test_a_csv_named_like_a_registry_dataset_gets_its_own_name(images, tmp_path):
    shutil.copy(images / "mine.csv", tmp_path / "live.csv")
    assert register_csv(tmp_path / "live.csv").name == "csv-live" and get_spec("live").label_source == "liqe"


def test_a_csv_too_small_to_train_and_select_on_is_refused(images, tmp_path):
    two = write(tmp_path, "two.csv", "\n".join((images / "mine.csv").read_text().splitlines()[:3]) + "\n")
    with pytest.raises(UserDataError, match="the val part .* has 0 image"):
        check_trainable(register_csv(two))


def train_srcc(model, name: str) -> float:
    cfg = profile_config("smoke").data
    dataset = rundata.make_dataset(name, rundata.split_rows(name, cfg)["train"], cfg, train=False)
    return evaluate.metrics(evaluate.predict(model, dataset, 16))["srcc"]


def test_a_two_epoch_fine_tune_on_a_csv_improves_training_srcc(images, tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--profile", "smoke", "--data", str(images / "mine.csv"), "--set", "epochs=2",
                     "--set", "steps_per_epoch=16", "--set", "data.train.0.batch_size=8",
                     "--set", "schedule.warmup_steps=0", "--set", f"out_dir={out}"]) == 0
    torch.manual_seed(0)  # the smoke profile's seed: the run's initial weights
    model = load_model(arch="liqe-tiny", weights=None)
    before = train_srcc(model, "mine")
    model.load_state_dict(torch.load(out / "last.pt", weights_only=False)["model"])  # after epoch 2
    after = train_srcc(model, "mine")
    assert after > before + 0.1, (before, after)
    assert (out / "user_datasets.json").is_file() and (out / "best.pt").is_file()


def test_readme_fine_tune_example_runs_as_written(images, tmp_path, capsys):
    """The commands of README's "Fine-tune on your own images", on a CSV with absolute paths and `path,mos`."""
    section = README.read_text().split("## Fine-tune on your own images", 1)[1].split("\n## ", 1)[0]
    commands = [shlex.split(line) for line in re.findall(r"^liqe .*$", section, re.MULTILINE)]
    assert [c[:2] for c in commands] == [["liqe", "train"], ["liqe", "evaluate"]]
    out = tmp_path / "runs" / "mine"
    for command in commands:
        argv = [str(images / "mine.csv") if a == "mine.csv" else a.replace("runs/mine", str(out)) for a in command]
        assert cli.main(argv[1:]) == 0, argv
    table = capsys.readouterr().out
    assert re.search(r"mine\s+(-?\d\.\d{4}|nan)\s", table), table  # SRCC and the rest on the test part
    assert evaluate.checkpoint_config(out / "best.pt").epochs == 1


def test_train_data_starts_from_a_named_model_or_an_architecture(images, capsys):
    import yaml

    base = ["train", "--data", str(images / "mine.csv"), "--print-config"]
    assert cli.main([*base, "--model", "liqe-koniq"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert {k: cfg["model"][k] for k in ("arch", "weights", "task_set")} == \
        {"arch": "ViT-B-32", "weights": "liqe-koniq", "task_set": "quality"}
    assert cfg["data"]["train"] == [{"name": "mine", "batch_size": 4, "part": 0, "parts": 1}]
    assert cfg["optim"]["lr"] == 5e-6 and cfg["epochs"] == 80 and cfg["out_dir"] == "runs/user/mine"  # paper profile
    assert cli.main([*base, "--arch", "liqe-tiny", "--set", "epochs=3"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["model"]["arch"], cfg["model"]["weights"], cfg["epochs"]) == ("liqe-tiny", None, 3)
