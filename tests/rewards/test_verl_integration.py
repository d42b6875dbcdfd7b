"""Our rewards inside verl's own reward-loop machinery: managers, RewardLoopManager on Ray, advantage estimators."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import verl
from hydra import compose, initialize_config_dir
from verl import DataProto

PROMPT_LENGTH, RESPONSE_LENGTH = 8, 48
RESPONSES = {  # group "easy": 3 of 4 correct; group "hard": 1 of 4 correct
    "easy": ["A", "A", "A", "B"],
    "hard": ["A", "B", "B", "B"],
}


def verl_config(*overrides: str):
    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose("ppo_trainer", overrides=list(overrides))


def reward_overrides(policy, manager: str, composite: str, rollout_n: int = 4) -> list[str]:
    return [
        f"actor_rollout_ref.model.path={policy}",
        f"actor_rollout_ref.rollout.n={rollout_n}",
        "reward.custom_reward_function.path=pkg://rewards.verl_reward",
        "reward.custom_reward_function.name=compute_score",
        f"+reward.custom_reward_function.reward_kwargs.composite={composite}",
        "+reward.custom_reward_function.reward_kwargs.group_timeout_s=60",
        f"reward.reward_manager.name={manager}",
    ]


def make_batch(tokenizer, data_source: str = "single-ab") -> DataProto:
    """Two prompts' rollout groups as the agent loop hands them to the reward loop: left-padded prompts."""
    uids, texts = [], []
    for uid, answers in RESPONSES.items():
        for answer in answers:
            uids.append(uid)
            texts.append(f"<think>the rim of the {uid} bottle</think><answer>{answer}</answer>")
    pad = tokenizer.pad_token_id
    prompts = torch.full((len(texts), PROMPT_LENGTH), pad)
    prompts[:, -3:] = torch.tensor(tokenizer("query image:")["input_ids"][:3])
    responses = torch.full((len(texts), RESPONSE_LENGTH), pad)
    response_mask = torch.zeros_like(responses)
    for i, text in enumerate(texts):
        ids = tokenizer(text)["input_ids"]
        responses[i, : len(ids)] = torch.tensor(ids)
        response_mask[i, : len(ids)] = 1
    prompt_mask = (prompts != pad).long()
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": responses,
            "input_ids": torch.cat([prompts, responses], dim=1),
            "attention_mask": torch.cat([prompt_mask, response_mask], dim=1),
        },
        non_tensors={
            "data_source": np.array([data_source] * len(texts), dtype=object),
            "reward_model": np.array([{"ground_truth": "A", "style": "rule"}] * len(texts), dtype=object),
            "extra_info": np.array([{"split": "train", "category": "bottle"} for _ in texts], dtype=object),
            "uid": np.array(uids, dtype=object),
        },
    )


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    from verl.utils import hf_tokenizer

    return hf_tokenizer(str(tiny_models.policy))


def run_manager(config, tokenizer, batch: DataProto) -> list[dict]:
    from verl.trainer.ppo.reward import load_reward_manager

    async def score_all() -> list[dict]:  # concurrently, as the reward loop does: groups complete in any order
        manager = load_reward_manager(config, tokenizer)  # binds the running event loop, as in a reward worker
        return await asyncio.gather(*(manager.run_single(batch[i : i + 1]) for i in range(len(batch))))

    return asyncio.run(score_all())


def test_naive_manager_scores_with_our_compute_score(tiny_models, tokenizer) -> None:
    config = verl_config(*reward_overrides(tiny_models.policy, "naive", "lad_reasoner"))
    batch = make_batch(tokenizer, data_source="pair-binary")
    batch.non_tensor_batch["reward_model"] = np.array([{"ground_truth": "yes"}] * len(batch), dtype=object)
    for i, text in enumerate(["yes", "no"] * 4):
        ids = tokenizer(f"<think>one orange too many</think><answer>{text}</answer>")["input_ids"]
        batch.batch["responses"][i].fill_(tokenizer.pad_token_id)
        batch.batch["responses"][i, : len(ids)] = torch.tensor(ids)
        batch.batch["attention_mask"][i, PROMPT_LENGTH:] = 0
        batch.batch["attention_mask"][i, PROMPT_LENGTH : PROMPT_LENGTH + len(ids)] = 1
    results = run_manager(config, tokenizer, batch)
    assert [r["reward_score"] for r in results] == [2.0, 1.0] * 4
    assert {"format", "acc", "tq", "judge_ok", "think_words"} <= set(results[0]["reward_extra_info"])


def test_group_manager_gives_focal_p_per_group(tiny_models, tokenizer) -> None:
    config = verl_config(*reward_overrides(tiny_models.policy, "iad_group", "lr_iad"))
    results = run_manager(config, tokenizer, make_batch(tokenizer))
    shares = [r["reward_extra_info"]["focal_p"] for r in results]
    assert shares == [0.75] * 4 + [0.25] * 4
    focal = [r["reward_extra_info"]["focal"] for r in results]
    assert focal == pytest.approx([0.0625, 0.0625, 0.0625, 0.0, 0.5625, 0.0, 0.0, 0.0])


def test_rewards_feed_verl_advantage_estimators(tiny_models, tokenizer) -> None:
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    config = verl_config(*reward_overrides(tiny_models.policy, "iad_group", "lr_iad"))
    batch = make_batch(tokenizer)
    scores = [r["reward_score"] for r in run_manager(config, tokenizer, batch)]
    token_level = RewardManagerBase.assemble_rm_scores(batch, scores)
    response_mask = batch.batch["attention_mask"][:, PROMPT_LENGTH:]
    for name in ("grpo", "gpg"):
        advantages, _ = get_adv_estimator_fn(name)(
            token_level_rewards=token_level, response_mask=response_mask, index=batch.non_tensor_batch["uid"]
        )
        per_sample = (advantages * response_mask).sum(-1) / response_mask.sum(-1)
        assert per_sample[0] > 0 > per_sample[3]  # the easy group's correct answers beat its wrong one
        assert per_sample[4] > 0 > per_sample[5]


def reward_loop_on_cluster(address: str, policy: str) -> dict:
    """Run in a fresh interpreter: Ray reads its token settings once per process, at import."""
    import ray
    from verl.experimental.reward_loop import RewardLoopManager
    from verl.utils import hf_tokenizer

    config = verl_config(*reward_overrides(policy, "iad_group", "lr_iad"), "reward.num_workers=2")
    ray.init(address=address)
    try:
        output = RewardLoopManager(config).compute_rm_score(make_batch(hf_tokenizer(policy)))
    finally:
        ray.shutdown()
    return {
        "shape": list(output.batch["rm_scores"].shape),
        "focal_p": output.non_tensor_batch["focal_p"].tolist(),
        "scores": output.batch["rm_scores"].sum(-1).tolist(),
    }


@pytest.mark.slow
def test_reward_loop_manager_on_a_ray_cluster(ray_cluster, tiny_models) -> None:
    code = (
        "import json, sys; from tests.rewards.test_verl_integration import reward_loop_on_cluster; "
        f"print('RESULT', json.dumps(reward_loop_on_cluster({ray_cluster.address!r}, {str(tiny_models.policy)!r})))"
    )
    env = {**os.environ, **ray_cluster.client_env}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    output = json.loads(lines[-1].removeprefix("RESULT "))
    assert output["shape"] == [8, RESPONSE_LENGTH]
    # groups were scored on two workers at random, and still saw their whole group through the ledger actor
    assert output["focal_p"] == [0.75] * 4 + [0.25] * 4
    assert output["scores"] == pytest.approx([1.0625] * 3 + [1.0, 1.5625] + [1.0] * 3)
