"""Build one protocol's train and test parquet files and their manifest, reproducibly and atomically.

Rows are written in chunks (bounded memory at real resolutions), images are read by a thread pool in a fixed
order, and every output is first written to a temporary name and moved into place only when all of them are
complete: a failure leaves the output folder as it was.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from data_prep.boxes import boxes_from_masks
from data_prep.catalog import DATASETS
from data_prep.images import BadImageError, ImageCache, LoadedImage, load_image
from data_prep.mmad import MMADOptions, plan_mmad
from data_prep.outputs import (
    MANIFEST_NAME,
    check_overwrite,
    commit_together,
    file_entry,
    library_versions,
    open_parquet,
)
from data_prep.prompts import MMAD, PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB, render_prompt, tools_system_prompt
from data_prep.protocols import (
    PAIR3C_TRAIN_PER_CLASS,
    PAIR_BINARY_DEFAULT_CATEGORIES,
    SINGLE_AB_PAIRS,
    SPLITS,
    ProtocolError,
    RowPlan,
    check_disjoint,
    plan_pair3c,
    plan_pair_binary,
    plan_single_ab,
)
from data_prep.readers import read_dataset
from data_prep.schema import INSPECTION_AGENT, ROW_SCHEMA, TOOLS_ROW_SCHEMA, make_row
from data_prep.tools import POOL_NAME, TOOL_CLASSES, TOOL_CONFIG_NAME, tool_config_text, write_reference_pool

CHUNK_ROWS: Final = 32


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build depends on; it is written to the manifest as given."""

    protocol: str
    roots: Mapping[str, Path]
    out: Path
    datasets: tuple[str, ...] = ()  # training datasets: pair-binary (mvtec_ad, visa), single-ab (one of them)
    categories: tuple[str, ...] | None = None  # training categories
    test_categories: tuple[str, ...] | None = None
    seed: int = 0
    max_pixels: int | None = None
    workers: int = 1
    references: int = 1
    reference_sampling: str = "random"
    train_per_class: int = PAIR3C_TRAIN_PER_CLASS
    visa_split: str = "1cls.csv"
    single_ab_test_splits: tuple[str, ...] = ("train", "test")
    skip_bad: bool = False
    overwrite: bool = False
    grounding: bool = False  # ask for the defect's box; images stored in the processor's frame (data_prep.boxes)
    tools: bool = False  # rows for the inspection agent (zoom, reference: agent_tools), its pool and tool config
    mmad: MMADOptions = MMADOptions()  # the mmad protocol's own choices (references and categories come from here)


@dataclass
class SplitResult:
    rows: int = 0
    counts: Counter = field(default_factory=Counter)  # (category, sample_class) -> rows
    skipped: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset -> relative path -> sha256
    source_bytes: int = 0


@dataclass(frozen=True)
class BuildResult:
    out: Path
    splits: Mapping[str, SplitResult]
    files: Mapping[str, Path]


# ----------------------------------------------------------------------------------------------------------------
# Reading the datasets and planning rows


def _root(config: BuildConfig, dataset: str) -> Path:
    if dataset not in config.roots:
        raise ProtocolError(f"{config.protocol} needs the {dataset} root: pass --root {dataset}=PATH")
    return Path(config.roots[dataset])


def _categories_for(dataset: str, requested: Sequence[str] | None) -> list[str] | None:
    if not requested:
        return None
    return [name for name in requested if name in DATASETS[dataset]] or None


def _check_category_names(config: BuildConfig, involved: Sequence[str]) -> None:
    for requested in (config.categories, config.test_categories):
        unknown = sorted(set(requested or ()) - {c for d in involved for c in DATASETS[d]})
        if unknown:
            valid = "; ".join(f"{d}: {', '.join(DATASETS[d])}" for d in involved)
            raise ProtocolError(f"unknown categories {unknown} for {config.protocol}; valid ones are {valid}")


def _read(config: BuildConfig, dataset: str, categories: Sequence[str] | None) -> pd.DataFrame:
    options = {"split_file": config.visa_split} if dataset == "visa" else {}
    return read_dataset(dataset, _root(config, dataset), _categories_for(dataset, categories), **options)


