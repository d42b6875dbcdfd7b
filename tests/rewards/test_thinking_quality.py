"""FAD-TQ's reward with a real judge: called only when it matters, reached by URL or verl's router address."""

from __future__ import annotations

import asyncio
import time

import pytest

from launch.process import free_port
from launch.vllm_server import VLLMServer
from rewards.composites import SUBSCORE_KEYS
from rewards.thinking_quality import should_judge
from rewards.verl_reward import compute_score

CORRECT = "<think>The query box has three oranges; the reference has two.</think><answer>C</answer>"
INFO = {"split": "train", "category": "breakfast_box", "reference_images": ["ref.png"]}


def score(response: str, **kwargs) -> dict[str, float]:
    return asyncio.run(compute_score("pair3c", response, "C", INFO, **kwargs))


@pytest.mark.parametrize(
    ("when", "correct", "split", "expected"),
    [
        ("correct_train", True, "train", True),
        ("correct_train", True, "test", False),
        ("correct_train", False, "train", False),
        ("correct", True, "test", True),
        ("always", False, "test", True),
        ("never", True, "train", False),
    ],
)
def test_judge_is_called_only_when_it_can_matter(when: str, correct: bool, split: str, expected: bool) -> None:
    assert should_judge(when, correct, split) is expected


def test_wrong_answer_never_reaches_the_judge() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    scores = score(CORRECT.replace("<answer>C", "<answer>A"), judge_url=dead)
    assert (scores["judge_called"], scores["score"]) == (0.0, 1.0)


def test_judge_down_falls_back_in_bounded_time() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    scores = score(CORRECT, judge_url=dead, judge_options={"timeout_s": 1, "max_retries": 1, "backoff_s": 0.05})
    assert time.monotonic() - started < 10
    assert (scores["judge_called"], scores["judge_ok"], scores["tq"], scores["score"]) == (1.0, 0.0, 0.0, 2.0)
    assert tuple(scores) == SUBSCORE_KEYS


@pytest.mark.slow
def test_real_judge_by_explicit_url(judge_server: VLLMServer) -> None:
    scores = score(CORRECT, judge_url=judge_server.base_url)
    assert scores["judge_ok"] == 1.0
    assert 0.0 <= scores["tq"] <= 1.0 and scores["score"] == pytest.approx(2.0 + scores["tq"])


@pytest.mark.slow
def test_real_judge_by_verl_router_address(judge_server: VLLMServer) -> None:
    address = f"{judge_server.host}:{judge_server.port}"  # verl passes a bare host:port
    scores = score(CORRECT + " ", reward_router_address=address)
    assert scores["judge_ok"] == 1.0 and 0.0 <= scores["conciseness"] <= 1.0 and 0.0 <= scores["relevance"] <= 1.0
