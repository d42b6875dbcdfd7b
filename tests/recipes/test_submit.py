"""`ray job submit` of a recipe: the command line, and the real thing on a local Ray cluster with the tiny models."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from recipes.matrix import load_matrix, submission_id
from recipes.submit import entrypoint, forwarded_env, submit_command


def test_preflight_runs_before_training() -> None:
    command = entrypoint("fad_tq_gpg", ["trainer.nnodes=2"], preflight_only=False, sample_rows=8)
    preflight, train = command.split(" && ")
    assert preflight.startswith("python -m recipes.preflight fad_tq_gpg trainer.nnodes=2")
    assert train == "python -m recipes.train fad_tq_gpg trainer.nnodes=2"
    assert " && " not in entrypoint("fad_tq_gpg", [], preflight_only=True, sample_rows=8)


def test_runtime_env_forwards_project_variables_with_absolute_paths(tmp_path: Path) -> None:
    env = forwarded_env({"IAD_DATA_DIR": str(tmp_path), "IAD_JUDGE_URL": "http://judge:8000/v1", "HOME": "/root"})
    assert env == {"IAD_DATA_DIR": str(tmp_path.resolve()), "IAD_JUDGE_URL": "http://judge:8000/v1"}
    command = submit_command("fad_tq_gpg", [], address="http://127.0.0.1:1", environ={}, submission_id="x")
    runtime = json.loads(command[command.index("--runtime-env-json") + 1])
    assert ".venv" in runtime["excludes"] and Path(runtime["working_dir"], "recipes").is_dir()
    assert command[command.index("--submission-id") + 1] == "x"


def test_matrix_lists_the_papers_and_the_ablations() -> None:
    runs = {run.name: run for run in load_matrix(Path("recipes/matrix/papers.yaml"))}
    assert {"lad_reasoner_grpo", "lr_iad_visa2mvtec", "fad_tq_gpg", "fad_tq_table3_grpo"} <= set(runs)
    assert (
        "reward.custom_reward_function.reward_kwargs.judge_options.eta=0.0"
        in runs["fad_tq_table4_no_conciseness"].overrides
    )
    assert submission_id(Path("recipes/matrix/papers.yaml"), runs["fad_tq_gpg"]) == "papers-fad_tq_gpg"


def test_matrix_check_composes_every_run() -> None:
    from recipes.matrix import check

    assert check(load_matrix(Path("recipes/matrix/papers.yaml"))) == []


@pytest.mark.slow
def test_ray_job_submit_of_the_fad_tq_preflight(
    ray_cluster, judge_server, tiny_models, loco_real_counts: Path, tmp_path: Path
) -> None:
    build(BuildConfig(protocol="pair3c", roots={"mvtec_loco": loco_real_counts}, out=tmp_path / "data" / "pair3c"))
    environ = {
        **os.environ,
        "IAD_DATA_DIR": str(tmp_path / "data"),
        "IAD_MODEL_PATH": str(tiny_models.policy),
        "IAD_JUDGE_URL": judge_server.base_url,
        "IAD_JUDGE_IN_VERL": "false",
        "IAD_GPUS_PER_NODE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        **ray_cluster.client_env,
    }
    command = submit_command(
        "fad_tq_gpg", [], address=ray_cluster.dashboard_url, preflight_only=True, sample_rows=8, environ=environ
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environ)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for step in ("compose", "registrations", "verl validation", "data", "reward", "judge"):
        assert f"ok   {step}" in output
    assert "resource plan" in output and "succeeded" in output


def test_a_bad_recipe_fails_before_anything_is_submitted(capsys) -> None:
    from recipes.submit import main

    assert main(["fad_tq_gpg", "data.bogus_key=1", "--address", "http://127.0.0.1:1"]) == 2
    assert "data.bogus_key" in capsys.readouterr().err
