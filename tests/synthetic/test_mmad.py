"""The synthetic MMAD root: MMAD's folders and layouts, mmad.json in its schema, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.mmad_facts import FOLDERS, GOODSAD_DEFECTS, TASKS
from synthetic.mmad import write_mmad


@pytest.fixture(scope="module")
def mmad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mmad(tmp_path_factory.mktemp("mmad") / "MMAD")


def _annotations(root: Path) -> dict[str, dict]:
    return json.loads((root / "mmad.json").read_text())


def test_every_folder_and_every_task_is_there(mmad_root: Path) -> None:
    annotations = _annotations(mmad_root)
    assert {path.name for path in mmad_root.iterdir() if path.is_dir()} == set(FOLDERS)
    assert {question["type"] for value in annotations.values() for question in value["conversation"]} == set(TASKS)
    assert {image.split("/")[0] for image in annotations} == {"DS-MVTec", "MVTec-LOCO", "VisA", "GoodsAD"}


def test_paths_follow_mmad_layouts(mmad_root: Path) -> None:
    annotations = _annotations(mmad_root)
    for image, value in annotations.items():
        folder, category = image.split("/")[:2]
        assert (mmad_root / image).is_file()
        assert all((mmad_root / template).is_file() for template in value["random_templates"])
        if value["mask_path"]:
            assert (mmad_root / folder / category / value["mask_path"]).is_file()
        if folder == "DS-MVTec":
            assert image.split("/")[2] == "image" and value["random_templates"][0].startswith("MVTec-AD/")
        if folder == "VisA":
            assert image.split("/")[2:4] in (["test", "good"], ["test", "bad"])
        if folder == "GoodsAD":
            assert image.split("/")[3] in ("good", *GOODSAD_DEFECTS[category])


def test_answers_are_among_their_options_and_follow_the_drawing(mmad_root: Path) -> None:
    for image, value in _annotations(mmad_root).items():
        for question in value["conversation"]:
            assert question["Answer"] in question["Options"]
        detection = value["conversation"][0]
        assert detection["type"] == "Anomaly Detection"
        assert detection["Options"][detection["Answer"]] == ("No." if "good" in image else "Yes.")


def test_same_seed_same_bytes(mmad_root: Path, tmp_path: Path) -> None:
    again = write_mmad(tmp_path / "MMAD")
    assert (again / "synthetic_manifest.json").read_bytes() == (mmad_root / "synthetic_manifest.json").read_bytes()


def test_the_command_line_writes_the_same_root(mmad_root: Path, tmp_path: Path) -> None:
    from synthetic.__main__ import main

    assert main(["mmad", "--out", str(tmp_path / "MMAD")]) == 0
    assert (tmp_path / "MMAD" / "mmad.json").read_bytes() == (mmad_root / "mmad.json").read_bytes()
