"""Check a parquet prompt file the way verl will read it, before a training job meets it.

verl loads rows with ``RLHFDataset`` and tokenizes them later, in the agent loop; a row it cannot handle either
stops training (an assertion, a processor error, a multimodal prompt over ``rollout.prompt_length``) or, with
``filter_overlong_prompts=True``, is dropped silently. This runs verl's own code on every row and says which rows,
and why:

    iad-data validate train.parquet --processor /models/Qwen2.5-VL-3B --max-prompt-length 2048
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from tqdm import tqdm

from data_prep.prompts import IMAGE_PLACEHOLDER
from data_prep.schema import COLUMNS, ROW_SCHEMA

# Problem kinds, one per way verl fails on a row.
PLACEHOLDERS: Final = "placeholders"
IMAGE: Final = "image"
VERL: Final = "verl"
TOO_LONG: Final = "too long"
IMAGE_TOKENS: Final = "image tokens"

PERCENTILES: Final = (50, 90, 99)


class UnusableInputError(Exception):
    """The file (or processor) cannot be checked at all: missing, not parquet, or without the schema's columns."""


@dataclass(frozen=True)
class Problem:
    """One row verl would drop or fail on; ``index``/``query_image`` come from ``extra_info`` when present."""

    row: int
    kind: str
    reason: str
    index: int | None = None
    query_image: str | None = None


