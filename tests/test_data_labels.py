"""The LIQE label format, its validation errors, the release parsers, and the official files."""
import math

import pandas as pd
import pytest

from liqe_lib.data.labels import LabelFormatError, LabelRow, read_labels, write_labels
from liqe_lib.data.registry import DATASETS, load_rows
from liqe_lib.data.releases import read_pipal, read_spaq, read_tid2013
from liqe_lib.vocab import UNKNOWN

GOOD = "1024x768/1.jpg\t3.349057\toverexposure\thuman\tinvalid\tinvalid\n"

# README table of shared/liqe_labels: images per dataset.
README_COUNTS = {"live": 779, "csiq": 866, "kadid10k": 10125, "bid": 586, "clive": 1162, "koniq10k": 10073}


def _file(tmp_path, *lines: str):
    path = tmp_path / "labels.txt"
    path.write_text("".join(lines))
    return path


def test_rows_round_trip_exactly_including_unknown_labels(tmp_path):
    rows = [LabelRow("a/1.png", 0.969, "white noise", ("plant",)),
            LabelRow("a/2.png", 38.489474, "realistic blur", ("human", "landscape", "night")),
            LabelRow("b/3.bmp", 5.51429, UNKNOWN, ())]
    path = tmp_path / "out" / "labels.txt"
    write_labels(rows, path)
    assert read_labels(path) == rows
    assert path.read_text().splitlines()[2] == "b/3.bmp\t5.51429\tunknown\tunknown\tinvalid\tinvalid"


def test_reads_the_official_row_format(tmp_path):
    (row,) = read_labels(_file(tmp_path, GOOD))
    assert row == LabelRow("1024x768/1.jpg", 3.349057, "overexposure", ("human",))
    assert row.coarse_distortion == "overexposure"


@pytest.mark.parametrize("bad_line, message", [
    ("a.png\t3.1\tfrosted glass\thuman\tinvalid\tinvalid\n", "unknown distortion type 'frosted glass'"),
    ("a.png\t3.1\tjpeg compression\tbeach\tinvalid\tinvalid\n", "unknown scene 'beach'"),
    ("a.png\tgood\tjpeg compression\thuman\tinvalid\tinvalid\n", "score 'good' is not a number"),
    ("a.png\t3.1\tjpeg compression\thuman\n", "4 tab-separated columns, expected 6"),
    ("a.png 3.1 jpeg compression human invalid invalid\n", "1 tab-separated columns, expected 6"),
    ("a.png\tinf\tjpeg compression\thuman\tinvalid\tinvalid\n", "expected a finite number"),
    ("a.png\t3.1\tjpeg compression\tinvalid\tinvalid\tinvalid\n", "first scene is 'invalid'"),
])
def test_each_kind_of_bad_line_is_reported_with_file_and_line(tmp_path, bad_line, message):
    path = _file(tmp_path, GOOD, "\n", bad_line)
    with pytest.raises(LabelFormatError, match=message) as err:
        read_labels(path)
    assert err.value.line == 3 and err.value.file == str(path)
    assert str(err.value).startswith(f"{path}:3: ")


def test_duplicate_path_names_both_lines(tmp_path):
    with pytest.raises(LabelFormatError, match=r":2: duplicate image path '1024x768/1.jpg' \(first on line 1\)"):
        read_labels(_file(tmp_path, GOOD, GOOD))


def test_missing_label_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch-labels"):
        read_labels(tmp_path / "nope.txt")


def test_writer_refuses_what_the_reader_would_reject(tmp_path):
    with pytest.raises(ValueError, match="row 1 .*unknown scene 'beach'"):
        write_labels([LabelRow("a.png", 1.0, "contrast", ("human",)),
                      LabelRow("b.png", 1.0, "contrast", ("beach",))], tmp_path / "x.txt")
    with pytest.raises(ValueError, match="duplicate"):
        write_labels([LabelRow("a.png", 1.0, "contrast", ())] * 2, tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()


def test_tid2013_scores_and_on_disk_case_of_names(tmp_path):
    (tmp_path / "distorted_images").mkdir()
    (tmp_path / "distorted_images" / "i01_01_1.bmp").write_bytes(b"")
    mos = tmp_path / "mos_with_names.txt"
    mos.write_text("5.51429 I01_01_1.bmp\n5.56757 I01_01_2.bmp\n")
    rows = read_tid2013(mos)
    assert [(r.path, r.score) for r in rows] == [("distorted_images/i01_01_1.bmp", 5.51429),
                                                 ("distorted_images/I01_01_2.bmp", 5.56757)]
    assert all(r.distortion == UNKNOWN and r.scenes == () for r in rows)
    mos.write_text("5.51429 I01_01_1.bmp\nfive I01_01_2.bmp\n")
    with pytest.raises(LabelFormatError, match=r"mos_with_names.txt:2: score 'five'"):
        read_tid2013(mos)


def test_spaq_spreadsheet_and_csv_export_give_the_same_rows(tmp_path):
    table = pd.DataFrame({"Image name": ["00001.jpg", "00002.jpg"], "MOS": [42.65, 72.5], "Brightness": [1, 2]})
    table.to_excel(tmp_path / "mos.xlsx", index=False)
    table.to_csv(tmp_path / "mos.csv", index=False)
    rows = read_spaq(tmp_path / "mos.xlsx")
    assert rows == read_spaq(tmp_path / "mos.csv")
    assert [(r.path, r.score) for r in rows] == [("TestImage/00001.jpg", 42.65), ("TestImage/00002.jpg", 72.5)]
    table.rename(columns={"MOS": "score"}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LabelFormatError, match=r"bad.csv:1: missing column\(s\) \['MOS'\]"):
        read_spaq(tmp_path / "bad.csv")


def test_pipal_labels_find_images_wherever_the_release_put_them(tmp_path):
    (tmp_path / "Train_Label").mkdir()
    (tmp_path / "Train_Label" / "A0001.txt").write_text("A0001_00_00.bmp,1491.3\nA0001_01_02.bmp,1200.0\n")
    (tmp_path / "Distortion_2").mkdir()
    (tmp_path / "Distortion_2" / "A0001_01_02.bmp").write_bytes(b"")
    rows = read_pipal(tmp_path / "Train_Label")
    assert [(r.path, r.score) for r in rows] == [("A0001_00_00.bmp", 1491.3),
                                                 ("Distortion_2/A0001_01_02.bmp", 1200.0)]


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_official_label_files_parse_with_the_readme_image_counts(shared_labels, name):
    rows = load_rows(name, labels_dir=shared_labels)
    assert len(rows) == README_COUNTS[name] == DATASETS[name].n_images
    assert all(not math.isnan(r.score) and r.distortion != UNKNOWN and 1 <= len(r.scenes) <= 3 for r in rows)


def test_every_official_clip_file_parses(shared_labels):
    files = sorted(shared_labels.glob("*/splits2/**/*_clip.txt"))
    assert len(files) == 6 * 30 + 4 + 2  # ten sessions x 3 parts, four _all_clip files, two stray val copies
    assert sum(len(read_labels(f)) for f in files) > 240_000
