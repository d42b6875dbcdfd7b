"""``iad-data`` / ``python -m data_prep``: build, inspect and validate parquet prompt files.

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

Examples:
  iad-data build --protocol pair3c --root mvtec_loco=/data/mvtec_loco --out data/pair3c
  iad-data build --protocol single-ab --dataset visa --root visa=/data/VisA --root mvtec_ad=/data/mvtec \\
      --max-pixels 401408 --out data/visa2mvtec
  iad-data inspect data/pair3c/train.parquet --sheet pairs.png
  iad-data validate data/pair3c/train.parquet --processor /models/Qwen2.5-VL-3B-Instruct --max-prompt-length 2048
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data_prep import inspection, validate
from data_prep.build import BuildConfig, BuildResult, build
from data_prep.catalog import DATASETS
from data_prep.images import BadImageError
from data_prep.prompts import PROTOCOLS
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
        if name not in DATASETS:
            raise ProtocolError(f"--root {value}: unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
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
    parser.add_argument("--skip-bad", action="store_true", help="skip rows with unreadable images (counted)")
    parser.add_argument("--overwrite", action="store_true")


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=PROG, description="Parquet prompt files for the three papers' protocols.")
    subparsers = root.add_subparsers(dest="command", required=True)
    _add_build(subparsers)
    inspection.add_arguments(subparsers.add_parser("inspect", help="counts, a rendered prompt, a pair sheet (PNG)"))
    validate.add_arguments(
        subparsers.add_parser("validate", help="load through verl's RLHFDataset and report rows verl would reject")
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    runners = {"build": _run_build, "inspect": inspection.run, "validate": validate.run}
    try:
        return runners[args.command](args)
    except (ProtocolError, DatasetLayoutError, BadImageError, FileExistsError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
