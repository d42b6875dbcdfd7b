"""``python -m synthetic``: writes a dataset with a summary table; bad input is one error line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from data_prep.catalog import LOCO_CATEGORIES, MVTEC_AD_CATEGORIES, VISA_CATEGORIES
from synthetic.__main__ import main

REPO = Path(__file__).resolve().parents[2]


def test_writes_a_dataset_prints_the_table_and_draws_the_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "loco", tmp_path / "sheet.png"
    category = LOCO_CATEGORIES[2]
    assert (
        main(["mvtec_loco", "--out", str(out), "--categories", category, "--size", "32", "--contact-sheet", str(png)])
        == 0
    )
    assert (out / category / "test" / "logical_anomalies" / "000.png").is_file()
    with Image.open(png) as sheet:
        assert sheet.format == "PNG"
    printed = capsys.readouterr().out
    assert (
        category in printed and "total" in printed and "files in" in printed and "test/structural_anomalies" in printed
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [
                "mvtec_ad",
                "--categories",
                MVTEC_AD_CATEGORIES[0],
                "--n-train",
                "3",
                "--n-test-good",
                "1",
                "--n-test-per-defect",
                "1",
            ],
            f"{MVTEC_AD_CATEGORIES[0]}/train/good/002.png",
        ),
        (
            ["visa", "--categories", VISA_CATEGORIES[0], "--n-normal", "3", "--n-anomaly", "1"],
            f"{VISA_CATEGORIES[0]}/Data/Images/Normal/0002.JPG",
        ),
    ],
)
def test_count_flags_reach_the_writer(tmp_path: Path, args: list[str], expected: str) -> None:
    assert main([*args, "--out", str(tmp_path / "data"), "--size", "16"]) == 0
    assert (tmp_path / "data" / expected).is_file()


def test_sheet_command_draws_an_existing_root(tmp_path: Path) -> None:
    assert (
        main(["mvtec_loco", "--out", str(tmp_path / "loco"), "--categories", LOCO_CATEGORIES[0], "--size", "16"]) == 0
    )
    png = tmp_path / "sheet.png"
    assert (
        main(
            [
                "sheet",
                str(tmp_path / "loco"),
                "--dataset",
                "mvtec_loco",
                "--out",
                str(png),
                "--per-class",
                "2",
                "--size",
                "24",
            ]
        )
        == 0
    )
    with Image.open(png) as sheet:
        assert sheet.height == 5 * (24 + 4) + 4


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthetic", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_unknown_category_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run("mvtec_loco", "--out", str(tmp_path / "x"), "--categories", "breakfast_bowl")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"valid categories: {', '.join(LOCO_CATEGORIES)}" in result.stderr


def test_non_empty_output_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = _run("visa", "--out", str(tmp_path), "--size", "16")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--overwrite" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
