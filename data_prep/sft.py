"""SFT data for LAD-Reasoner's first stage: image-grounded Q/A in verl's multi-turn SFT format for VLMs.

LAD-Reasoner (Sec. 4.1.1, 5.2) fine-tunes Qwen2.5-VL-3B on ~3k image-grounded QA pairs from the test sets of
MVTec AD and VisA, built with MMAD's annotations as priors. This module converts two kinds of input:

- MMAD-style annotations (https://github.com/jam-cc/MMAD, ``mmad.json``): one JSON object keyed by the image path
  relative to the MMAD root (``MVTec-AD/bottle/test/broken_large/000.png``), each value holding a
  ``conversation`` list of ``{"Question", "Options": {"A": ..., ...}, "Answer": "A", "type"}``. One image's
  conversation becomes one row of alternating user/assistant turns. Other keys (``mask_path``,
  ``similar_templates``, ``random_templates``) are ignored.
- a JSONL of Q/A pairs, one row per line: ``{"image": path}`` or ``{"images": [paths]}`` (absolute, or relative to
  ``root_dir``, by default the JSONL's folder), ``"question"``, ``"answer"``, optional ``"dataset"``,
  ``"category"``.

Rows follow what verl 0.9.1's ``MultiTurnSFTDataset`` (``verl/utils/dataset/multiturn_sft_dataset.py``) reads:
``messages`` (its default ``messages_key``), a list of ``{"role", "content"}`` whose string contents carry one
``<image>`` per image of ``images`` (its default ``image_key``, a list of ``{"bytes": ...}``), in order; it splits
contents on ``<image>``, turns each into the row's next image, and asserts that every image was used. Loss goes to
assistant turns only (``_process_single_message``: ``loss_mask`` is zero for user turns and for the assistant's
generation prompt). No ``tools`` column is written, so no tool schema is rendered. Our metadata is in
``extra_info``, which verl does not read.

Every image is keyed by its dataset and its path relative to that dataset's root as ``data_prep.readers`` names it
(VisA in the official ``<cat>/Data/Images/{Normal,Anomaly}/`` layout even when the files are read from the
``1cls`` layout MMAD uses), so rows can be checked against ``iad-data build``'s evaluation files for leakage.

Malformed entries stop the conversion with the key and the problem, or with ``skip_bad`` are skipped and counted
by reason; nothing is dropped silently. Output is ``train.parquet`` and ``manifest.json``, written under temporary
names and moved into place only when both are complete; rows are sorted by dataset and image, so the same inputs
give byte-identical files.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep import outputs
from data_prep.catalog import DATASETS
from data_prep.images import BadImageError, LoadedImage, load_image
from data_prep.prompts import IMAGE_PLACEHOLDER, role_prefix

TRAIN_NAME: Final = "train.parquet"
CHUNK_ROWS: Final = 32
VIDEO_PLACEHOLDER: Final = "<video>"  # verl splits contents on this too
MMAD: Final = "mmad"
JSONL: Final = "jsonl"
ANSWER_STYLES: Final = ("letter", "letter-text")  # "A", or "A. Yes."
LEAK_EXAMPLES: Final = 5
SKIPPED_SHOWN: Final = 20  # skipped entries the CLI lists one by one; the manifest has them all

# MMAD's folder names for the datasets this project reads (its DS-MVTec and GoodsAD are not among them).
MMAD_PREFIXES: Final = MappingProxyType({"MVTec-AD": "mvtec_ad", "VisA": "visa", "MVTec-LOCO": "mvtec_loco"})

# Reasons an entry is skipped under ``skip_bad`` (the manifest counts them under these names).
NOT_A_DICT: Final = "not_a_dict"
BAD_JSON: Final = "bad_json"
UNKNOWN_DATASET: Final = "unknown_dataset"
UNKNOWN_CATEGORY: Final = "unknown_category"
NO_CONVERSATION: Final = "no_conversation"
BAD_QUESTION: Final = "bad_question"
BAD_OPTIONS: Final = "bad_options"
BAD_ANSWER: Final = "bad_answer"
ANSWER_NOT_IN_OPTIONS: Final = "answer_not_in_options"
PLACEHOLDER_IN_TEXT: Final = "placeholder_in_text"
NO_IMAGE: Final = "no_image"
MISSING_IMAGE: Final = "missing_image"
BAD_IMAGE: Final = "bad_image"

# VisA as MMAD holds it: spot-diff's prepare_data.py "1cls" layout, which keeps the original file names.
_VISA_1CLS: Final = re.compile(r"^(?P<category>[^/]+)/(?:train|test)/(?P<label>good|bad)/(?P<name>[^/]+)$")
_VISA_FOLDERS: Final = MappingProxyType({"good": "Normal", "bad": "Anomaly"})

SFT_EXTRA_INFO_TYPE: Final = pa.struct(
    [
        ("index", pa.int64()),
        ("source", pa.string()),  # mmad | jsonl
        ("source_key", pa.string()),  # the MMAD key, or <jsonl file name>:<line>
        ("dataset", pa.string()),  # mvtec_ad | visa | mvtec_loco; null for images under no --root
        ("category", pa.string()),
        ("image", pa.string()),  # the first image: relative to its dataset root, else the path as given
        ("image_paths", pa.list_(pa.string())),  # every image of ``images``, in order
        ("n_turns", pa.int64()),  # question/answer pairs
        ("question_types", pa.list_(pa.string())),  # MMAD's "type" per turn; empty for jsonl
    ]
)
SFT_SCHEMA: Final = pa.schema(
    [
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary())]))),
        ("extra_info", SFT_EXTRA_INFO_TYPE),
    ]
)


class SFTError(ValueError):
    """The inputs cannot be converted as asked; the message names the entry or option to fix."""


class LeakageError(SFTError):
    """SFT rows use images that an evaluation file also uses."""


@dataclass(frozen=True)
class SFTConfig:
    """Everything a conversion depends on; it is written to the manifest as given."""

    out: Path
    mmad: tuple[Path, ...] = ()
    jsonl: tuple[Path, ...] = ()
    roots: Mapping[str, Path] = field(default_factory=dict)
    root_dir: Path | None = None  # JSONL relative image paths; default: each JSONL file's folder
    datasets: tuple[str, ...] = ()  # keep only these datasets' entries (others are counted as excluded)
    exclude_eval: tuple[Path, ...] = ()  # evaluation parquet files of `iad-data build`
    drop_leaking: bool = False
    skip_bad: bool = False
    answer_style: str = "letter"
    max_pixels: int | None = None
    workers: int = 1
    overwrite: bool = False


@dataclass(frozen=True)
class Entry:
    """One planned row: its conversation, and where its images come from and are known as."""

    source: str
    source_key: str
    order: tuple[Any, ...]
    dataset: str | None
    category: str | None
    files: tuple[Path, ...]  # what is read
    images: tuple[tuple[str | None, str], ...]  # (dataset, path relative to its root), or (None, path as given)
    messages: tuple[tuple[str, str], ...]  # (role, content)
    question_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    source: str
    key: str
    reason: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "key": self.key, "reason": self.reason, "detail": self.detail}


@dataclass
class SFTResult:
    out: Path
    files: dict[str, Path]
    rows: int = 0
    turns: int = 0
    counts: Counter = field(default_factory=Counter)  # "dataset/category" -> rows
    skipped: list[Problem] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)  # MMAD prefix or dataset -> entries left out by `datasets`
    dropped_leaking: list[dict[str, Any]] = field(default_factory=list)
    unchecked_rows: int = 0  # rows with an image under no dataset root: not checkable for leakage
    messages: list[str] = field(default_factory=list)  # warnings, also issued through `warnings`

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(problem.reason for problem in self.skipped).items()))


class _Bad(Exception):
    """An entry that cannot become a row; caught per entry and turned into a ``Problem``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# ----------------------------------------------------------------------------------------------------------------
