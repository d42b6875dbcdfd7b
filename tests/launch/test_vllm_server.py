"""A real vLLM OpenAI-compatible server for the tiny judge on loopback, and its lifecycle."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from launch.process import ServerStartError
from launch.vllm_server import VLLMServer

pytestmark = pytest.mark.slow

SCORES_SCHEMA = {
    "type": "object",
    "properties": {
        "conciseness": {"type": "integer", "minimum": 0, "maximum": 3},
        "relevance": {"type": "integer", "minimum": 0, "maximum": 3},
    },
    "required": ["conciseness", "relevance"],
    "additionalProperties": False,
}


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def test_judge_answers_chat_completion_with_schema_valid_json(judge_server: VLLMServer) -> None:
    reply = post_json(
        f"{judge_server.base_url}/chat/completions",
        {
            "model": "judge",
            "messages": [{"role": "user", "content": "Rate the reasoning: the box has two oranges."}],
            "max_tokens": 48,
            "temperature": 1.0,
            "seed": 0,
            "chat_template_kwargs": {"enable_thinking": False},
            "response_format": {"type": "json_schema", "json_schema": {"name": "scores", "schema": SCORES_SCHEMA}},
        },
    )
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop"
    jsonschema.validate(json.loads(choice["message"]["content"]), SCORES_SCHEMA)


def test_models_endpoint_lists_served_name(judge_server: VLLMServer) -> None:
    with urllib.request.urlopen(f"{judge_server.base_url}/models", timeout=30) as response:
        assert [model["id"] for model in json.load(response)["data"]] == ["judge"]


def test_server_that_cannot_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    server = VLLMServer(tmp_path / "no-such-model", log_path=tmp_path / "server.log", env={"HF_HUB_OFFLINE": "1"})
    with pytest.raises(ServerStartError, match="exited with code"):
        server.start(timeout_s=240)
    assert server.process is None
    assert (tmp_path / "server.log").stat().st_size > 0