def _plan_pair_binary(config: BuildConfig) -> dict[str, list[RowPlan]]:
    """LAD-Reasoner: train on MVTec AD / VisA categories, test on MVTec LOCO, reference + query."""
    datasets = config.datasets or tuple(PAIR_BINARY_DEFAULT_CATEGORIES)
    _check_category_names(config, (*datasets, "mvtec_loco"))
    train = pd.concat(
        [_read(config, d, config.categories or PAIR_BINARY_DEFAULT_CATEGORIES.get(d)) for d in datasets],
        ignore_index=True,
    )
    common = {"k": config.references, "sampling": config.reference_sampling, "seed": config.seed}
    return plan_pair_binary(train, _read(config, "mvtec_loco", config.test_categories), **common)


def _plan_single_ab(config: BuildConfig) -> dict[str, list[RowPlan]]:
    """LR-IAD: one image, train on one of VisA / MVTec AD and test on the other."""
    if len(config.datasets) != 1 or config.datasets[0] not in SINGLE_AB_PAIRS:
        raise ProtocolError("single-ab trains on one dataset: --dataset visa (tests on mvtec_ad) or --dataset mvtec_ad")
    train_dataset = config.datasets[0]
    test_dataset = SINGLE_AB_PAIRS[train_dataset]
    _check_category_names(config, (train_dataset, test_dataset))
    return plan_single_ab(
        _read(config, train_dataset, config.categories),
        _read(config, test_dataset, config.test_categories),
        test_splits=config.single_ab_test_splits,
    )


def _plan_pair3c(config: BuildConfig) -> dict[str, list[RowPlan]]:
    """FAD-TQ: MVTec LOCO's good / structural / logical, reference + query."""
    if config.datasets not in ((), ("mvtec_loco",)):
        raise ProtocolError("pair3c is built from MVTec LOCO AD only: --dataset mvtec_loco")
    _check_category_names(config, ("mvtec_loco",))
    loco = _read(config, "mvtec_loco", config.categories or config.test_categories)
    common = {"k": config.references, "sampling": config.reference_sampling, "seed": config.seed}
    return plan_pair3c(loco, train_per_class=config.train_per_class, **common)


def _plan_mmad(config: BuildConfig) -> dict[str, list[RowPlan]]:
    """MMAD: one row per question of mmad.json (data_prep.mmad)."""
    if config.datasets:
        raise ProtocolError("mmad reads its own tree: give --root mmad=PATH, not --dataset")
    return plan_mmad(_root(config, "mmad"), replace(config.mmad, grounding=config.grounding))


# One entry per protocol: its planner reads the datasets it needs and checks the options that concern it; its
# prompt is data_prep.prompts.PROMPTS[name] (a new protocol is a prompt spec, a planner and a line here).
PLANNERS: Final[Mapping[str, Callable[[BuildConfig], dict[str, list[RowPlan]]]]] = MappingProxyType(
    {PAIR_BINARY: _plan_pair_binary, SINGLE_AB: _plan_single_ab, PAIR3C: _plan_pair3c, MMAD: _plan_mmad}
)


def plan_rows(config: BuildConfig) -> dict[str, list[RowPlan]]:
    """Read the datasets the protocol needs and decide every row."""
    if config.protocol not in PLANNERS:
        raise ProtocolError(f"unknown protocol {config.protocol!r}; valid protocols: {', '.join(PLANNERS)}")
    plans = PLANNERS[config.protocol](config)
    check_disjoint(plans)
    return plans


# ----------------------------------------------------------------------------------------------------------------
# Writing rows


