"""``validate``: every row goes through verl's RLHFDataset and agent-loop tokenization with the tiny policy's
processor; rows verl would drop or fail on are reported by row, with the reason."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from rich.console import Console

from data_prep.prompts import render_prompt
from data_prep.schema import ROW_SCHEMA, make_row
from data_prep.validate import (
    IMAGE,
    IMAGE_TOKENS,
    PLACEHOLDERS,
    TOO_LONG,
    UnusableInputError,
    format_report,
    run,
    validate_parquet,
)
from synthetic.tiny_models import TinyModels

MAX_PROMPT_LENGTH = 400  # a two-image pair3c row of 64 px images is about 270 tokens with the tiny processor
PROMPT = render_prompt("pair3c", "pushpins", 1)


def _png(color: str, size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _row(number: int, prompt_text: str = PROMPT, images: list[bytes] | None = None) -> dict:
    return make_row(
        protocol="pair3c",
        prompt_text=prompt_text,
        images=images or [_png("white"), _png("gray", (80, 64))],
        ground_truth="A",
        extra_info={"split": "train", "index": 100 + number, "query_image": f"pushpins/test/good/{number:03d}.png"},
    )


def _write(path: Path, rows: list[dict], schema: pa.Schema = ROW_SCHEMA) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _clean_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "clean.parquet", [_row(n) for n in range(3)])


def _wrong_file(tmp_path: Path) -> Path:
    rows = [
        _row(0),
        _row(1, prompt_text="<image>" + PROMPT),  # three placeholders, two images
        _row(2, images=[_png("white"), b"not an image"]),
        _row(3, prompt_text=PROMPT + " Look closely." * 300),
        _row(4),
    ]
    return _write(tmp_path / "wrong.parquet", rows)


def test_clean_file_passes_with_a_length_for_every_row(tiny_models: TinyModels, tmp_path: Path, hf_home: Path) -> None:
    report = validate_parquet(_clean_file(tmp_path), tiny_models.policy, MAX_PROMPT_LENGTH, progress=False)

    assert report.ok and report.problems == [] and report.n_rows == 3
    assert len(report.lengths) == 3 and all(
        length is not None and 0 < length <= MAX_PROMPT_LENGTH for length in report.lengths
    )
    assert report.verl_filter_drops == 0
    assert list(report.length_stats()) == ["min", "p50", "p90", "p99", "max"]


def test_wrong_rows_are_reported_one_by_one_with_their_reason(
    tiny_models: TinyModels, tmp_path: Path, hf_home: Path
) -> None:
    report = validate_parquet(_wrong_file(tmp_path), tiny_models.policy, MAX_PROMPT_LENGTH, progress=False)

    assert not report.ok
    assert [(problem.row, problem.kind) for problem in report.problems] == [
        (1, PLACEHOLDERS),
        (2, IMAGE),
        (3, TOO_LONG),
    ]
    placeholders, image, too_long = report.problems
    assert placeholders.reason == "3 <image> placeholder(s) for 2 image(s)"
    assert image.reason.startswith("image 2 of 2 does not decode")
    assert f"over max_prompt_length {MAX_PROMPT_LENGTH}" in too_long.reason
    assert (image.index, image.query_image) == (102, "pushpins/test/good/002.png")
    assert report.lengths[1] is None and report.lengths[2] is None and report.lengths[3] > MAX_PROMPT_LENGTH
    assert f"{report.lengths[3]} tokens, {report.lengths[3] - MAX_PROMPT_LENGTH} over" in too_long.reason
    assert report.verl_filter_drops == 3  # verl's filter counts failing rows as too long


def test_format_report_lists_problems_up_to_the_cap(tiny_models: TinyModels, tmp_path: Path, hf_home: Path) -> None:
    report = validate_parquet(_wrong_file(tmp_path), tiny_models.policy, MAX_PROMPT_LENGTH, progress=False)
    console = Console(record=True, width=200)

    console.print(format_report(report, max_problems=2))
    text = console.export_text()

    assert "3 <image> placeholder(s) for 2 image(s)" in text and "image 2 of 2 does not decode" in text
    assert "over max_prompt_length" not in text and "1 more not shown" in text
    assert "filter_overlong_prompts drops" in text


def test_missing_columns_are_named_with_the_expected_schema(tmp_path: Path) -> None:
    schema = pa.schema([column for column in ROW_SCHEMA if column.name not in ("images", "reward_model")])
    rows = [{key: value for key, value in _row(0).items() if key in schema.names}]
    path = _write(tmp_path / "no_images.parquet", rows, schema)

    with pytest.raises(UnusableInputError) as raised:
        validate_parquet(path, tmp_path / "never_loaded", MAX_PROMPT_LENGTH)

    message = str(raised.value)
    assert "missing column(s) images, reward_model" in message
    assert "data_prep/schema.py" in message and "prompt: list<struct<role, content>>" in message


@pytest.mark.parametrize(
    ("case", "expected"),
    [("clean", 0), ("wrong", 1), ("missing file", 2), ("not parquet", 2), ("no processor", 2)],
)
def test_run_exit_codes(
    case: str,
    expected: int,
    tiny_models: TinyModels,
    tmp_path: Path,
    hf_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    processor = tiny_models.policy
    if case == "clean":
        path = _clean_file(tmp_path)
    elif case == "wrong":
        path = _wrong_file(tmp_path)
    elif case == "missing file":
        path = tmp_path / "absent.parquet"
    elif case == "not parquet":
        path = tmp_path / "text.parquet"
        path.write_text("split,category\ntrain,pushpins\n")
    else:
        path, processor = _clean_file(tmp_path), tmp_path / "no_model"
    args = argparse.Namespace(file=path, processor=processor, max_prompt_length=MAX_PROMPT_LENGTH, max_problems=20)

    assert run(args) == expected

    captured = capsys.readouterr()
    if expected == 2:
        assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1
        assert "Traceback" not in captured.err and captured.out == ""
    else:
        assert ("ok" if expected == 0 else "problems") in captured.out


def test_image_pad_tokens_must_match_the_image_grid(
    tiny_models: TinyModels, tmp_path: Path, hf_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template or processor that loses an image-pad token (simulated here) is caught against image_grid_thw."""
    from verl.utils.tokenizer import continuous_token_wiring

    real_create = continuous_token_wiring.create_continuous_token_builder

    def losing_one_pad(*args: object, **kwargs: object) -> object:
        builder = real_create(*args, **kwargs)
        real_build = builder.build_initial_tokens
        pad = builder.tokenizer.convert_tokens_to_ids("<|image_pad|>")

        def build(*build_args: object, **build_kwargs: object) -> list[int]:
            ids = real_build(*build_args, **build_kwargs)
            ids.remove(pad)
            return ids

        builder.build_initial_tokens = build
        return builder

    monkeypatch.setattr(continuous_token_wiring, "create_continuous_token_builder", losing_one_pad)
    report = validate_parquet(_write(tmp_path / "one.parquet", [_row(0)]), tiny_models.policy, 400, progress=False)

    assert [(problem.row, problem.kind) for problem in report.problems] == [(0, IMAGE_TOKENS)]
    # 64x64 and 80x64 images become 4x4 and 4x6 patch grids: (16 + 24) / merge_size**2 = 10 pads
    assert report.problems[0].reason == "9 image-pad token(s) in input_ids, image_grid_thw needs 10 (merge size 2)"
