"""The zoom and reference tools, called as verl's tool agent loop calls them (create, execute, release)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image
from verl.experimental.agent_loop.tool_agent_loop import AgentData

from agent_tools.inspection import ReferenceTool, ZoomTool
from data_prep.build import BuildConfig, build
from data_prep.prompts import TOOL_CALL_BUDGET
from data_prep.tools import POOL_NAME, TOOL_CONFIG_NAME
from rewards.tool_use import LAST_ZOOM_KEY, TOOL_CALLS_KEY, TOOL_ERRORS_KEY, ZOOM_CALLS_KEY


def _agent(images: list[Image.Image], request_id: str = "r0") -> AgentData:
    return AgentData([], images, [], None, None, {}, request_id, {})


def _call(tool: Any, agent: AgentData, parameters: dict[str, Any], create_kwargs: dict[str, Any]):
    async def run():
        instance_id, _ = await tool.create(create_kwargs=create_kwargs)
        try:
            return await tool.execute(instance_id, parameters, agent_data=agent)
        finally:
            await tool.release(instance_id)

    return asyncio.run(run())


def _query() -> Image.Image:
    image = Image.new("RGB", (224, 112), (0, 0, 0))
    image.paste((255, 0, 0), (56, 28, 112, 84))  # a red square where the zoom goes
    return image


def test_zoom_returns_the_crop_enlarged() -> None:
    reference = Image.new("RGB", (224, 112), (9, 9, 9))
    response, reward, metrics = _call(
        ZoomTool({}), _agent([reference, _query()]), {"bbox_2d": [56, 28, 112, 84]}, {"query_index": 1}
    )
    (crop,) = response.image
    assert crop.size == (224, 224) and crop.getpixel((112, 112)) == (255, 0, 0)  # the query's, not the reference's
    assert (reward, metrics) == (0.0, {"tool_errors": 0})


def test_zoom_records_its_box_and_frame_for_the_reward() -> None:
    agent = _agent([_query()])
    _call(ZoomTool({}), agent, {"bbox_2d": [56, 28, 112, 84]}, {"query_index": 0})
    _call(ZoomTool({}), agent, {"bbox_2d": [1, 2, 3, 4]}, {"query_index": 0})  # an error keeps the last good box
    fields = agent.extra_fields
    assert (fields[TOOL_CALLS_KEY], fields[ZOOM_CALLS_KEY], fields[TOOL_ERRORS_KEY]) == (2, 1, 1)
    assert fields[LAST_ZOOM_KEY] == '{"box": [56, 28, 112, 84], "size": [224, 112]}'


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ("56, 28, 112, 84", "list of four numbers"),
        ([56, 28, 112], "list of four numbers"),
        ([56, "a", 112, 84], "four finite numbers"),
        ([56, 28, float("nan"), 84], "four finite numbers"),
        ([112, 28, 56, 84], "x1 < x2"),
        ([300, 10, 400, 90], "outside the query image"),
        ([-50, -50, -10, -10], "outside the query image"),
        ([10, 10, 20, 20], "smaller than 28 pixels"),
    ],
)
def test_bad_zoom_arguments_get_a_readable_error(box: Any, message: str) -> None:
    response, _, metrics = _call(ZoomTool({}), _agent([_query()]), {"bbox_2d": box}, {"query_index": 0})
    assert message in response.text and not response.image and metrics["tool_errors"] == 1


def test_the_budget_of_calls_is_per_rollout() -> None:
    agent, other = _agent([_query()]), _agent([_query()], "r1")
    tool = ZoomTool({"max_calls": 2})
    box = {"bbox_2d": [0, 0, 112, 112]}
    answers = [_call(tool, agent, box, {"query_index": 0})[0] for _ in range(3)]
    assert [bool(answer.image) for answer in answers] == [True, True, False]
    assert "No more tool calls" in answers[2].text
    assert _call(tool, other, box, {"query_index": 0})[0].image  # another rollout has its own budget
    assert ZoomTool({}).max_calls == TOOL_CALL_BUDGET
    assert agent.extra_fields[TOOL_ERRORS_KEY] == 1


@pytest.fixture(scope="module")
def built(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pair3c")
    build(BuildConfig(protocol="pair3c", roots=small_roots, out=out, train_per_class=2, tools=True))
    return out


def _hashes(path: Path) -> set[str]:
    rows = pq.read_table(path, columns=["images"]).column("images").to_pylist()
    return {hashlib.sha256(image["bytes"]).hexdigest() for row in rows for image in row}


def test_reference_returns_a_normal_training_image_of_the_category(built: Path) -> None:
    tool = ReferenceTool({"pool": str(built / POOL_NAME)})
    shown = set()
    for request in range(8):
        response, _, metrics = _call(tool, _agent([], f"r{request}"), {}, {"category": "pushpins"})
        (image,) = response.image
        shown.add(image.tobytes())
        assert metrics == {"tool_errors": 0}
    pool = pq.read_table(built / POOL_NAME).to_pylist()
    assert {row["category"] for row in pool} == {"pushpins", "juice_bottle"}
    assert not {hashlib.sha256(row["image"]).hexdigest() for row in pool} & _hashes(built / "test.parquet")
    assert len(shown) > 1  # drawn per rollout, not always the same image


def test_a_reference_tool_without_its_pool_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs config.pool"):
        ReferenceTool({"pool": str(tmp_path / "missing.parquet")})


def test_reference_for_an_unknown_category_is_a_readable_error(built: Path) -> None:
    tool = ReferenceTool({"pool": str(built / POOL_NAME)})
    response, _, metrics = _call(tool, _agent([]), {}, {"category": "teapot"})
    assert "no normal image of 'teapot'" in response.text and metrics["tool_errors"] == 1


def test_verl_builds_both_tools_from_the_written_tool_config(built: Path) -> None:
    from verl.tools.tool_registry import initialize_tools_from_config

    zoom, reference = initialize_tools_from_config(str(built / TOOL_CONFIG_NAME))
    assert (type(zoom), type(reference)) == (ZoomTool, ReferenceTool)
    assert reference.config["pool"] == str((built / POOL_NAME).resolve())
    assert [zoom.name, reference.name] == ["zoom", "reference"]