def _row(
    plan: RowPlan, index: int, config: BuildConfig, images: list[bytes], boxes: list[list[int]], size: tuple[int, int]
) -> dict[str, Any]:
    protocol, question = config.protocol, plan.question
    if question is None:
        spec = PROMPTS[protocol]
        answer = spec.option_for_class(plan.sample_class)
        prompt = render_prompt(protocol, plan.category, len(plan.references), grounding=config.grounding)
        key, answer_text = answer.key, answer.text
        options = [{"key": o.key, "text": o.text} for o in spec.options]
    else:
        prompt, key, answer_text = question.prompt, question.answer, dict(question.options)[question.answer]
        options = [{"key": letter, "text": text} for letter, text in question.options]
    row = make_row(
        protocol=protocol,
        prompt_text=prompt,
        images=images,
        ground_truth=key,
        system_text=tools_system_prompt() if config.tools else None,
        extra_info={
            "split": plan.split,
            "index": index,
            "protocol": protocol,
            "dataset": plan.dataset,
            "category": plan.category,
            "label": plan.label,
            "sample_class": plan.sample_class,
            "defect_type": plan.defect_type,
            "anomaly_kind": plan.anomaly_kind,
            "answer_text": answer_text,
            "options": options,
            "query_image": plan.query,
            "reference_images": list(plan.references),
            "mask_images": list(plan.masks),
            "task": question.task if question else None,
            "question_id": question.question_id if question else None,
            "boxes": boxes,
            "query_size": list(size),
            "tools_kwargs": _tools_kwargs(plan) if config.tools else None,
        },
    )
    if config.tools:
        row["agent_name"] = INSPECTION_AGENT
    return row


def _tools_kwargs(plan: RowPlan) -> dict[str, Any]:
    """What each tool's ``create`` gets for this row: where the query is among its images, and its category."""
    return {
        "zoom": {"create_kwargs": {"query_index": len(plan.references)}},
        "reference": {"create_kwargs": {"category": plan.category}},
    }


def _chunks(plans: Sequence[RowPlan], size: int) -> Iterator[Sequence[RowPlan]]:
    for start in range(0, len(plans), size):
        yield plans[start : start + size]


class _Loader:
    """Loads chunks' distinct images through the pool, reusing cached references; ``prefetch`` starts the next
    chunk's loads so that reading overlaps with writing the current one."""

    def __init__(self, config: BuildConfig, pool: ThreadPoolExecutor) -> None:
        self.config = config
        self.pool = pool
        self.cache = ImageCache()
        self.pending: dict[tuple[str, str], Future] = {}

    def _load(self, key: tuple[str, str]) -> LoadedImage | BadImageError:
        try:
            return load_image(
                _root(self.config, key[0]) / key[1],
                self.config.max_pixels,
                patch_aligned=self.config.grounding or self.config.tools,  # zoom boxes share the model's frame
            )
        except BadImageError as error:
            return error

    @staticmethod
    def _keys(chunk: Sequence[RowPlan]) -> list[tuple[str, str]]:
        return list(dict.fromkeys((plan.dataset, image) for plan in chunk for image in plan.images()))

    def prefetch(self, chunk: Sequence[RowPlan]) -> None:
        for key in self._keys(chunk):
            if key not in self.pending and self.cache.get(key) is None:
                self.pending[key] = self.pool.submit(self._load, key)

    def load(self, chunk: Sequence[RowPlan]) -> dict[tuple[str, str], LoadedImage | BadImageError]:
        self.prefetch(chunk)
        found: dict[tuple[str, str], LoadedImage | BadImageError] = {}
        for key in self._keys(chunk):
            future = self.pending.pop(key, None)
            item = future.result() if future is not None else (self.cache.get(key) or self._load(key))
            if isinstance(item, LoadedImage):
                self.cache.put(key, item)
            found[key] = item
        return found


