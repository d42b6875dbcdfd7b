"""Look inside a parquet prompt file: what it holds, the prompt a model will see, and its image pairs on one sheet.

Named ``inspection`` so it does not shadow the standard library's ``inspect``. Counts come from ``extra_info``
(no image bytes are read for them); the sheet reads only the images of the rows it draws.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont, ImageOps
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from data_prep.images import save_png_atomically
from data_prep.prompts import IMAGE_PLACEHOLDER
from data_prep.validate import UnusableInputError, check_parquet_file, load_processor, make_console

COUNT_FIELDS: Final = ("split", "category", "sample_class")
_LABEL_COLUMNS: Final = ("data_source", "prompt", "reward_model", "extra_info")
UNKNOWN: Final = "?"

PAD: Final = 6  # between cells and around the sheet
GAP: Final = 2  # between the images of one cell
CAPTION_HEIGHT: Final = 32  # two lines of the default font at size 12
_BACKGROUND: Final = (250, 250, 250)
_CELL: Final = (40, 40, 40)
_UNDECODABLE: Final = (150, 20, 20)


@dataclass
class InspectionReport:
    """What a file holds, from ``extra_info`` and ``reward_model``; the example is row 0."""

    path: Path
    n_rows: int
    protocols: Counter[str]
    counts: dict[str, Counter[str]]  # by each of COUNT_FIELDS
    groups: Counter[tuple[str, str, str]]  # (split, category, sample_class)
    ground_truths: Counter[str]
    example_prompt: str | None
    example_chat: str | None  # the example through the processor's chat template, when a processor was given


def _read_labels(path: Path) -> list[dict[str, Any]]:
    check_parquet_file(path)
    return pq.read_table(path, columns=list(_LABEL_COLUMNS)).to_pylist()


def _info(row: dict[str, Any], key: str) -> str:
    value = (row["extra_info"] or {}).get(key)
    return UNKNOWN if value is None else str(value)


def _ground_truth(row: dict[str, Any]) -> str:
    value = (row["reward_model"] or {}).get("ground_truth")
    return UNKNOWN if value is None else str(value)


def _prompt_text(row: dict[str, Any]) -> str:
    return "\n".join(str(message["content"]) for message in row["prompt"] or [])


def _template_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat as verl's ``RLHFDataset._build_messages`` shapes it (``<image>`` -> an image part), minus pixels."""
    messages = []
    for message in row["prompt"] or []:
        segments = [segment for segment in re.split(f"({re.escape(IMAGE_PLACEHOLDER)})", message["content"]) if segment]
        parts = [{"type": "image"} if s == IMAGE_PLACEHOLDER else {"type": "text", "text": s} for s in segments]
        messages.append({"role": message["role"], "content": parts})
    return messages


def _chat_prompt(row: dict[str, Any], processor_dir: str | Path) -> str:
    _, processor = load_processor(processor_dir)
    return processor.apply_chat_template(_template_messages(row), add_generation_prompt=True, tokenize=False)


def inspect_parquet(path: str | Path, *, processor_dir: str | Path | None = None) -> InspectionReport:
    """Counts, protocols, ground truths and row 0's prompt (chat-templated too when ``processor_dir`` is given)."""
    path = Path(path)
    rows = _read_labels(path)
    example = rows[0] if rows else None
    return InspectionReport(
        path=path,
        n_rows=len(rows),
        protocols=Counter(str(row["data_source"]) for row in rows),
        counts={key: Counter(_info(row, key) for row in rows) for key in COUNT_FIELDS},
        groups=Counter(tuple(_info(row, key) for key in COUNT_FIELDS) for row in rows),
        ground_truths=Counter(_ground_truth(row) for row in rows),
        example_prompt=_prompt_text(example) if example else None,
        example_chat=_chat_prompt(example, processor_dir) if example and processor_dir else None,
    )


def _counts_table(report: InspectionReport) -> Table:
    classes = sorted(report.counts["sample_class"])
    table = Table(title=f"{report.path}: {report.n_rows} rows")
    for column in ("split", "category", *classes, "total"):
        table.add_column(column, justify="left" if column in ("split", "category") else "right", no_wrap=True)
    by_place: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (split, category, sample_class), count in report.groups.items():
        by_place[split, category][sample_class] += count
    for (split, category), counts in sorted(by_place.items()):
        table.add_row(split, category, *(str(counts[c]) for c in classes), str(counts.total()))
    table.add_row("total", "", *(str(report.counts["sample_class"][c]) for c in classes), str(report.n_rows))
    return table


def _counter_text(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(counter.items())) or "none"


