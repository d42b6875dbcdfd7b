"""The mmad protocol: one row per question, the official prompt, clear errors for a broken tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep.__main__ import main
from data_prep.build import BuildConfig, build
from data_prep.leakage import find_overlap
from data_prep.mmad import MMADError, MMADOptions
from data_prep.prompts import IMAGE_PLACEHOLDER, MMAD_DIRECTLY, MMAD_R1_FORMAT
from synthetic.mmad import write_mmad


@pytest.fixture(scope="module")
def mmad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mmad(tmp_path_factory.mktemp("mmad") / "MMAD")


def _build(root: Path, out: Path, **options: object) -> Path:
    build(BuildConfig(protocol="mmad", roots={"mmad": root}, out=out, mmad=MMADOptions(**options)))
    return out


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_one_row_per_question_with_the_official_prompt(mmad_root: Path, tmp_path: Path) -> None:
    annotations = json.loads((mmad_root / "mmad.json").read_text())
    rows = _rows(_build(mmad_root, tmp_path / "out", prompt_style="official") / "test.parquet")
    assert len(rows) == sum(len(value["conversation"]) for value in annotations.values())
    first_image = next(iter(annotations))
    question = annotations[first_image]["conversation"][0]
    row = rows[0]
    prompt = row["prompt"][0]["content"]
    assert MMAD_DIRECTLY in prompt and prompt.count(IMAGE_PLACEHOLDER) == 2  # one template, then the query
    assert prompt.endswith(f"{question['Question']} \nA. Yes.\nB. No.\n")
    assert row["reward_model"]["ground_truth"] == question["Answer"]
    info = row["extra_info"]
    assert (info["query_image"], info["task"], info["question_id"]) == (
        first_image,
        question["type"],
        f"{first_image}#0",
    )
    assert info["reference_images"] == annotations[first_image]["random_templates"][:1]


def test_k_shot_similar_templates_and_tasks(mmad_root: Path, tmp_path: Path) -> None:
    out = _build(mmad_root, tmp_path / "out", references=2, templates="similar", tasks=("Defect Localization",))
    rows = _rows(out / "test.parquet")
    annotations = json.loads((mmad_root / "mmad.json").read_text())
    assert rows and {row["extra_info"]["task"] for row in rows} == {"Defect Localization"}
    for row in rows:
        assert (
            row["extra_info"]["reference_images"] == annotations[row["extra_info"]["query_image"]]["similar_templates"]
        )
        assert row["prompt"][0]["content"].count(IMAGE_PLACEHOLDER) == 3
        assert row["prompt"][0]["content"].endswith(MMAD_R1_FORMAT)  # r1 is the default: trainable with format reward


def test_held_out_categories_make_the_test_split(mmad_root: Path, tmp_path: Path) -> None:
    out = _build(mmad_root, tmp_path / "out", holdout_categories=("pushpins",))
    train, test = _rows(out / "train.parquet"), _rows(out / "test.parquet")
    assert {row["extra_info"]["category"] for row in test} == {"pushpins"}
    assert train and "pushpins" not in {row["extra_info"]["category"] for row in train}


def _broken(mmad_root: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "MMAD"
    shutil.copytree(mmad_root, root)
    annotations = json.loads((root / "mmad.json").read_text())
    edit(root, annotations)
    (root / "mmad.json").write_text(json.dumps(annotations))
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda root, a: (root / next(iter(a))).unlink(), "does not exist; download MMAD's images"),
        (
            lambda root, a: next(iter(a.values()))["random_templates"].insert(0, "../secret.png"),
            "outside the MMAD tree",
        ),
        (lambda root, a: next(iter(a.values()))["conversation"][0].update(Answer="E"), "is not one of its options"),
        (lambda root, a: next(iter(a.values()))["conversation"][0].update(type="Colour"), "unknown type 'Colour'"),
    ],
)
def test_a_broken_tree_is_a_clear_error_and_writes_nothing(mmad_root: Path, tmp_path: Path, edit, message: str) -> None:
    root = _broken(mmad_root, tmp_path, edit)
    with pytest.raises(MMADError, match=message):
        _build(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_few_templates_for_k_shot(mmad_root: Path, tmp_path: Path) -> None:
    with pytest.raises(MMADError, match="fewer than --references 9"):
        _build(mmad_root, tmp_path / "out", references=9)


@pytest.fixture(scope="module")
def pair3c_on_mmad_images(mmad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pair3c built from the MVTec-LOCO folder of the MMAD root: its training rows are MMAD's test images."""
    out = tmp_path_factory.mktemp("pair3c")
    build(BuildConfig(protocol="pair3c", roots={"mvtec_loco": mmad_root / "MVTec-LOCO"}, out=out, train_per_class=1))
    return out


def test_leakage_finds_mmad_images_in_another_protocols_training_rows(
    mmad_root: Path, pair3c_on_mmad_images: Path, tmp_path: Path
) -> None:
    mmad = _build(mmad_root, tmp_path / "mmad")
    overlap = find_overlap(pair3c_on_mmad_images / "train.parquet", mmad / "test.parquet")
    assert overlap.by_name and overlap.by_content
    assert all(use.path.startswith("pushpins/") for use, _ in overlap.by_name.values())
    assert main(["leakage", str(pair3c_on_mmad_images / "train.parquet"), "--against", str(mmad / "test.parquet")]) == 1


def test_no_overlap_with_other_objects(mmad_root: Path, pair3c_on_mmad_images: Path, tmp_path: Path) -> None:
    mmad = _build(mmad_root, tmp_path / "mmad", categories=("bottle", "candle"))
    assert not find_overlap(pair3c_on_mmad_images / "train.parquet", mmad / "test.parquet")


def test_training_on_mmad_images_that_an_evaluation_holds_is_refused(
    mmad_root: Path, pair3c_on_mmad_images: Path, tmp_path: Path
) -> None:
    against = (str(pair3c_on_mmad_images / "test.parquet"),)
    with pytest.raises(MMADError, match="images of the training rows are in"):
        _build(mmad_root, tmp_path / "refused", holdout_categories=("bottle",), against=against)
    _build(mmad_root, tmp_path / "allowed", holdout_categories=("bottle",), against=against, allow_overlap=True)


def test_grounded_mmad_rows_ask_for_the_box_and_carry_the_masks_boxes(mmad_root: Path, tmp_path: Path) -> None:
    build(BuildConfig(protocol="mmad", roots={"mmad": mmad_root}, out=tmp_path / "out", grounding=True))
    rows = _rows(tmp_path / "out" / "test.parquet")
    assert all('{"bbox_2d": [x1, y1, x2, y2]}' in row["prompt"][0]["content"] for row in rows)
    anomalous = [row for row in rows if row["extra_info"]["label"] == "anomalous"]
    assert anomalous and all(row["extra_info"]["boxes"] for row in anomalous)  # mask_path resolved, boxes drawn
    assert all(row["extra_info"]["boxes"] == [] for row in rows if row["extra_info"]["label"] == "normal")