def _write_split(
    config: BuildConfig, plans: Sequence[RowPlan], path: Path, loader: _Loader, progress: tqdm
) -> SplitResult:
    result = SplitResult()
    chunks = list(_chunks(plans, CHUNK_ROWS))
    schema = TOOLS_ROW_SCHEMA if config.tools else ROW_SCHEMA
    with open_parquet(path, schema) as writer:
        for number, chunk in enumerate(chunks):
            images = loader.load(chunk)
            if number + 1 < len(chunks):
                loader.prefetch(chunks[number + 1])
            rows = []
            for plan in chunk:
                loaded = [images[(plan.dataset, image)] for image in plan.images()]
                bad = next((item for item in loaded if isinstance(item, BadImageError)), None)
                if bad is not None:
                    if not config.skip_bad:
                        raise BadImageError(bad.path, f"{bad.reason} (pass --skip-bad to skip its rows and count them)")
                    result.skipped.append(
                        {"split": plan.split, "query": plan.query, "image": str(bad.path), "reason": bad.reason}
                    )
                    continue
                for image, item in zip(plan.images(), loaded, strict=True):
                    sources = result.sources.setdefault(plan.dataset, {})
                    if image not in sources:
                        sources[image] = item.source_sha256
                        result.source_bytes += item.source_bytes
                query = loaded[-1]
                root = _root(config, plan.dataset)
                try:
                    boxes = boxes_from_masks((root / mask for mask in plan.masks), query.size)
                except OSError as error:
                    raise BadImageError(root / plan.masks[0], f"mask unreadable: {error}") from error
                rows.append(_row(plan, result.rows, config, [item.data for item in loaded], boxes, query.size))
                result.counts[(plan.category, plan.sample_class)] += 1
                result.rows += 1
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            progress.update(len(chunk))
    return result


# ----------------------------------------------------------------------------------------------------------------
# Manifest and the build itself


def _file_entries(
    config: BuildConfig, splits: Mapping[str, SplitResult], temps: Mapping[str, Path], pool_images: int
) -> dict[str, Any]:
    entries = {f"{name}.parquet": file_entry(temps[name], splits[name].rows) for name in SPLITS}
    if config.tools:  # rows: images in the pool, tools in the config
        entries[POOL_NAME] = file_entry(temps["pool"], pool_images)
        entries[TOOL_CONFIG_NAME] = file_entry(temps["tools"], len(TOOL_CLASSES))
    return entries


def _manifest(
    config: BuildConfig, splits: Mapping[str, SplitResult], temps: Mapping[str, Path], pool_images: int
) -> dict[str, Any]:
    arguments = {key: value for key, value in asdict(config).items() if key not in ("out", "overwrite")}
    arguments["roots"] = {name: str(root) for name, root in sorted(config.roots.items())}
    sources: dict[str, dict[str, str]] = {}
    for split in splits.values():
        for dataset, files in split.sources.items():
            sources.setdefault(dataset, {}).update(files)
    return {
        "tool": "iad-reasoner data_prep",
        "protocol": config.protocol,
        "prompt_source": PROMPTS[config.protocol].source,
        "seed": config.seed,
        "arguments": arguments,
        "libraries": library_versions(),
        "files": _file_entries(config, splits, temps, pool_images),
        "counts": {
            name: {f"{category}/{cls}": n for (category, cls), n in sorted(split.counts.items())}
            for name, split in splits.items()
        },
        "skipped_rows": {name: split.skipped for name, split in splits.items()},
        "sources": {dataset: dict(sorted(files.items())) for dataset, files in sorted(sources.items())},
    }


def build(config: BuildConfig) -> BuildResult:
    """Read, plan, write train/test parquet and the manifest; nothing appears in ``out`` unless all succeed."""
    files = {split: config.out / f"{split}.parquet" for split in SPLITS} | {"manifest": config.out / MANIFEST_NAME}
    if config.tools:
        files |= {"pool": config.out / POOL_NAME, "tools": config.out / TOOL_CONFIG_NAME}
    check_overwrite(files.values(), config.overwrite)
    plans = plan_rows(config)
    splits: dict[str, SplitResult] = {}
    with commit_together(files) as temps:
        total = sum(len(plans[split]) for split in SPLITS)
        with (
            ThreadPoolExecutor(max(1, config.workers)) as pool,
            tqdm(total=total, desc=f"{config.protocol} rows", unit="row", disable=None) as progress,
        ):
            loader = _Loader(config, pool)
            for split in SPLITS:
                splits[split] = _write_split(config, plans[split], temps[split], loader, progress)
        pool_images = 0
        if config.tools:  # the reference tool's images come from the training file only
            pool_images = write_reference_pool(temps["train"], temps["pool"])
            temps["tools"].write_text(tool_config_text(files["pool"]))
        manifest = _manifest(config, splits, temps, pool_images)
        temps["manifest"].write_text(json.dumps(manifest, indent=1) + "\n")
    return BuildResult(config.out, splits, files)