@dataclass
class ValidationReport:
    """Per-row prompt lengths (``None`` where verl could not tokenize the row) and every problem found."""

    path: Path
    n_rows: int
    max_prompt_length: int
    problems: list[Problem] = field(default_factory=list)
    lengths: list[int | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def measured(self) -> list[int]:
        return sorted(length for length in self.lengths if length is not None)

    @property
    def verl_filter_drops(self) -> int:
        """Rows ``filter_overlong_prompts=True`` would drop: too long, or failing (verl counts those as too long)."""
        return sum(1 for length in self.lengths if length is None or length > self.max_prompt_length)

    def length_stats(self) -> dict[str, int]:
        """min, p50, p90, p99 and max of the prompt lengths in tokens (nearest rank); empty when none measured."""
        values = self.measured
        if not values:
            return {}
        ranks = {f"p{q}": values[max(0, math.ceil(q / 100 * len(values)) - 1)] for q in PERCENTILES}
        return {"min": values[0], **ranks, "max": values[-1]}

    def summary(self) -> str:
        stats = " ".join(f"{name}={value}" for name, value in self.length_stats().items()) or "none measured"
        rows_with_problems = len({problem.row for problem in self.problems})
        verdict = "ok" if self.ok else f"{len(self.problems)} problem(s) in {rows_with_problems} row(s)"
        return (
            f"{self.path}: {self.n_rows} rows, {verdict}; prompt tokens {stats}; "
            f"filter_overlong_prompts would drop {self.verl_filter_drops} (max_prompt_length {self.max_prompt_length})"
        )


def _type_text(data_type: pa.DataType) -> str:
    if pa.types.is_struct(data_type):
        return f"struct<{', '.join(data_type.field(i).name for i in range(data_type.num_fields))}>"
    if pa.types.is_list(data_type):
        return f"list<{_type_text(data_type.value_type)}>"
    return str(data_type)


def expected_schema_text() -> str:
    """The columns of ``data_prep.schema.ROW_SCHEMA`` with their types, for error messages."""
    return ", ".join(f"{column.name}: {_type_text(column.type)}" for column in ROW_SCHEMA)


def check_parquet_file(path: str | Path) -> pa.Schema:
    """The file's schema, once it is known to exist, be parquet named as verl expects and have every column."""
    path = Path(path)
    if not path.is_file():
        raise UnusableInputError(f"{path}: no such file")
    if path.suffix != ".parquet":
        raise UnusableInputError(f"{path}: verl reads parquet only from files named *.parquet")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise UnusableInputError(f"{path}: not a parquet file ({error})") from error
    missing = [column for column in COLUMNS if column not in schema.names]
    if missing:
        raise UnusableInputError(
            f"{path}: missing column(s) {', '.join(missing)}; expected the schema of data_prep/schema.py: "
            f"{expected_schema_text()}"
        )
    return schema


def load_processor(processor_dir: str | Path) -> tuple[Any, Any]:
    """verl's tokenizer and processor for a model folder (``hf_processor`` returns ``None`` on failure; we raise)."""
    from verl.utils import hf_processor, hf_tokenizer

    if not Path(processor_dir).is_dir():
        raise UnusableInputError(f"{processor_dir}: no such processor folder")
    processor = hf_processor(str(processor_dir))
    if processor is None:
        raise UnusableInputError(f"{processor_dir}: verl found no multimodal processor there")
    return hf_tokenizer(str(processor_dir)), processor


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _placeholder_problem(row: dict[str, Any]) -> str | None:
    """verl asserts that a row's ``<image>`` placeholders and its images pair up one to one."""
    n_placeholders = sum(str(message["content"]).count(IMAGE_PLACEHOLDER) for message in row["prompt"] or [])
    n_images = len(row["images"] or [])
    if n_placeholders == n_images:
        return None
    return f"{n_placeholders} {IMAGE_PLACEHOLDER} placeholder(s) for {n_images} image(s)"


def _image_problems(row: dict[str, Any]) -> list[str]:
    problems = []
    images = row["images"] or []
    for number, image in enumerate(images, start=1):
        try:
            with Image.open(io.BytesIO(image["bytes"] or b"")) as decoded:
                decoded.load()
        except UnidentifiedImageError:
            problems.append(f"image {number} of {len(images)} does not decode (not an image format PIL knows)")
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
            problems.append(f"image {number} of {len(images)} does not decode ({_describe(error)})")
    return problems


@dataclass(frozen=True)
class _Pipeline:
    """verl's objects for one file: the dataset, the agent loop's token builder and the image-token facts."""

    dataset: Any
    builder: Any
    patch_size: int
    merge_size: int | None
    image_token_id: int | None


def _make_pipeline(
    path: Path, processor_dir: str | Path, config: Any, apply_chat_template_kwargs: dict[str, Any]
) -> _Pipeline:
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.tokenizer import get_processor_token_id
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    tokenizer, processor = load_processor(processor_dir)
    with contextlib.redirect_stdout(sys.stderr):  # verl prints progress; keep stdout for the report
        dataset = RLHFDataset(str(path), tokenizer, config, processor=processor)
    # As AgentLoopWorker builds it: the family comes from config.json's model_type, which hf_processor binds.
    builder = create_continuous_token_builder(
        tokenizer,
        hf_model_type=getattr(getattr(processor, "config", None), "model_type", None),
        chat_template_kwargs=apply_chat_template_kwargs,
        mm_processor_kwargs={},
        processor=processor,
    )
    image_processor = getattr(processor, "image_processor", None)
    return _Pipeline(
        dataset=dataset,
        builder=builder,
        patch_size=getattr(image_processor, "patch_size", 14),  # what AgentLoopBase.process_multi_modal_info uses
        merge_size=getattr(image_processor, "merge_size", None),
        image_token_id=get_processor_token_id(processor, "image"),
    )


def _image_token_problem(pipeline: _Pipeline, prompt_ids: list[int], mm_inputs: dict[str, Any]) -> str | None:
    """The model scatters one image feature per image-pad token; a different count fails in the forward pass."""
    grid = mm_inputs.get("image_grid_thw")
    if grid is None or pipeline.merge_size is None or pipeline.image_token_id is None:
        return None
    expected = int(grid.prod(dim=-1).sum()) // pipeline.merge_size**2
    found = sum(1 for token in prompt_ids if token == pipeline.image_token_id)
    if found == expected:
        return None
    return (
        f"{found} image-pad token(s) in input_ids, image_grid_thw needs {expected} (merge size {pipeline.merge_size})"
    )


def _tokenize(pipeline: _Pipeline, row: int) -> tuple[list[int], dict[str, Any]]:
    """What ``SingleTurnAgentLoop.run`` does with a batch row before generating: the prompt ids and processor output."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    messages = pipeline.dataset[row]["raw_prompt"]
    images, videos, audios = RLHFDataset._process_multi_modal_info(
        messages, pipeline.patch_size, pipeline.dataset.config
    )
    mm_inputs: dict[str, Any] = {}
    prompt_ids = pipeline.builder.build_initial_tokens(
        messages, images=images, videos=videos, audios=audios, mm_inputs_out=mm_inputs
    )
    return prompt_ids, mm_inputs


def _check_row(
    pipeline: _Pipeline, row: int, raw: dict[str, Any], max_prompt_length: int
) -> tuple[int | None, list[tuple[str, str]]]:
    """The row's prompt length in tokens (``None`` when verl cannot build it) and its (kind, reason) problems."""
    problems = [(PLACEHOLDERS, reason) for reason in [_placeholder_problem(raw)] if reason]
    problems += [(IMAGE, reason) for reason in _image_problems(raw)]
    if problems:
        return None, problems
    try:
        prompt_ids, mm_inputs = _tokenize(pipeline, row)
    except Exception as error:  # whatever verl or the processor raises, training would raise too
        return None, [(VERL, f"verl preprocessing raised {_describe(error)}")]
    length = len(prompt_ids)
    if length > max_prompt_length:
        over = length - max_prompt_length
        problems.append((TOO_LONG, f"prompt is {length} tokens, {over} over max_prompt_length {max_prompt_length}"))
    problems += [(IMAGE_TOKENS, reason) for reason in [_image_token_problem(pipeline, prompt_ids, mm_inputs)] if reason]
    return length, problems


def _row_labels(raw: dict[str, Any]) -> dict[str, Any]:
    extra_info = raw.get("extra_info") or {}
    return {"index": extra_info.get("index"), "query_image": extra_info.get("query_image")}


def validate_parquet(
    path: str | Path,
    processor_dir: str | Path,
    max_prompt_length: int,
    *,
    apply_chat_template_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    max_rows: int | None = None,
) -> ValidationReport:
    """Run every row (or the first ``max_rows``) through verl's dataset and agent-loop tokenization; raises
    ``UnusableInputError`` first if the file cannot be read as the schema at all."""
    from omegaconf import OmegaConf

    path = Path(path)
    check_parquet_file(path)
    kwargs = dict(apply_chat_template_kwargs or {})
    with tempfile.TemporaryDirectory(prefix="iad-validate-") as cache_dir:
        config = OmegaConf.create(
            {
                "cache_dir": cache_dir,
                "max_prompt_length": max_prompt_length,
                "filter_overlong_prompts": False,  # verl would drop failing rows silently; we report them instead
                "apply_chat_template_kwargs": kwargs,
            }
        )
        pipeline = _make_pipeline(path, processor_dir, config, kwargs)
        report = ValidationReport(path=path, n_rows=len(pipeline.dataset), max_prompt_length=max_prompt_length)
        checked = report.n_rows if max_rows is None else min(report.n_rows, max_rows)
        for row in tqdm(range(checked), desc=f"validating {path.name}", unit="row", disable=not progress):
            raw = pipeline.dataset.dataframe[row]
            length, problems = _check_row(pipeline, row, raw, max_prompt_length)
            report.lengths.append(length)
            report.problems += [Problem(row, kind, reason, **_row_labels(raw)) for kind, reason in problems]
    return report


def format_report(report: ValidationReport, *, max_problems: int = 20) -> Group:
    """A summary table and the first ``max_problems`` problems, one line each."""
    stats = report.length_stats()
    summary = Table(title=Text(str(report.path)), show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("rows", str(report.n_rows))
    summary.add_row("prompt tokens", "  ".join(f"{name} {value}" for name, value in stats.items()) or "none measured")
    summary.add_row("max_prompt_length", str(report.max_prompt_length))
    summary.add_row("filter_overlong_prompts drops", str(report.verl_filter_drops))
    verdict = Text("ok", style="green") if report.ok else Text(f"{len(report.problems)} problem(s)", style="red")
    summary.add_row("result", verdict)
    if report.ok:
        return Group(summary)
    shown = report.problems[:max_problems]
    hidden = len(report.problems) - len(shown)
    problems = Table(title="problems", caption=f"{hidden} more not shown (--max-problems)" if hidden else None)
    for column in ("row", "index", "query image", "check", "reason"):
        problems.add_column(column, overflow="fold")
    for problem in shown:
        index = "" if problem.index is None else str(problem.index)
        problems.add_row(str(problem.row), index, Text(problem.query_image or ""), problem.kind, Text(problem.reason))
    return Group(summary, problems)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="parquet prompt file")
    parser.add_argument("--processor", type=Path, required=True, metavar="DIR", help="the policy's model folder")
    parser.add_argument(
        "--max-prompt-length", type=_positive_int, required=True, metavar="N", help="data.max_prompt_length"
    )
    parser.add_argument("--max-problems", type=_positive_int, default=20, metavar="N", help="problems to list (20)")


def make_console() -> Console:
    """A stdout console that prints whole lines into logs and pipes (rich would wrap them at 80 columns)."""
    return Console(width=None if sys.stdout.isatty() else 160)


def run(args: argparse.Namespace) -> int:
    """0 when every row is fine, 1 when any row has a problem, 2 when the input cannot be checked."""
    try:
        report = validate_parquet(args.file, args.processor, args.max_prompt_length)
    except UnusableInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    make_console().print(format_report(report, max_problems=args.max_problems))
    return 0 if report.ok else 1
