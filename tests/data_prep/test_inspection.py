"""``inspect``: counts from ``extra_info``, the example prompt (chat-templated with a processor) and the pair sheet."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.inspection import inspect_parquet, make_pair_sheet, run, sheet_size
from data_prep.prompts import PROMPTS, render_prompt
from data_prep.schema import ROW_SCHEMA, make_row
from synthetic.tiny_models import TinyModels

# (split, category, sample_class, count): 2 categories x 3 classes = 6 sheet lines
LAYOUT = [
    ("train", "pushpins", "normal", 3),
    ("train", "pushpins", "structural", 2),
    ("train", "pushpins", "logical", 1),
    ("test", "screw_bag", "normal", 2),
    ("test", "screw_bag", "structural", 1),
    ("test", "screw_bag", "logical", 5),
]


def _png(color: str, size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _pair3c_file(path: Path) -> Path:
    spec = PROMPTS["pair3c"]
    rows = [
        make_row(
            protocol="pair3c",
            prompt_text=render_prompt("pair3c", category, 1),
            images=[_png("white"), _png("gray", (32, 48))],
            ground_truth=spec.option_for_class(sample_class).key,
            extra_info={"split": split, "category": category, "sample_class": sample_class, "index": n},
        )
        for split, category, sample_class, count in LAYOUT
        for n in range(count)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA), path)
    return path


def test_counts_by_split_category_and_class(tmp_path: Path) -> None:
    report = inspect_parquet(_pair3c_file(tmp_path / "pair3c.parquet"))

    assert report.n_rows == 14
    assert report.counts["split"] == {"train": 6, "test": 8}
    assert report.counts["category"] == {"pushpins": 6, "screw_bag": 8}
    assert report.counts["sample_class"] == {"normal": 5, "structural": 3, "logical": 6}
    assert report.groups[("test", "screw_bag", "logical")] == 5
    assert report.protocols == {"pair3c": 14}
    assert report.ground_truths == {"A": 5, "B": 3, "C": 6}
    assert report.example_prompt == render_prompt("pair3c", "pushpins", 1) and report.example_chat is None


def test_processor_renders_the_chat_template_with_one_image_span_per_image(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    report = inspect_parquet(_pair3c_file(tmp_path / "pair3c.parquet"), processor_dir=tiny_models.policy)

    chat = report.example_chat
    assert chat is not None and "<image>" not in chat
    assert chat.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert "<|im_start|>user\nReference image: <|vision_start|>" in chat
    assert chat.endswith("<|im_start|>assistant\n")


def test_pair_sheet_is_a_png_grid_of_class_lines(tmp_path: Path) -> None:
    out = tmp_path / "sheets" / "pairs.png"

    assert make_pair_sheet(_pair3c_file(tmp_path / "pair3c.parquet"), out, per_class=3, size=40) == out

    with Image.open(out) as sheet:
        sheet.verify()
        assert sheet.format == "PNG"
        assert sheet.size == sheet_size(n_groups=6, per_class=3, n_images=2, size=40)
    assert sorted(path.name for path in out.parent.iterdir()) == ["pairs.png"]  # no temp file left behind


def test_run_prints_counts_and_prompt_and_writes_the_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "pairs.png"
    args = argparse.Namespace(file=_pair3c_file(tmp_path / "pair3c.parquet"), sheet=sheet, processor=None)

    assert run(args) == 0

    printed = capsys.readouterr().out
    assert "screw_bag" in printed and "structural" in printed and "total" in printed
    assert "protocol(s): pair3c 14" in printed and "Query image: <image>" in printed
    assert sheet.is_file() and f"pair sheet: {sheet}" in printed


def test_run_missing_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(file=tmp_path / "absent.parquet", sheet=None, processor=None)

    assert run(args) == 2

    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: {tmp_path / 'absent.parquet'}: no such file" and captured.out == ""
