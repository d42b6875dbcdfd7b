"""``iad-data`` / ``python -m data_prep``: build, inspect and validate parquet prompt files; convert SFT data.

Protocols:
  pair-binary  LAD-Reasoner. Reference + query, "Can you find any anomaly in the query image compared to the
               reference?", answer yes/no. Train: test images of chosen MVTec AD / VisA categories, references
               from their train/good. Test: MVTec LOCO test, references from LOCO train/good.
               Roots: --root mvtec_ad=... --root visa=... --root mvtec_loco=...
  single-ab    LR-IAD. One image, options (A) defect (B) normal. Train on every image of --dataset, test on the
               other dataset (visa -> mvtec_ad, mvtec_ad -> visa).
  pair3c       FAD-TQ MVTec-LOCO-AD-Pair3C. Reference + query, options (A) good (B) structural (C) logical.
               40 official test images per category and class for training (600), the rest for testing (968);
               references from train/good (train) and validation/good (test).
  mmad         MMAD (jam-cc/MMAD). One row per question of <root>/mmad.json, the official prompt (or it with the
               think/answer format, --mmad-prompt r1), K normal templates (--references, --mmad-templates), options
               A-E; every question is a test row unless --holdout-categories makes a training split of the rest.
               Root: --root mmad=/data/MMAD (mmad.json, domain_knowledge.json, DS-MVTec/, MVTec-AD/, ...)

Examples:
  iad-data build --protocol pair3c --root mvtec_loco=/data/mvtec_loco --out data/pair3c
  iad-data build --protocol mmad --root mmad=/data/MMAD --mmad-prompt official --out data/mmad_1shot
  iad-data build --protocol single-ab --dataset visa --root visa=/data/VisA --root mvtec_ad=/data/mvtec \\
      --max-pixels 401408 --out data/visa2mvtec
  iad-data inspect data/pair3c/train.parquet --sheet pairs.png
  iad-data validate data/pair3c/train.parquet --processor /models/Qwen2.5-VL-3B-Instruct --max-prompt-length 2048
  iad-data sft --mmad /data/MMAD/mmad.json --dataset mvtec_ad visa --root mvtec_ad=/data/mvtec \\
      --root visa=/data/VisA --exclude-eval data/lad_reasoner/test.parquet --max-pixels 401408 \\
      --out data/lad_reasoner_sft
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data_prep import inspection, leakage, sft, validate
from data_prep.build import BuildConfig, BuildResult, build
from data_prep.catalog import DATASETS
from data_prep.images import BadImageError
from data_prep.mmad import ROOT_KEY as MMAD_ROOT
from data_prep.mmad import MMADOptions
from data_prep.mmad_facts import TASKS, TEMPLATE_KINDS
from data_prep.prompts import MMAD_PROMPT_STYLES, PROTOCOLS
from data_prep.protocols import PAIR3C_TRAIN_PER_CLASS, SPLITS, ProtocolError
from data_prep.readers import DatasetLayoutError
from data_prep.sampling import REFERENCE_SAMPLING

PROG = "iad-data"


def _parse_roots(values: Sequence[str], datasets: Sequence[str]) -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(datasets) != 1:
                raise ProtocolError(f"--root {value}: name the dataset, e.g. --root mvtec_loco={value}")
            name, path = datasets[0], value
        if name not in (*DATASETS, MMAD_ROOT):
            valid = ", ".join((*DATASETS, MMAD_ROOT))
            raise ProtocolError(f"--root {value}: unknown dataset {name!r}; valid: {valid}")
        roots[name] = Path(path)
    return roots


def _add_build(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="write train.parquet, test.parquet and manifest.json for one protocol",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--root", action="append", default=[], metavar="DATASET=PATH", help="a dataset root (repeat)")
    parser.add_argument("--dataset", nargs="+", choices=tuple(DATASETS), default=[], help="training dataset(s)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--categories", nargs="+", metavar="NAME", help="training categories (default: protocol's)")
    parser.add_argument("--test-categories", nargs="+", metavar="NAME", help="test categories (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pixels", type=int, help="downscale larger images to this many pixels (LR-IAD: 401408)")
    parser.add_argument("--workers", type=int, default=1, help="threads reading and resizing images")
    parser.add_argument("--references", type=int, default=1, metavar="K", help="references per query (k-shot)")
    parser.add_argument(
        "--reference-sampling",
        choices=REFERENCE_SAMPLING,
        default="random",
        help="random per query, or one fixed set per category",
    )
    parser.add_argument("--train-per-class", type=int, default=PAIR3C_TRAIN_PER_CLASS, help="pair3c training sample")
    parser.add_argument("--visa-split", default="1cls.csv", help="VisA split_csv file")
    parser.add_argument(
        "--single-ab-test-splits",
        nargs="+",
        choices=("train", "test"),
        default=["train", "test"],
        help="which official splits of the test dataset single-ab tests on",
    )
    parser.add_argument(
        "--grounding", action="store_true", help="ask for the defect's box; images in the processor's 28-pixel frame"
    )
    parser.add_argument(
        "--tools",
        action="store_true",
        help="rows for the inspection agent (zoom and reference tools, verl's multi-turn tool loop), with the "
        "reference pool and tools.yaml",
    )
    mmad = parser.add_argument_group("mmad")
    mmad.add_argument("--mmad-templates", choices=TEMPLATE_KINDS, default="random", help="MMAD's template list to use")
    mmad.add_argument("--tasks", nargs="+", choices=TASKS, metavar="TASK", help="only these question types")
    mmad.add_argument("--holdout-categories", nargs="+", metavar="NAME", help="test on these, train on the rest")
    mmad.add_argument("--domain-knowledge", action="store_true", help="put domain_knowledge.json in the prompt")
    mmad.add_argument(
        "--mmad-prompt", choices=MMAD_PROMPT_STYLES, default="r1", help="official (letter only) or with think/answer"
    )
    mmad.add_argument(
        "--against",
        type=Path,
        nargs="+",
        default=[],
        metavar="EVAL",
        help="refuse training rows whose images these hold",
    )
    mmad.add_argument("--allow-overlap", action="store_true", help="build even if training rows show test images")
    parser.add_argument("--skip-bad", action="store_true", help="skip rows with unreadable images (counted)")
    parser.add_argument("--overwrite", action="store_true")


def _mmad_options(args: argparse.Namespace) -> MMADOptions:
    return MMADOptions(
        references=args.references,
        templates=args.mmad_templates,
        tasks=tuple(args.tasks) if args.tasks else None,
        categories=tuple(args.categories) if args.categories else None,
        holdout_categories=tuple(args.holdout_categories) if args.holdout_categories else None,
        domain_knowledge=args.domain_knowledge,
        prompt_style=args.mmad_prompt,
        allow_overlap=args.allow_overlap,
        against=tuple(str(path) for path in args.against),
    )


def _config(args: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        protocol=args.protocol,
        roots=_parse_roots(args.root, args.dataset or (["mvtec_loco"] if args.protocol == "pair3c" else [])),
        out=args.out,
        datasets=tuple(args.dataset),
        categories=tuple(args.categories) if args.categories else None,
        test_categories=tuple(args.test_categories) if args.test_categories else None,
        seed=args.seed,
        max_pixels=args.max_pixels,
        workers=args.workers,
        references=args.references,
        reference_sampling=args.reference_sampling,
        train_per_class=args.train_per_class,
        visa_split=args.visa_split,
        single_ab_test_splits=tuple(args.single_ab_test_splits),
        skip_bad=args.skip_bad,
        overwrite=args.overwrite,
        grounding=args.grounding,
        tools=args.tools,
        mmad=_mmad_options(args),
    )


def summary_table(result: BuildResult, seconds: float) -> Table:
    """Rows per split and category (one column per answer class), with skipped rows and file sizes."""
    classes = sorted({cls for split in result.splits.values() for _, cls in split.counts})
    table = Table(title=f"{result.out} ({seconds:.1f} s)")
    for column in ("split", "category", *classes, "rows"):
        table.add_column(column, justify="left" if column in ("split", "category") else "right")
    for name in SPLITS:
        counts = result.splits[name].counts
        for category in sorted({category for category, _ in counts}):
            cells = [counts.get((category, cls), 0) for cls in classes]
            table.add_row(name, category, *map(str, cells), str(sum(cells)))
        totals = [sum(n for (_, cls), n in counts.items() if cls == wanted) for wanted in classes]
        table.add_row(name, "[bold]total[/bold]", *map(str, totals), str(sum(totals)), end_section=True)
    sizes = ", ".join(f"{name} {path.stat().st_size / 2**20:.1f} MiB" for name, path in result.files.items())
    skipped = sum(len(split.skipped) for split in result.splits.values())
    table.caption = f"{sizes}; {skipped} rows skipped for unreadable images"
    return table


def _run_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = build(_config(args))
    Console().print(summary_table(result, time.perf_counter() - started))
    for split in result.splits.values():
        for skipped in split.skipped:
            print(f"skipped {skipped['split']} row of {skipped['query']}: {skipped['image']}: {skipped['reason']}")
    return 0


SFT_DESCRIPTION = """\
Convert image-grounded Q/A into verl's multi-turn SFT parquet for VLMs (LAD-Reasoner's SFT stage): a `messages`
column of alternating user/assistant turns, the first user turn holding one <image> per image of the `images`
column; verl's MultiTurnSFTDataset puts the loss on the assistant turns only. Writes OUT/train.parquet and
OUT/manifest.json.

