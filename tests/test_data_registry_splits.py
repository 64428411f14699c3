"""The dataset registry, official sessions and generated splits: counts and no content leakage."""
import numpy as np
import pytest
import scipy.io

from liqe_lib.data.labels import LabelRow
from liqe_lib.data.registry import DATASETS, PARTS, data_root, get_spec, load_rows
from liqe_lib.data.splits import (SESSIONS, generated_split, load_official_split, make_split,
                                  partition_by_content, rows_by_content)

GROUPED_OFFICIAL = {"csiq": 30, "kadid10k": 81}  # contents identifiable from the path alone


def _rows(contents=10, per_content=5):
    return [LabelRow(f"distorted/c{c:02d}/blur_{i}.png", float(i), "gaussian blur", ("plant",))
            for c in range(contents) for i in range(per_content)]


def _contents(rows, group_of):
    return {group_of(r.path) for r in rows}


def test_registry_holds_the_eleven_datasets_with_the_paper_batch_sizes():
    assert set(DATASETS) == {"live", "csiq", "kadid10k", "bid", "clive", "koniq10k", "tid2013", "spaq", "pipal",
                             "waterloo", "synthetic"}
    assert {n: s.batch_size for n, s in DATASETS.items() if s.batch_size} == {
        "live": 4, "csiq": 4, "bid": 4, "clive": 4, "koniq10k": 16, "kadid10k": 16, "synthetic": 4}
    assert {n for n, s in DATASETS.items() if s.synthetic} == {"live", "csiq", "kadid10k", "tid2013", "pipal",
                                                                "synthetic"}
    assert all(s.url and s.licence and s.folder for s in DATASETS.values())
    assert get_spec("spaq").shorter_side == 512
    with pytest.raises(KeyError, match="choose one of"):
        get_spec("live2")


def test_data_root_prefers_argument_then_environment_then_dot_data(monkeypatch, tmp_path):
    monkeypatch.delenv("LIQE_DATA_ROOT", raising=False)
    assert str(data_root()) == "data"
    monkeypatch.setenv("LIQE_DATA_ROOT", str(tmp_path))
    assert data_root() == tmp_path
    assert str(data_root("elsewhere")) == "elsewhere"


@pytest.mark.parametrize("name, path, content", [
    ("csiq", "dst_imgs/awgn/shroom.AWGN.1.png", "shroom"),
    ("kadid10k", "images/I26_01_01.png", "i26"),
    ("tid2013", "distorted_images/I01_01_1.bmp", "i01"),
    ("pipal", "Distortion_2/A0007_01_02.bmp", "a0007"),
    ("synthetic", "distorted/grace_hopper/gaussian-blur_3.png", "grace_hopper"),
])
def test_content_of_finds_the_reference_content(name, path, content):
    assert get_spec(name).content_of(path) == content


def test_live_groups_by_reference_from_the_release_table(tmp_path):
    folder = tmp_path / "databaserelease2"
    folder.mkdir()
    names = np.empty((1, 982), dtype=object)
    names[0, :] = [f"ref{i % 29}.bmp" for i in range(982)]
    scipy.io.savemat(folder / "refnames_all.mat", {"refnames_all": names})
    spec = get_spec("live")
    assert spec.content_of("jp2k/img1.bmp", tmp_path) == "ref0.bmp"
    assert spec.content_of("jpeg/img1.bmp", tmp_path) == f"ref{227 % 29}.bmp"  # jpeg follows the 227 jp2k images
    with pytest.raises(FileNotFoundError, match="refnames_all.mat"):
        spec.content_of("jp2k/img1.bmp", tmp_path / "empty")
    assert get_spec("koniq10k").grouper() is None


def test_unlabelled_waterloo_lists_its_images(tmp_path):
    images = tmp_path / "exploration_database_and_code" / "pristine_images"
    images.mkdir(parents=True)
    for name in ("00002.bmp", "00001.bmp", "readme.txt"):
        (images / name).write_bytes(b"")
    rows = load_rows("waterloo", tmp_path)
    assert [r.path for r in rows] == ["pristine_images/00001.bmp", "pristine_images/00002.bmp"]
    assert all(np.isnan(r.score) for r in rows)


@pytest.mark.parametrize("name", ["live", "csiq", "kadid10k", "bid", "clive", "koniq10k"])
def test_official_sessions_partition_the_dataset(shared_labels, name):
    everything = {r.path for r in load_rows(name, labels_dir=shared_labels)}
    for session in SESSIONS:
        split = load_official_split(name, session, shared_labels)
        paths = [{r.path for r in split[part]} for part in PARTS]
        assert sum(map(len, paths)) == len(everything) and set().union(*paths) == everything


@pytest.mark.parametrize("name", sorted(GROUPED_OFFICIAL))
def test_official_sessions_never_share_a_content_between_parts(shared_labels, name):
    group_of = get_spec(name).content_of
    for session in SESSIONS:
        split = load_official_split(name, session, shared_labels)
        contents = [_contents(split[part], group_of) for part in PARTS]
        assert sum(map(len, contents)) == GROUPED_OFFICIAL[name]
        assert not (contents[0] & contents[1] or contents[0] & contents[2] or contents[1] & contents[2])


def test_official_session_outside_one_to_ten_is_refused(shared_labels):
    with pytest.raises(ValueError, match="sessions 1..10"):
        load_official_split("csiq", 11, shared_labels)


def test_generated_split_reproduces_official_part_sizes(shared_labels):
    rows = load_rows("clive", labels_dir=shared_labels)
    split = generated_split("clive", rows, seed=3)
    assert [len(split[p]) for p in PARTS] == [len(load_official_split("clive", 1, shared_labels)[p]) for p in PARTS]


def test_generated_grouped_split_keeps_each_content_in_one_part(shared_labels):
    rows = load_rows("kadid10k", labels_dir=shared_labels)
    split = generated_split("kadid10k", rows, seed=7)
    contents = [_contents(split[p], get_spec("kadid10k").content_of) for p in PARTS]
    assert [len(c) for c in contents] == [57, 8, 16]
    assert not (contents[0] & contents[1] or contents[0] & contents[2] or contents[1] & contents[2])


def test_same_seed_same_split_and_another_seed_another():
    rows = _rows(20)
    group_of = get_spec("synthetic").content_of
    first, again, other = (make_split(rows, s, group_of) for s in (1, 1, 2))
    assert first == again and first != other
    assert [len(_contents(first[p], group_of)) for p in PARTS] == [14, 2, 4]
    assert sorted(first["train"] + first["val"] + first["test"], key=rows.index) == rows


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="summing to 1"):
        make_split(_rows(), 0, None, (0.7, 0.2, 0.2))


def test_content_views_are_disjoint_and_cover_the_rows():
    rows = _rows(7)
    group_of = get_spec("synthetic").content_of
    views = partition_by_content(rows, 2, group_of, seed=0)
    contents = [_contents(v, group_of) for v in views]
    assert sorted(map(len, contents)) == [3, 4] and not contents[0] & contents[1]
    assert sum(map(len, views)) == len(rows)
    assert list(rows_by_content(rows, group_of)) == [f"c{c:02d}" for c in range(7)]
    with pytest.raises(ValueError, match="cannot fill"):
        partition_by_content(rows, 8, group_of, seed=0)
