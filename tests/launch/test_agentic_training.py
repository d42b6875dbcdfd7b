"""agentic_gpg trains for real on CPU: single-ab built with --tools, a policy primed on a few tool-using
conversations, verl's multi-turn tool loop running the inspection agent, and the tools' calls logged every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from launch.cpu_train import CPURun, run_training

pytestmark = pytest.mark.slow
DATASET = "lr_iad_visa2mvtec_tools"


@pytest.fixture(scope="module")
def tools_data(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("agentic-data")
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=data / DATASET, datasets=("visa",), tools=True))
    return data


@pytest.fixture(scope="module")
def agentic_run(tools_data: Path, tool_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> CPURun:
    out = tmp_path_factory.mktemp("agentic-run")
    run = run_training(
        "agentic_gpg",
        data_dir=tools_data,
        model=tool_policy,
        out=out,
        overrides=["trainer.total_training_steps=2", "trainer.save_freq=-1", "actor_rollout_ref.actor.optim.lr=1e-3",
                   "data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=8",
                   # a call, the tool's turn with its image, and the answer
                   "data.max_response_length=256", "actor_rollout_ref.rollout.max_model_len=1280",
                   f"trainer.rollout_data_dir={out / 'rollouts'}"],
    )  # fmt: skip
    assert run.returncode == 0, run.log.read_text()[-6000:]
    return run


def test_agentic_gpg_logs_tool_calls_errors_and_turns_every_step(agentic_run: CPURun) -> None:
    scalars = agentic_run.scalars()
    assert sorted(scalars["training/global_step"]) == [1, 2]
    for key in ("reward/tool_calls/mean", "reward/tool_errors/mean", "reward/crop_iou/mean", "num_turns/mean"):
        assert sorted(scalars[key]) == [1, 2], key
    assert max(scalars["reward/tool_calls/mean"].values()) > 0  # the tools were called
    assert max(scalars["num_turns/max"].values()) >= 4  # user, a call, the tool's turn, the answer
    assert max(scalars["actor/grad_norm"].values()) > 0


def test_the_tools_answered_inside_verls_loop_and_the_answer_after_them_was_scored(agentic_run: CPURun) -> None:
    rollouts = [json.loads(line) for path in sorted((agentic_run.out / "rollouts").glob("*.jsonl"))
                for line in path.read_text().splitlines()]  # fmt: skip
    answered = [r for r in rollouts if "</tool_call>" in r["output"] and r["output"].rstrip().endswith("</answer>")]
    tool_texts = [r for r in answered if "Zoomed into [" in r["output"] or "A normal " in r["output"]]
    assert tool_texts, "no rollout called a tool and answered after the tool's turn"
    assert max(r["score"] for r in tool_texts) >= 1.0  # the final turn's format was read after the tool output