Inputs:
  --mmad FILE   MMAD-style annotations (mmad.json): {"MVTec-AD/bottle/test/broken_large/000.png":
                {"conversation": [{"Question", "Options": {"A": ..}, "Answer": "A", "type"}, ..]}, ..}; one row
                per image with its whole conversation. Prefixes MVTec-AD/, VisA/ (1cls or official layout),
                MVTec-LOCO/ map to mvtec_ad, visa, mvtec_loco, resolved against --root DATASET=PATH.
  --jsonl FILE  one {"image" or "images", "question", "answer", "dataset"?, "category"?} per line; one row per
                line; relative image paths are relative to --root-dir (default: the JSONL's folder).

Leakage: --exclude-eval FILE (test/train parquet of `iad-data build`) makes any row whose image the file uses an
error, or with --drop-leaking a dropped row counted in the manifest. Bad entries are errors unless --skip-bad.

Example:
  iad-data sft --mmad /data/MMAD/mmad.json --dataset mvtec_ad visa --root mvtec_ad=/data/mvtec \\
      --root visa=/data/VisA --exclude-eval data/lad_reasoner/test.parquet --max-pixels 401408 \\
      --out data/lad_reasoner_sft
"""


def _add_sft(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sft",
        help="convert MMAD-style annotations or a Q/A JSONL into verl's multi-turn SFT parquet",
        description=SFT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mmad", action="append", type=Path, default=[], metavar="FILE", help="MMAD-style JSON")
    parser.add_argument("--jsonl", action="append", type=Path, default=[], metavar="FILE", help="Q/A JSONL")
    parser.add_argument("--root", action="append", default=[], metavar="DATASET=PATH", help="a dataset root (repeat)")
    parser.add_argument("--root-dir", type=Path, help="folder JSONL image paths are relative to")
    parser.add_argument(
        "--dataset", nargs="+", choices=tuple(DATASETS), default=[], help="keep only these datasets (others counted)"
    )
    parser.add_argument(
        "--exclude-eval", action="append", type=Path, default=[], metavar="FILE", help="evaluation parquet (repeat)"
    )
    parser.add_argument("--drop-leaking", action="store_true", help="drop rows whose images are in --exclude-eval")
    parser.add_argument("--skip-bad", action="store_true", help="skip malformed entries (counted by reason)")
    parser.add_argument(
        "--answer", choices=sft.ANSWER_STYLES, default="letter", help="MMAD answers: the letter, or letter and text"
    )
    parser.add_argument("--max-pixels", type=int, help="downscale larger images to this many pixels")
    parser.add_argument("--workers", type=int, default=1, help="threads reading images")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true")


def _run_sft(args: argparse.Namespace) -> int:
    config = sft.SFTConfig(
        out=args.out,
        mmad=tuple(args.mmad),
        jsonl=tuple(args.jsonl),
        roots=_parse_roots(args.root, args.dataset),
        root_dir=args.root_dir,
        datasets=tuple(args.dataset),
        exclude_eval=tuple(args.exclude_eval),
        drop_leaking=args.drop_leaking,
        skip_bad=args.skip_bad,
        answer_style=args.answer,
        max_pixels=args.max_pixels,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # printed below, once, in the CLI's words
        result = sft.convert(config)
    for message in result.messages:
        print(f"{PROG} sft: warning: {message}", file=sys.stderr)
    print(sft.summary(result))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=PROG, description="Parquet prompt files for the three papers' protocols.")
    subparsers = root.add_subparsers(dest="command", required=True)
    _add_build(subparsers)
    inspection.add_arguments(subparsers.add_parser("inspect", help="counts, a rendered prompt, a pair sheet (PNG)"))
    validate.add_arguments(
        subparsers.add_parser("validate", help="load through verl's RLHFDataset and report rows verl would reject")
    )
    _add_sft(subparsers)
    leakage_parser = subparsers.add_parser(
        "leakage", help="images of a training parquet that an evaluation parquet also holds (exit 1 if any)"
    )
    leakage_parser.add_argument("train", type=Path, help="a parquet written by iad-data build (any protocol)")
    leakage_parser.add_argument("--against", type=Path, nargs="+", required=True, metavar="EVAL", help="parquet(s)")
    return root


def _run_leakage(args: argparse.Namespace) -> int:
    found = False
    for against in args.against:
        for path in (args.train, against):
            if not path.is_file():
                raise ProtocolError(f"{path} does not exist: pass parquet files written by iad-data build")
        overlap = leakage.find_overlap(args.train, against)
        print(leakage.describe(overlap, args.train, against))
        found = found or bool(overlap)
    return 1 if found else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    runners = {
        "build": _run_build,
        "inspect": inspection.run,
        "validate": validate.run,
        "sft": _run_sft,
        "leakage": _run_leakage,
    }
    try:
        return runners[args.command](args)
    except (ProtocolError, DatasetLayoutError, BadImageError, FileExistsError, sft.SFTError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