# Paths


def visa_official_path(relative: str) -> str:
    """``cat/test/bad/000.JPG`` (MMAD's 1cls layout) -> ``cat/Data/Images/Anomaly/000.JPG``; others unchanged."""
    match = _VISA_1CLS.match(relative)
    if match is None:
        return relative
    return f"{match['category']}/Data/Images/{_VISA_FOLDERS[match['label']]}/{match['name']}"


def canonical_path(dataset: str, relative: str) -> str:
    """The path ``data_prep.readers`` gives this image, which evaluation files name it by."""
    return visa_official_path(relative) if dataset == "visa" else relative


def _candidates(dataset: str, root: Path, relative: str) -> list[Path]:
    paths = [root / relative, root / canonical_path(dataset, relative)]
    return list(dict.fromkeys(paths))


def _resolve(dataset: str, root: Path, relative: str) -> Path:
    tried = _candidates(dataset, root, relative)
    for path in tried:
        if path.is_file():
            return path
    raise _Bad(MISSING_IMAGE, f"image not found; tried {' and '.join(map(str, tried))}")


def _dataset_key(path: Path, roots: Mapping[str, Path], dataset: str | None) -> tuple[str, str] | None:
    """(dataset, canonical relative path) of a file under one of the roots, or None."""
    resolved = path.resolve()
    for name, root in sorted(roots.items()):
        if dataset is not None and name != dataset:
            continue
        try:
            relative = resolved.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
        return name, canonical_path(name, relative)
    return None


