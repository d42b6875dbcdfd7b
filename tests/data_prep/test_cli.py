"""The `iad-data` command line: build, inspect and validate end to end, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.__main__ import main


def build_pair3c(root: Path, out: Path, *extra: str) -> int:
    return main(["build", "--protocol", "pair3c", "--root", f"mvtec_loco={root}", "--out", str(out), *extra])


def test_build_inspect_validate(small_roots, tiny_models, tmp_path: Path, hf_home: Path, capsys) -> None:
    out = tmp_path / "pair3c"
    assert build_pair3c(small_roots["mvtec_loco"], out, "--train-per-class", "1") == 0
    printed = capsys.readouterr().out
    assert "structural" in printed and "total" in printed
    sheet = tmp_path / "pairs.png"
    assert main(["inspect", str(out / "train.parquet"), "--sheet", str(sheet)]) == 0
    assert sheet.stat().st_size > 0
    args = ["validate", str(out / "test.parquet"), "--processor", str(tiny_models.policy), "--max-prompt-length"]
    assert main([*args, "4096"]) == 0
    assert main([*args, "16"]) == 1  # every row is longer than 16 tokens once images are expanded


def test_unnamed_root_is_accepted_for_a_single_dataset(small_roots, tmp_path: Path) -> None:
    assert build_pair3c(small_roots["mvtec_loco"], tmp_path, "--train-per-class", "1") == 0
    args = ["build", "--protocol", "pair3c", "--root", str(small_roots["mvtec_loco"]), "--out", str(tmp_path / "b")]
    assert main([*args, "--train-per-class", "1"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--categories", "teapot"], "unknown categories ['teapot']"),
        (["--train-per-class", "500"], "fewer than the 500 to sample"),
        (["--references", "0"], "--references must be at least 1"),
    ],
)
def test_bad_input_is_one_error_line(small_roots, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    assert build_pair3c(small_roots["mvtec_loco"], tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("iad-data build: error:")
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_wrong_root_names_the_path(tmp_path: Path, capsys) -> None:
    assert build_pair3c(tmp_path / "nowhere", tmp_path / "out") == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
