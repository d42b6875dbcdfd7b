"""Building parquet files: verl's schema, determinism, atomic writes, manifests and bad-image handling."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.build import BuildConfig, build
from data_prep.images import BadImageError
from data_prep.prompts import PROMPTS
from data_prep.protocols import ProtocolError
from data_prep.schema import COLUMNS, ROW_SCHEMA


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pair3c_config(root: Path, out: Path, **overrides) -> BuildConfig:
    return BuildConfig(protocol="pair3c", roots={"mvtec_loco": root}, out=out, **overrides)


@pytest.fixture(scope="module")
def pair3c_build(loco_real_counts: Path, tmp_path_factory: pytest.TempPathFactory):
    return build(pair3c_config(loco_real_counts, tmp_path_factory.mktemp("pair3c")))


def test_pair3c_files_have_verl_schema_and_paper_counts(pair3c_build) -> None:
    train = pq.read_table(pair3c_build.files["train"])
    test = pq.read_table(pair3c_build.files["test"])
    assert train.schema.equals(ROW_SCHEMA) and tuple(train.column_names) == COLUMNS
    assert (train.num_rows, test.num_rows) == (600, 968)
    truths = [row["ground_truth"] for row in test.column("reward_model").to_pylist()]
    assert {key: truths.count(key) for key in "ABC"} == {"A": 375, "B": 232, "C": 361}


def test_row_content(pair3c_build, loco_real_counts: Path) -> None:
    row = pq.read_table(pair3c_build.files["train"]).slice(0, 1).to_pylist()[0]
    info = row["extra_info"]
    assert row["data_source"] == "pair3c" and info["index"] == 0 and info["split"] == "train"
    assert row["prompt"][0]["role"] == "user" and row["prompt"][0]["content"].count("<image>") == 2
    assert [o["key"] for o in info["options"]] == list(PROMPTS["pair3c"].answer_keys)
    # originals by default: the query's bytes are the source file's
    assert row["images"][-1]["bytes"] == (loco_real_counts / info["query_image"]).read_bytes()
    assert row["images"][0]["bytes"] == (loco_real_counts / info["reference_images"][0]).read_bytes()


def test_manifest_records_arguments_counts_and_source_hashes(pair3c_build, loco_real_counts: Path) -> None:
    manifest = json.loads(pair3c_build.files["manifest"].read_text())
    assert manifest["seed"] == 0 and manifest["arguments"]["protocol"] == "pair3c"
    assert manifest["counts"]["train"]["pushpins/logical"] == 40
    assert manifest["files"]["test.parquet"]["sha256"] == sha256(pair3c_build.files["test"])
    sources = manifest["sources"]["mvtec_loco"]
    some_path, some_hash = next(iter(sources.items()))
    assert sha256(loco_real_counts / some_path) == some_hash
    assert "pyarrow" in manifest["libraries"]


def test_same_inputs_and_seed_give_identical_bytes(pair3c_build, loco_real_counts: Path, tmp_path: Path) -> None:
    again = build(pair3c_config(loco_real_counts, tmp_path / "again", workers=2))
    for name in ("train", "test"):
        assert sha256(again.files[name]) == sha256(pair3c_build.files[name])


def test_existing_output_is_refused_without_overwrite(pair3c_build, loco_real_counts: Path) -> None:
    with pytest.raises(FileExistsError, match="--overwrite"):
        build(pair3c_config(loco_real_counts, pair3c_build.out))


def test_max_pixels_downscales_keeping_aspect(small_roots: dict[str, Path], tmp_path: Path) -> None:
    config = BuildConfig(
        protocol="single-ab",
        roots=small_roots,
        out=tmp_path,
        datasets=("visa",),
        max_pixels=20 * 20,
        test_categories=("cable",),
    )
    row = pq.read_table(build(config).files["train"]).slice(0, 1).to_pylist()[0]
    image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
    assert image.format == "PNG" and image.width * image.height <= 400 and image.width == image.height


def _broken_copy(root: Path, tmp_path: Path) -> tuple[Path, str]:
    copy = tmp_path / "loco"
    shutil.copytree(root, copy)
    victim = "juice_bottle/test/good/000.png"
    (copy / victim).write_bytes(b"not a png")
    return copy, victim


def test_bad_image_stops_the_build_and_writes_nothing(small_roots: dict[str, Path], tmp_path: Path) -> None:
    root, victim = _broken_copy(small_roots["mvtec_loco"], tmp_path)
    out = tmp_path / "out"
    with pytest.raises(BadImageError, match=victim):
        build(pair3c_config(root, out, train_per_class=1))
    assert not out.exists() or list(out.iterdir()) == []


def test_skip_bad_counts_skipped_rows(small_roots: dict[str, Path], tmp_path: Path) -> None:
    root, victim = _broken_copy(small_roots["mvtec_loco"], tmp_path)
    result = build(pair3c_config(root, tmp_path / "out", train_per_class=1, skip_bad=True))
    skipped = [row for split in result.splits.values() for row in split.skipped]
    assert len(skipped) == 1 and skipped[0]["query"] == victim
    manifest = json.loads(result.files["manifest"].read_text())
    assert sum(len(rows) for rows in manifest["skipped_rows"].values()) == 1


def test_unknown_category_lists_valid_ones(small_roots: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="unknown categories \\['teapot'\\].*pushpins"):
        build(pair3c_config(small_roots["mvtec_loco"], tmp_path, categories=("teapot",)))


def test_missing_root_names_the_flag(small_roots: dict[str, Path], tmp_path: Path) -> None:
    config = BuildConfig(protocol="single-ab", roots={"visa": small_roots["visa"]}, out=tmp_path, datasets=("visa",))
    with pytest.raises(ProtocolError, match="--root mvtec_ad=PATH"):
        build(config)


def test_every_protocol_with_a_prompt_has_a_planner_and_no_other() -> None:
    from data_prep.build import PLANNERS
    from data_prep.prompts import PROMPTS

    assert set(PLANNERS) == set(PROMPTS)


def test_tools_rows_run_in_the_inspection_agent_with_the_tools_offered(
    small_roots: dict[str, Path], tmp_path: Path
) -> None:
    from data_prep.prompts import tools_system_prompt
    from data_prep.schema import INSPECTION_AGENT, TOOLS_ROW_SCHEMA
    from data_prep.tools import POOL_NAME, TOOL_CONFIG_NAME

    pair3c = BuildConfig(protocol="pair3c", roots=small_roots, out=tmp_path / "a", train_per_class=2, tools=True)
    result = build(pair3c)
    table = pq.read_table(result.files["train"])
    assert table.schema.equals(TOOLS_ROW_SCHEMA, check_metadata=False)
    row = table.slice(0, 1).to_pylist()[0]
    assert row["agent_name"] == INSPECTION_AGENT
    assert row["prompt"][0] == {"role": "system", "content": tools_system_prompt()}
    kwargs = row["extra_info"]["tools_kwargs"]
    assert kwargs["zoom"]["create_kwargs"]["query_index"] == len(row["images"]) - 1  # the query, after its reference
    assert kwargs["reference"]["create_kwargs"]["category"] == row["extra_info"]["category"]
    assert row["extra_info"]["query_size"][0] % 28 == 0  # the processor's frame: zoom boxes are the model's pixels
    files = json.loads(result.files["manifest"].read_text())["files"]
    assert files[TOOL_CONFIG_NAME]["rows"] == 2 and files[POOL_NAME]["sha256"] == sha256(result.out / POOL_NAME)
    again = build(replace(pair3c, out=tmp_path / "b"))
    assert all(sha256(again.out / name) == sha256(result.out / name) for name in ("train.parquet", POOL_NAME))


def test_rows_without_tools_keep_the_plain_schema(pair3c_build) -> None:
    table = pq.read_table(pair3c_build.files["train"])
    assert table.schema.equals(ROW_SCHEMA, check_metadata=False) and "agent_name" not in table.column_names
    assert table.slice(0, 1).to_pylist()[0]["extra_info"]["tools_kwargs"] is None