# ----------------------------------------------------------------------------------------------------------------
# Text


def _check_text(value: Any, reason: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(reason, f"{what} must be a non-empty string, got {value!r:.80}")
    for placeholder in (IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER):
        if placeholder in value:
            raise _Bad(PLACEHOLDER_IN_TEXT, f"{what} contains {placeholder}, which verl would replace by a row's media")
    return value.strip()


def _options_text(options: Mapping[str, str]) -> str:
    return " ".join(f"({key}) {text}" for key, text in options.items())


def _mmad_turns(conversation: Any, answer_style: str) -> tuple[list[tuple[str, str]], list[str]]:
    if not isinstance(conversation, list) or not conversation:
        raise _Bad(NO_CONVERSATION, f"'conversation' must be a non-empty list, got {conversation!r:.80}")
    messages: list[tuple[str, str]] = []
    types: list[str] = []
    for number, turn in enumerate(conversation, start=1):
        where = f"question {number}"
        if not isinstance(turn, dict):
            raise _Bad(BAD_QUESTION, f"{where} must be an object, got {turn!r:.80}")
        question = _check_text(turn.get("Question"), BAD_QUESTION, f"{where}'s Question")
        options = turn.get("Options")
        if not isinstance(options, dict) or not options:
            raise _Bad(BAD_OPTIONS, f"{where}'s Options must be a non-empty object, got {options!r:.80}")
        checked = {
            _check_text(key, BAD_OPTIONS, f"{where}'s option key"): _check_text(
                text, BAD_OPTIONS, f"{where}'s option {key!r}"
            )
            for key, text in options.items()
        }
        answer = turn.get("Answer")
        if not isinstance(answer, str) or answer.strip() not in checked:
            raise _Bad(ANSWER_NOT_IN_OPTIONS, f"{where}'s Answer {answer!r} is not one of its Options {list(checked)}")
        answer = answer.strip()
        reply = answer if answer_style == "letter" else f"{answer}. {checked[answer]}"
        messages += [("user", f"{question}\nOptions: {_options_text(checked)}"), ("assistant", reply)]
        types.append(str(turn.get("type", "")))
    first_role, first_content = messages[0]
    messages[0] = (first_role, role_prefix(0) + first_content)
    return messages, types


def _with_placeholders(question: str, n_images: int) -> str:
    """The user turn of a JSONL row: the question's own ``<image>`` placeholders, or one per image before it."""
    found = question.count(IMAGE_PLACEHOLDER)
    if VIDEO_PLACEHOLDER in question:
        raise _Bad(PLACEHOLDER_IN_TEXT, f"question contains {VIDEO_PLACEHOLDER}, which verl would take for a video")
    if found == 0:
        return role_prefix(0) + question if n_images == 1 else IMAGE_PLACEHOLDER * n_images + "\n" + question
    if found != n_images:
        raise _Bad(PLACEHOLDER_IN_TEXT, f"question has {found} {IMAGE_PLACEHOLDER} placeholders for {n_images} images")
    return question


# ----------------------------------------------------------------------------------------------------------------
# Reading the inputs


@dataclass
class _Plan:
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)


