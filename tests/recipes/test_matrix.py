"""Experiment matrices with stages: SFT runs, evaluation-only rows and runs that start from another run."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.matrix import check, load_matrix, main, not_ready

LAD = Path("recipes/matrix/lad_reasoner.yaml")


def test_lad_reasoner_matrix_lists_the_papers_four_rows() -> None:
    runs = {run.name: run for run in load_matrix(LAD)}
    assert runs["qwen2_5_vl_3b"].kind == "eval"  # base
    assert runs["lad_reasoner_sft"].kind == "sft" and runs["lad_reasoner_sft_eval"].init_from == "lad_reasoner_sft"
    assert runs["lad_reasoner_grpo_only"].kind == "rl" and runs["lad_reasoner_grpo_only"].init_from is None
    both = runs["lad_reasoner_sft_grpo"]
    assert both.kind == "rl" and both.recipe == "lad_reasoner_grpo"
    assert "actor_rollout_ref.model.path=models/lad_reasoner_sft" in both.all_overrides()


def test_every_training_row_composes() -> None:
    assert check(load_matrix(LAD)) == []


def test_a_run_waits_for_the_model_it_starts_from(tmp_path: Path) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        f"models_dir: {tmp_path / 'models'}\n"
        "runs:\n  sft: {kind: sft, recipe: lad_reasoner_sft}\n"
        "  rl: {recipe: lad_reasoner_grpo, init_from: sft}\n"
    )
    rl = {run.name: run for run in load_matrix(matrix)}["rl"]
    assert "train 'sft' first" in not_ready(rl) and "recipes.merge" in not_ready(rl)
    (tmp_path / "models" / "sft").mkdir(parents=True)
    assert not_ready(rl) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("runs:\n  a: {recipe: lad_reasoner_grpo, init_from: nowhere}\n", "not a training run here"),
        ("runs:\n  a: {kind: eval}\n", "needs the 'model'"),
        ("runs:\n  a: {kind: pretrain, recipe: x}\n", "kinds: rl, sft, eval"),
        ("runs:\n  a: {kind: sft}\n", "needs a 'recipe'"),
    ],
)
def test_malformed_rows_are_named(tmp_path: Path, body: str, message: str) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(body)
    with pytest.raises(ValueError, match=message):
        load_matrix(matrix)


def test_submit_skips_what_is_not_a_ray_job_and_says_how_to_run_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["submit", str(LAD), "--only", "qwen2_5_vl_3b", "lad_reasoner_sft", "lad_reasoner_sft_grpo"])
    out = capsys.readouterr().out
    assert code == 0
    assert "python -m recipes.sft lad_reasoner_sft" in out
    assert "python -m evaluation run --model Qwen/Qwen2.5-VL-3B-Instruct" in out
    assert "does not exist yet" in out