def format_inspection(report: InspectionReport) -> Group:
    """The counts table, protocols, ground truths and the example prompt(s)."""
    parts: list[Any] = [
        _counts_table(report),
        Text(f"protocol(s): {_counter_text(report.protocols)}"),
        Text(f"ground truth: {_counter_text(report.ground_truths)}"),
    ]
    if report.example_prompt is not None:
        parts.append(Panel(Text(report.example_prompt), title="row 0: prompt", title_align="left"))
    if report.example_chat is not None:
        parts.append(Panel(Text(report.example_chat), title="row 0: chat template", title_align="left"))
    return Group(*parts)


def sheet_size(n_groups: int, per_class: int, n_images: int, size: int) -> tuple[int, int]:
    """Width and height of a sheet: one line per (category, class), ``per_class`` cells of ``n_images`` images."""
    cell_width = n_images * size + (n_images - 1) * GAP
    return PAD + per_class * (cell_width + PAD), PAD + n_groups * (size + CAPTION_HEIGHT + PAD)


def _pick_rows(rows: list[dict[str, Any]], per_class: int, seed: int) -> dict[tuple[str, str], list[int]]:
    """Up to ``per_class`` row numbers per (category, sample_class), drawn with ``seed``, groups sorted."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, row in enumerate(rows):
        groups[_info(row, "category"), _info(row, "sample_class")].append(number)
    rng = random.Random(seed)
    return {key: sorted(rng.sample(groups[key], min(per_class, len(groups[key])))) for key in sorted(groups)}


def _images_at(path: Path, wanted: set[int]) -> dict[int, list[bytes]]:
    """The image bytes of the ``wanted`` rows, read batch by batch so a large file is never held whole."""
    found: dict[int, list[bytes]] = {}
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(columns=["images"], batch_size=256):
        column = batch.column(0)
        for number in (n for n in wanted if start <= n < start + batch.num_rows):
            found[number] = [image["bytes"] or b"" for image in column[number - start].as_py() or []]
        start += batch.num_rows
    return found


def _thumbnail(data: bytes, size: int) -> Image.Image:
    cell = Image.new("RGB", (size, size), _CELL)
    try:
        with Image.open(io.BytesIO(data)) as source:
            image = ImageOps.contain(source.convert("RGB"), (size, size))
    except Exception:  # any undecodable image is drawn as a red square; `validate` says why
        return Image.new("RGB", (size, size), _UNDECODABLE)
    cell.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return cell


def make_pair_sheet(
    path: str | Path, out_png: str | Path, *, per_class: int = 4, size: int = 128, seed: int = 0
) -> Path:
    """Draw up to ``per_class`` rows per (category, sample_class), each as its images side by side (references,
    then the query) over a caption of category, class and ground truth; writes ``out_png`` atomically."""
    if per_class < 1 or size < 16:
        raise ValueError(f"per_class must be >= 1 and size >= 16, got {per_class} and {size}")
    path, out = Path(path), Path(out_png)
    rows = _read_labels(path)
    if not rows:
        raise UnusableInputError(f"{path}: no rows to draw")
    picked = _pick_rows(rows, per_class, seed)
    images = _images_at(path, {number for numbers in picked.values() for number in numbers})
    n_images = max(1, max(len(found) for found in images.values()))
    sheet = Image.new("RGB", sheet_size(len(picked), per_class, n_images, size), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    cell_width = n_images * size + (n_images - 1) * GAP
    for line, ((category, sample_class), numbers) in enumerate(picked.items()):
        top = PAD + line * (size + CAPTION_HEIGHT + PAD)
        for column, number in enumerate(numbers):
            left = PAD + column * (cell_width + PAD)
            for k, data in enumerate(images[number]):
                sheet.paste(_thumbnail(data, size), (left + k * (size + GAP), top))
            caption = f"{category}\n{sample_class}, gt {_ground_truth(rows[number])}, row {number}"
            draw.multiline_text((left, top + size + 2), caption, fill=(20, 20, 20), font=font, spacing=2)
    save_png_atomically(sheet, out)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="parquet prompt file")
    parser.add_argument("--sheet", type=Path, metavar="PNG", help="also draw the rows' image pairs into this PNG")
    parser.add_argument("--processor", type=Path, metavar="DIR", help="also show the prompt through its chat template")


def run(args: argparse.Namespace) -> int:
    """0 after printing the counts and prompt (and writing the sheet), 2 when the input cannot be read."""
    try:
        report = inspect_parquet(args.file, processor_dir=args.processor)
        sheet = make_pair_sheet(args.file, args.sheet) if args.sheet else None
    except UnusableInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = make_console()
    console.print(format_inspection(report))
    if sheet:
        console.print(f"pair sheet: {sheet}")
    return 0
