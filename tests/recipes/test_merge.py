"""Finding the checkpoint to merge, and saying what is missing when it is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.merge import CheckpointError, actor_folder, main


def make_step(root: Path, step: int) -> Path:
    actor = root / f"global_step_{step}" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    return actor


def test_latest_step_is_chosen_numerically(tmp_path: Path) -> None:
    make_step(tmp_path, 9)
    latest = make_step(tmp_path, 10)
    assert actor_folder(tmp_path) == latest
    assert actor_folder(tmp_path / "global_step_9") == tmp_path / "global_step_9" / "actor"


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("nothing", "does not exist"),
        ("empty", "no global_step_N folders"),
        ("no_actor", "'actor' folder"),
        ("no_hf", "huggingface is missing"),
    ],
)
def test_missing_pieces_are_named(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "run"
    if layout != "nothing":
        root.mkdir()
    if layout == "no_actor":
        (root / "global_step_1").mkdir()
    if layout == "no_hf":
        (root / "global_step_1" / "actor").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=message):
        actor_folder(root)


def test_cli_error_is_one_line(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "hf")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_sft_checkpoint_is_merged_from_its_step_folder(tmp_path: Path) -> None:
    """verl's SFT trainer keeps the model shards in global_step_N itself (no actor/ folder)."""
    for step in (2, 4):
        folder = tmp_path / f"global_step_{step}"
        (folder / "huggingface").mkdir(parents=True)
        (folder / "model_world_size_1_rank_0.pt").write_bytes(b"")
    assert actor_folder(tmp_path) == tmp_path / "global_step_4"
    assert actor_folder(tmp_path / "global_step_2") == tmp_path / "global_step_2"
