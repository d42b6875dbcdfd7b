"""Command line for synthetic datasets and contact sheets.

    python -m synthetic mvtec_loco --out /tmp/loco --preset small --size 128 --contact-sheet /tmp/loco.png
    python -m synthetic visa --out /tmp/visa --categories candle pcb1 --n-normal 20
    python -m synthetic sheet /data/mvtec_loco --dataset mvtec_loco --out /tmp/sheet.png

Bad input (an unknown category, a non-empty output folder) ends with one error line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data_prep.catalog import DATASETS
from synthetic.contact_sheet import make_contact_sheet
from synthetic.datasets import LOCO_PRESETS, LOCO_SPLIT_KEYS, WRITERS, DatasetSummary
from synthetic.mmad import write_mmad
from synthetic.obvious import ANOMALY_STYLES

PROG = "python -m synthetic"


def _dataset_parser(subparsers: argparse._SubParsersAction, dataset: str, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(dataset, help=help_text, description=help_text)
    parser.add_argument("--out", type=Path, required=True, help="dataset root to create (must be absent or empty)")
    parser.add_argument("--categories", nargs="+", metavar="NAME", help="default: every category of the dataset")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="same seed and arguments give byte-identical files")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--contact-sheet", type=Path, metavar="PNG", help="also draw a contact sheet of the result")
    parser.add_argument(
        "--anomalies",
        choices=ANOMALY_STYLES,
        default="realistic",
        help="realistic defects, or obvious ones (one large high-contrast disc) that the tiny policy can learn to see",
    )
    return parser


def _count(text: str) -> tuple[str, int]:
    key, sep, value = text.partition("=")
    if not sep or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected KEY=N (e.g. good=40), got {text!r}")
    return key, int(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Synthetic anomaly-detection datasets in real layouts.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    mvtec_ad = _dataset_parser(subparsers, "mvtec_ad", "write a synthetic MVTec AD dataset")
    mvtec_ad.add_argument("--n-train", type=int, help="good training images per category")
    mvtec_ad.add_argument("--n-test-good", type=int, help="good test images per category")
    mvtec_ad.add_argument("--n-test-per-defect", type=int, help="test images per defect type")
    visa = _dataset_parser(subparsers, "visa", "write a synthetic VisA dataset")
    visa.add_argument("--n-normal", type=int, help="normal images per category")
    visa.add_argument("--n-anomaly", type=int, help="anomalous images per category")
    loco = _dataset_parser(subparsers, "mvtec_loco", "write a synthetic MVTec LOCO AD dataset")
    loco.add_argument("--preset", choices=LOCO_PRESETS, default="small", help="small (fast) or the official counts")
    loco.add_argument(
        "--count",
        dest="counts",
        nargs="+",
        type=_count,
        metavar="KEY=N",
        help=f"override the preset's images per category ({', '.join(LOCO_SPLIT_KEYS)})",
    )
    mmad = subparsers.add_parser("mmad", help="write a small synthetic MMAD root (mmad.json, five image folders)")
    mmad.add_argument("--out", type=Path, required=True, help="MMAD root to create (must be absent or empty)")
    mmad.add_argument("--templates", type=int, default=2, help="normal templates listed per image")
    mmad.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    mmad.add_argument("--seed", type=int, default=0, help="same seed and arguments give byte-identical files")
    mmad.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    sheet = subparsers.add_parser("sheet", help="draw a contact sheet of a dataset root (synthetic or real)")
    sheet.add_argument("root", type=Path, help="dataset root in its real layout")
    sheet.add_argument("--dataset", choices=tuple(DATASETS), required=True)
    sheet.add_argument("--out", type=Path, required=True, metavar="PNG")
    sheet.add_argument("--categories", nargs="+", metavar="NAME")
    sheet.add_argument("--per-class", type=int, default=6, help="samples per (category, class) row")
    sheet.add_argument("--size", type=int, default=96, help="cell side in pixels")
    return parser


_COMMON = ("command", "out", "categories", "size", "seed", "overwrite", "contact_sheet")


def _summary_table(summary: DatasetSummary, seconds: float) -> Table:
    columns = list(dict.fromkeys(key for counts in summary.counts.values() for key in counts))
    table = Table(title=f"{summary.dataset} -> {summary.root}", caption=f"{summary.n_files} files in {seconds:.1f} s")
    table.add_column("category", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for category, counts in summary.counts.items():
        table.add_row(category, *(str(counts.get(column, 0)) for column in columns))
    totals = (sum(counts.get(column, 0) for counts in summary.counts.values()) for column in columns)
    table.add_row("total", *(str(total) for total in totals), style="bold")
    return table


def _write(args: argparse.Namespace, console: Console) -> None:
    options = {key: value for key, value in vars(args).items() if key not in _COMMON and value is not None}
    if "counts" in options:
        options["counts"] = dict(options["counts"])
    start = time.perf_counter()
    summary = WRITERS[args.command](
        args.out, args.categories, size=args.size, seed=args.seed, overwrite=args.overwrite, **options
    )
    console.print(_summary_table(summary, time.perf_counter() - start))
    if args.contact_sheet:
        sheet = make_contact_sheet(summary.root, summary.dataset, args.contact_sheet, categories=args.categories)
        console.print(f"contact sheet: {sheet}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)  # logs and pipes get the whole table
    try:
        if args.command == "mmad":
            root = write_mmad(
                args.out, n_templates=args.templates, size=args.size, seed=args.seed, overwrite=args.overwrite
            )
            console.print(f"synthetic MMAD root: {root} ({root / 'mmad.json'})")
        elif args.command == "sheet":
            out = make_contact_sheet(
                args.root, args.dataset, args.out, per_class=args.per_class, categories=args.categories, size=args.size
            )
            console.print(f"contact sheet: {out}")
        else:
            _write(args, console)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