def _selected(config: SFTConfig, dataset: str | None) -> bool:
    return not config.datasets or dataset in config.datasets


def _root_for(config: SFTConfig, dataset: str, where: str) -> Path:
    if dataset not in config.roots:
        raise SFTError(
            f"{where} is a {dataset} image: pass --root {dataset}=PATH, or keep other datasets only with --dataset"
        )
    return Path(config.roots[dataset])


def _load_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise SFTError(f"cannot read {path}: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise SFTError(f"{path} is not valid JSON: {error}") from error


def _read_mmad(config: SFTConfig, path: Path, plan: _Plan) -> None:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise SFTError(f"{path}: expected one JSON object keyed by image path (MMAD's mmad.json), got {type(data)}")
    for key, value in data.items():
        prefix, _, relative = str(key).partition("/")
        dataset = MMAD_PREFIXES.get(prefix)
        if config.datasets and dataset not in config.datasets:
            plan.excluded[prefix] += 1
            continue
        try:
            if dataset is None or not relative:
                raise _Bad(
                    UNKNOWN_DATASET,
                    f"path must start with one of {', '.join(p + '/' for p in MMAD_PREFIXES)} followed by the "
                    "dataset's own relative path (pass --dataset to keep some datasets and count the rest)",
                )
            category = relative.split("/")[0]
            if category not in DATASETS[dataset]:
                raise _Bad(UNKNOWN_CATEGORY, f"{category!r} is not a {dataset} category")
            if not isinstance(value, dict):
                raise _Bad(NOT_A_DICT, f"value must be an object with a 'conversation', got {type(value).__name__}")
            messages, types = _mmad_turns(value.get("conversation"), config.answer_style)
            file = _resolve(dataset, _root_for(config, dataset, f"{path}: entry {key!r}"), relative)
        except _Bad as bad:
            plan.problems.append(Problem(f"{path}", str(key), bad.reason, bad.detail))
            continue
        image = canonical_path(dataset, relative)
        order = (dataset, image, 0, str(key), 0)
        plan.entries.append(
            Entry(MMAD, str(key), order, dataset, category, (file,), ((dataset, image),), tuple(messages), tuple(types))
        )


def _jsonl_images(record: dict[str, Any]) -> list[str]:
    if "image" in record and "images" in record:
        raise _Bad(NO_IMAGE, "give either 'image' or 'images', not both")
    images = record["images"] if "images" in record else [record["image"]] if "image" in record else None
    if not isinstance(images, list) or not images or not all(isinstance(i, str) and i.strip() for i in images):
        raise _Bad(NO_IMAGE, f"'image' must be a path or 'images' a non-empty list of paths, got {images!r:.80}")
    return images


def _jsonl_entry(config: SFTConfig, record: Any, base: Path, source_key: str, order: tuple) -> Entry:
    if not isinstance(record, dict):
        raise _Bad(NOT_A_DICT, f"line must be a JSON object, got {type(record).__name__}")
    given_dataset = record.get("dataset")
    if given_dataset is not None and given_dataset not in DATASETS:
        raise _Bad(UNKNOWN_DATASET, f"dataset {given_dataset!r} is not one of {', '.join(DATASETS)}")
    images = _jsonl_images(record)
    question = _with_placeholders(_jsonl_question(record.get("question")), len(images))
    answer = _check_text(record.get("answer"), BAD_ANSWER, "answer")
    files: list[Path] = []
    keys: list[tuple[str | None, str]] = []
    for image in images:
        file = Path(image) if Path(image).is_absolute() else base / image
        if not file.is_file():
            raise _Bad(MISSING_IMAGE, f"image not found: {file}")
        files.append(file)
        keys.append(_dataset_key(file, config.roots, given_dataset) or (None, image))
    dataset = given_dataset or keys[0][0]
    category = record.get("category")
    if category is None and dataset is not None and keys[0][0] == dataset:
        category = keys[0][1].split("/")[0]
    if dataset is not None and category is not None and category not in DATASETS[dataset]:
        raise _Bad(UNKNOWN_CATEGORY, f"{category!r} is not a {dataset} category")
    messages = (("user", question), ("assistant", answer))
    return Entry(JSONL, source_key, order, dataset, category, tuple(files), tuple(keys), messages)


def _jsonl_question(value: Any) -> str:
    """Like ``_check_text``, but ``<image>`` placeholders are allowed: they say where the images go."""
    if not isinstance(value, str) or not value.strip():
        raise _Bad(BAD_QUESTION, f"question must be a non-empty string, got {value!r:.80}")
    return value.strip()


def _read_jsonl(config: SFTConfig, path: Path, plan: _Plan) -> None:
    base = Path(config.root_dir) if config.root_dir is not None else path.parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SFTError(f"cannot read {path}: {error.strerror or error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        source_key = f"{path.name}:{number}"
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise _Bad(BAD_JSON, f"not valid JSON: {error}") from error
            entry = _jsonl_entry(config, record, base, source_key, ())
        except _Bad as bad:
            plan.problems.append(Problem(str(path), source_key, bad.reason, bad.detail))
            continue
        if not _selected(config, entry.dataset):
            plan.excluded[entry.dataset or "no dataset"] += 1
            continue
        order = (entry.dataset or "", entry.images[0][1], 1, path.name, number)
        plan.entries.append(replace(entry, order=order))


def _entry_keys(entry: Entry) -> list[tuple[str, str]]:
    """(dataset, canonical path) of each image under a dataset root."""
    return [(dataset, path) for dataset, path in entry.images if dataset is not None]


def _display_keys(entry: Entry) -> list[str]:
    return [path for _, path in entry.images]


def plan_entries(config: SFTConfig) -> _Plan:
    """Read every input, in the order given; each entry becomes an ``Entry`` or a ``Problem``."""
    if not config.mmad and not config.jsonl:
        raise SFTError("nothing to convert: give MMAD annotations (--mmad FILE) and/or a JSONL (--jsonl FILE)")
    if config.answer_style not in ANSWER_STYLES:
        raise SFTError(f"unknown answer style {config.answer_style!r}; valid: {', '.join(ANSWER_STYLES)}")
    unknown = sorted(set(config.datasets) - set(DATASETS))
    if unknown:
        raise SFTError(f"unknown datasets {unknown}; valid: {', '.join(DATASETS)}")
    for name, root in sorted(config.roots.items()):
        if not Path(root).is_dir():
            raise SFTError(f"--root {name}={root}: not a directory")
    plan = _Plan()
    for path in config.mmad:
        _read_mmad(config, Path(path), plan)
    for path in config.jsonl:
        _read_jsonl(config, Path(path), plan)
    plan.entries.sort(key=lambda entry: entry.order)
    return plan


def _raise_problems(problems: Sequence[Problem]) -> None:
    first = problems[0]
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(Counter(p.reason for p in problems).items()))
    more = f"; {len(problems)} bad entries in all ({reasons})" if len(problems) > 1 else ""
    raise SFTError(
        f"{first.source}: entry {first.key!r}: {first.reason}: {first.detail}{more}. "
        "Pass --skip-bad to skip bad entries and count them by reason"
    )


# ----------------------------------------------------------------------------------------------------------------
# Leakage


def evaluation_images(path: Path) -> set[tuple[str, str]]:
    """(dataset, relative path) of every query and reference image in an `iad-data build` parquet file."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise SFTError(f"--exclude-eval {path}: cannot read it as parquet: {error}") from error
    needed = ("dataset", "query_image", "reference_images")
    if "extra_info" not in schema.names or any(
        schema.field("extra_info").type.get_field_index(name) < 0 for name in needed
    ):
        raise SFTError(
            f"--exclude-eval {path}: no extra_info.{{{','.join(needed)}}}; expected a test or train parquet written "
            "by `iad-data build`"
        )
    images: set[tuple[str, str]] = set()
    for info in pq.read_table(path, columns=["extra_info"]).column("extra_info").to_pylist():
        dataset = info["dataset"]
        images.update((dataset, image) for image in (info["query_image"], *info["reference_images"]) if image)
    return images


def _check_leakage(config: SFTConfig, entries: list[Entry], result: SFTResult) -> list[Entry]:
    if not config.exclude_eval:
        _warn(result, "no leakage check was done: pass --exclude-eval FILE with each evaluation parquet")
        return entries
    held_out: set[tuple[str, str]] = set()
    for path in config.exclude_eval:
        held_out |= evaluation_images(Path(path))
    leaking = [entry for entry in entries if any(key in held_out for key in _entry_keys(entry))]
    if leaking and not config.drop_leaking:
        shown = sorted({f"{d}/{p}" for entry in leaking for d, p in _entry_keys(entry) if (d, p) in held_out})
        examples = ", ".join(shown[:LEAK_EXAMPLES]) + (", ..." if len(shown) > LEAK_EXAMPLES else "")
        raise LeakageError(
            f"{len(leaking)} SFT rows use {len(shown)} images that the evaluation files "
            f"({', '.join(map(str, config.exclude_eval))}) also use: {examples}. "
            "Pass --drop-leaking to drop those rows (the manifest counts them)"
        )
    result.dropped_leaking = [{"source_key": entry.source_key, "images": _display_keys(entry)} for entry in leaking]
    unchecked = sum(1 for entry in entries if len(_entry_keys(entry)) < len(entry.images))
    if unchecked:
        result.unchecked_rows = unchecked
        _warn(
            result,
            f"{unchecked} rows have images under no --root and were not checked for leakage; give each JSONL image "
            "a path under its dataset's root",
        )
    dropped = {id(entry) for entry in leaking}
    return [entry for entry in entries if id(entry) not in dropped]


def _warn(result: SFTResult, message: str) -> None:
    result.messages.append(message)
    warnings.warn(message, UserWarning, stacklevel=4)


# ----------------------------------------------------------------------------------------------------------------
# Writing


def _row(entry: Entry, index: int, images: list[bytes]) -> dict[str, Any]:
    keys = _display_keys(entry)
    return {
        "messages": [{"role": role, "content": content} for role, content in entry.messages],
        "images": [{"bytes": data} for data in images],
        "extra_info": {
            "index": index,
            "source": entry.source,
            "source_key": entry.source_key,
            "dataset": entry.dataset,
            "category": entry.category,
            "image": keys[0],
            "image_paths": keys,
            "n_turns": len(entry.messages) // 2,
            "question_types": list(entry.question_types),
        },
    }


def _chunks(entries: Sequence[Entry], size: int) -> Iterator[Sequence[Entry]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _load(config: SFTConfig, file: Path) -> LoadedImage | BadImageError:
    try:
        return load_image(file, config.max_pixels)
    except BadImageError as error:
        return error


def _write_rows(config: SFTConfig, entries: Sequence[Entry], path: Path, result: SFTResult) -> dict[str, dict]:
    sources: dict[str, dict[str, str]] = {}
    with (
        ThreadPoolExecutor(max(1, config.workers)) as pool,
        outputs.open_parquet(path, SFT_SCHEMA) as writer,
    ):
        for chunk in _chunks(entries, CHUNK_ROWS):
            loaded = list(pool.map(lambda entry: [_load(config, file) for file in entry.files], chunk))
            rows = []
            for entry, items in zip(chunk, loaded, strict=True):
                bad = next((item for item in items if isinstance(item, BadImageError)), None)
                if bad is not None:
                    if not config.skip_bad:
                        raise BadImageError(
                            bad.path, f"{bad.reason} (entry {entry.source_key!r}; pass --skip-bad to skip and count it)"
                        )
                    result.skipped.append(Problem(entry.source, entry.source_key, BAD_IMAGE, str(bad)))
                    continue
                for key, item in zip(_display_keys(entry), items, strict=True):
                    sources.setdefault(entry.dataset or "external", {})[key] = item.source_sha256
                rows.append(_row(entry, result.rows, [item.data for item in items]))
                result.rows += 1
                result.turns += len(entry.messages) // 2
                result.counts[f"{entry.dataset or 'external'}/{entry.category or 'unknown'}"] += 1
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=SFT_SCHEMA))
    return sources


def _input_entry(path: Path) -> dict[str, Any]:
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": outputs.sha256_of(path)}


def _manifest(config: SFTConfig, result: SFTResult, temp: Path, sources: Mapping[str, dict]) -> dict[str, Any]:
    arguments = {key: value for key, value in asdict(config).items() if key not in ("out", "overwrite")}
    arguments = json.loads(json.dumps(arguments, default=str))
    arguments["roots"] = {name: str(root) for name, root in sorted(config.roots.items())}
    return {
        "tool": "iad-reasoner data_prep sft",
        "format": "verl MultiTurnSFTDataset (messages_key=messages, image_key=images); loss on assistant turns",
        "arguments": arguments,
        "libraries": outputs.library_versions(),
        "inputs": {
            "mmad": [_input_entry(Path(path)) for path in config.mmad],
            "jsonl": [_input_entry(Path(path)) for path in config.jsonl],
            "exclude_eval": [_input_entry(Path(path)) for path in config.exclude_eval],
        },
        "files": {TRAIN_NAME: outputs.file_entry(temp, result.rows)},
        "counts": {"rows": result.rows, "turns": result.turns, "by_category": dict(sorted(result.counts.items()))},
        "skipped_by_reason": result.skipped_by_reason,
        "skipped": [problem.as_dict() for problem in result.skipped],
        "excluded_by_dataset": dict(sorted(result.excluded.items())),
        "leakage": {
            "checked_against": [str(path) for path in config.exclude_eval],
            "dropped_rows": len(result.dropped_leaking),
            "dropped": result.dropped_leaking,
            "unchecked_rows": result.unchecked_rows,
        },
        "warnings": result.messages,
        "sources": {dataset: dict(sorted(files.items())) for dataset, files in sorted(sources.items())},
    }


def convert(config: SFTConfig) -> SFTResult:
    """Read, check, write ``train.parquet`` and ``manifest.json``; nothing appears in ``out`` unless all succeed."""
    files = {"train": config.out / TRAIN_NAME, "manifest": config.out / outputs.MANIFEST_NAME}
    outputs.check_overwrite(files.values(), config.overwrite)
    plan = plan_entries(config)
    if plan.problems and not config.skip_bad:
        _raise_problems(plan.problems)
    result = SFTResult(config.out, files, skipped=list(plan.problems), excluded=plan.excluded)
    entries = _check_leakage(config, plan.entries, result)
    with outputs.commit_together(files) as temps:
        sources = _write_rows(config, entries, temps["train"], result)
        if result.rows == 0:
            raise SFTError("no rows left to write: " + _summary_line(result))
        manifest = _manifest(config, result, temps["train"], sources)
        temps["manifest"].write_text(json.dumps(manifest, indent=1) + "\n")
    return result


def _summary_line(result: SFTResult) -> str:
    skipped = ", ".join(f"{reason} {n}" for reason, n in result.skipped_by_reason.items()) or "none"
    excluded = ", ".join(f"{name} {n}" for name, n in sorted(result.excluded.items())) or "none"
    return (
        f"{result.rows} rows, {result.turns} question/answer turns; skipped: {skipped}; excluded by --dataset: "
        f"{excluded}; dropped for leakage: {len(result.dropped_leaking)}"
    )


def summary(result: SFTResult) -> str:
    """What the CLI prints: counts per category, skipped entries by reason, exclusions and leakage drops."""
    lines = [f"{result.files['train']}: {_summary_line(result)}"]
    lines += [f"  {name}: {n} rows" for name, n in sorted(result.counts.items())]
    lines += [f"skipped {p.reason}: {p.source}: {p.key}: {p.detail}" for p in result.skipped[:SKIPPED_SHOWN]]
    if len(result.skipped) > SKIPPED_SHOWN:
        lines.append(
            f"... and {len(result.skipped) - SKIPPED_SHOWN} more skipped entries, all listed in {outputs.MANIFEST_NAME}"
        )
    return "\n".join(lines)
