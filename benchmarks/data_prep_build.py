"""Benchmark of the parquet builder (``data_prep.build``) on synthetic data at real resolution.

Speed is reported as ratios against a baseline measured in the same run: reading every source image file the
build uses once with ``Path.read_bytes()`` (after a warm-up pass, so the page cache is as warm for the baseline as
for the builds). A second reference, the floor, reads, hashes (sha256) and writes those files once: the least a
build that records source hashes and copies the bytes must do. Generating the data is timed but not counted.

What is built, each with ``workers=1`` and ``workers=2``:

- ``pair3c`` from MVTec LOCO AD (real split counts, ``--size`` square PNGs, default 1312 px = 1.72 MP, about
  LOCO's 1600x1100) without resizing; by default one category (~3 min in all), ``--full`` all five (~15 min,
  ~13 GB of disk at the peak).
- ``single-ab`` VisA -> MVTec AD (300 VisA JPEGs of 1224 px = 1.5 MP, 63 MVTec AD PNGs of 1024 px) without
  resizing and with ``max_pixels=401408`` (LR-IAD's budget).

The synthetic drawings are flat shapes whose PNGs are ~140x smaller than photographs', so by default every image a
build reads is re-encoded with uniform pixel noise (``--noise 3``; 0 keeps the drawings): ~2.7 MB per LOCO PNG,
~0.2 MB per VisA JPEG, about the sizes of the real files. Data lives in a temporary folder under /tmp, deleted at
the end unless ``--keep``.

Usage::

    python -m benchmarks.data_prep_build            # defaults; writes the data_prep_build section of BENCHMARKS.md
    python -m benchmarks.data_prep_build --full     # all five LOCO categories
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from benchmarks.report import BENCHMARKS_MD, machine, now, write_section
from data_prep.build import BuildConfig, build, plan_rows
from data_prep.catalog import LOCO_CATEGORIES
from data_prep.prompts import PAIR3C, SINGLE_AB
from data_prep.protocols import SPLITS
from synthetic.datasets import write_mvtec_ad, write_mvtec_loco, write_visa

SECTION: Final = "data_prep_build"
LR_IAD_MAX_PIXELS: Final = 401408
GOAL_RATIO: Final = 2.0
DEFAULT_LOCO: Final = ("breakfast_box",)
VISA_CATEGORIES: Final = ("candle", "pcb1")
AD_CATEGORIES: Final = ("bottle", "cable")
MB: Final = 1e6

console = Console()
if not console.is_terminal:  # logs and CI: wide enough for the whole table
    console = Console(width=200)


@dataclass(frozen=True)
class Baseline:
    """Reading a build's source files once: the reference every build of those files is compared with."""

    name: str
    files: tuple[Path, ...]
    n_bytes: int
    seconds: float
    floor_seconds: float  # read + sha256 + write of the same files: what any build that hashes and copies must do


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    label: str
    images: int
    source_bytes: int
    seconds: float
    output_bytes: int | None
    baseline: Baseline
    resized: bool
    kind: str = "build"  # build | baseline | floor


# ----------------------------------------------------------------------------------------------------------------
# Data


def _timed(what: str, function: Callable[[], object]) -> float:
    start = time.perf_counter()
    with console.status(what):
        function()
    seconds = time.perf_counter() - start
    console.log(f"{what}: {seconds:.1f} s")
    return seconds


def _add_noise(job: tuple[Path, int]) -> tuple[int, int]:
    """Re-encode one image in its format with uniform integer noise in [-amplitude, amplitude]; sizes before, after."""
    path, amplitude = job
    before = path.stat().st_size
    with Image.open(path) as image:
        fmt = image.format
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    seed = int.from_bytes(hashlib.sha256(str(path).encode()).digest()[:8], "big")
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, pixels.shape, dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    options = {"quality": 92} if fmt == "JPEG" else {"compress_level": 3}
    noisy.save(buffer, format=fmt, **options)
    path.write_bytes(buffer.getvalue())
    return before, buffer.tell()


def add_noise(files: Sequence[Path], amplitude: int, processes: int) -> tuple[int, int]:
    """Make the images the builds read about as incompressible as photographs (in parallel processes).

    Returns the total bytes of those files before and after."""
    before = after = 0
    with ProcessPoolExecutor(processes) as pool:
        sizes = pool.map(_add_noise, [(path, amplitude) for path in files], chunksize=4)
        for old, new in tqdm(sizes, total=len(files), desc="noise", unit="img", disable=None):
            before, after = before + old, after + new
    return before, after


def source_files(config: BuildConfig) -> tuple[Path, ...]:
    """Every distinct image file a build reads (queries and references of both splits), in a fixed order."""
    plans = plan_rows(config)
    keys = dict.fromkeys((plan.dataset, image) for split in SPLITS for plan in plans[split] for image in plan.images())
    return tuple(Path(config.roots[dataset]) / image for dataset, image in keys)


# ----------------------------------------------------------------------------------------------------------------
# Measuring


def read_all(files: Sequence[Path]) -> int:
    """The baseline: each file's bytes, once."""
    return sum(len(path.read_bytes()) for path in files)


def copy_all(files: Sequence[Path], target: Path) -> int:
    """The floor: each file's bytes read, hashed (sha256) and appended to ``target`` (not fsynced)."""
    n_bytes = 0
    with target.open("wb") as out:
        for path in files:
            data = path.read_bytes()
            hashlib.sha256(data).hexdigest()
            n_bytes += out.write(data)
    return n_bytes


def _median_seconds(function: Callable[[], object], repeats: int, after: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
        after()
    return statistics.median(times)


def measure_baseline(name: str, files: Sequence[Path], scratch: Path, repeats: int = 3) -> Baseline:
    """Median of ``repeats`` timed reads after one warm-up pass, and the same for the read + hash + write floor."""
    n_bytes = read_all(tqdm(files, desc=f"warm-up {name}", unit="img", leave=False, disable=None))
    seconds = _median_seconds(lambda: read_all(files), repeats)
    target = scratch / f"floor-{name}.bin"
    floor = _median_seconds(lambda: copy_all(files, target), repeats, after=lambda: target.unlink())
    console.log(f"read {name}: {n_bytes / MB:,.0f} MB in {seconds:.3f} s; read + sha256 + write: {floor:.3f} s")
    return Baseline(name, tuple(files), n_bytes, seconds, floor)


def measure_build(label: str, config: BuildConfig, baseline: Baseline) -> Row:
    """Run one build into a fresh folder; the folder is deleted afterwards (only its size is kept)."""
    shutil.rmtree(config.out, ignore_errors=True)
    console.log(f"build {label} ...")
    start = time.perf_counter()
    result = build(config)
    seconds = time.perf_counter() - start
    output = sum(result.files[split].stat().st_size for split in SPLITS)
    # The builder counts a file once per split it appears in; none of these protocols shares a file across splits.
    source = sum(split.source_bytes for split in result.splits.values())
    images = sum(len(files) for split in result.splits.values() for files in split.sources.values())
    if (images, source) != (len(baseline.files), baseline.n_bytes):
        console.log(f"[red]build {label} read {images} files / {source:,} bytes, the baseline {len(baseline.files)}")
    shutil.rmtree(config.out, ignore_errors=True)
    console.log(f"build {label}: {seconds:.2f} s ({seconds / baseline.seconds:.1f}x read)")
    return Row(label, images, source, seconds, output, baseline, config.max_pixels is not None)


# ----------------------------------------------------------------------------------------------------------------
# Reporting

COLUMNS: Final = (
    "build",
    "images",
    "source MB",
    "seconds",
    "images/s",
    "MB/s",
    "output MB",
    "output / source",
    "time / read",
    "time / floor",
    f"goal ≤{GOAL_RATIO:g}x read",
)


def _cells(row: Row) -> list[str]:
    ratio = row.seconds / row.baseline.seconds
    if row.kind != "build":
        goal = row.kind
    elif row.resized:
        goal = "n/a (resizing)"
    else:
        goal = "met" if ratio <= GOAL_RATIO else "NOT met"
    return [
        row.label,
        f"{row.images:,}",
        f"{row.source_bytes / MB:,.1f}",
        f"{row.seconds:.2f}" if row.seconds >= 1 else f"{row.seconds:.3f}",
        f"{row.images / row.seconds:,.0f}",
        f"{row.source_bytes / MB / row.seconds:,.0f}",
        "-" if row.output_bytes is None else f"{row.output_bytes / MB:,.1f}",
        "-" if row.output_bytes is None else f"{row.output_bytes / row.source_bytes:.2f}",
        f"{ratio:.2f}x",
        f"{row.seconds / row.baseline.floor_seconds:.2f}x",
        goal,
    ]


def baseline_rows(baseline: Baseline) -> list[Row]:
    """The two references for a set of files: reading them (the baseline) and read + sha256 + write (the floor)."""
    common = {"images": len(baseline.files), "source_bytes": baseline.n_bytes, "output_bytes": None, "resized": False}
    return [
        Row(
            f"{baseline.name}: read (baseline)", seconds=baseline.seconds, baseline=baseline, kind="baseline", **common
        ),
        Row(
            f"{baseline.name}: read+sha256+write",
            seconds=baseline.floor_seconds,
            baseline=baseline,
            kind="floor",
            **common,
        ),
    ]


def rich_table(rows: Sequence[Row]) -> Table:
    table = Table(title="data_prep.build vs reading the same files")
    for index, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if index == 0 or index == len(COLUMNS) - 1 else "right")
    for row in rows:
        table.add_row(*_cells(row), style="dim" if row.kind != "build" else None)
    return table


def markdown_table(rows: Sequence[Row]) -> str:
    align = ["---"] + ["---:"] * (len(COLUMNS) - 2) + ["---"]
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def versions() -> str:
    """The library versions that matter here."""
    import PIL
    import pyarrow

    return f"pyarrow {pyarrow.__version__}, Pillow {PIL.__version__}, numpy {np.__version__}"


def section_body(rows: Sequence[Row], notes: Sequence[str], command: str) -> str:
    lines = [
        "## data_prep_build: parquet builder vs plain reading",
        "",
        f"- Date: {now()}",
        f"- Machine: {machine()}; {versions()}",
        f"- Command: `{command}`",
        *[f"- {note}" for note in notes],
        "",
        markdown_table(rows),
        "",
        "Columns: *images* and *source MB* are the distinct source files a build reads; *images/s* and *MB/s* are "
        "those over the build's wall time (planning, reading, hashing, verifying or resizing, writing parquet, "
        "hashing the outputs for the manifest); *output / source* is train+test parquet bytes over source bytes "
        "(references repeat across rows, so >1 is expected without resizing); *time / read* is build time over "
        "the baseline read of the same files (median of 3 passes after a warm-up pass); *time / floor* is build "
        "time over reading, hashing (sha256) and writing the same files once to one file under /tmp (median of 3), "
        "the least any build that records source hashes and copies the bytes must do. Goal: ≤2x read when not "
        "resizing. Builds are single runs: on a shared machine expect ±30% between runs (see the load averages).",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="all five MVTec LOCO categories (default: breakfast_box)")
    parser.add_argument("--categories", nargs="+", choices=LOCO_CATEGORIES, help="MVTec LOCO categories to use")
    parser.add_argument("--size", type=int, default=1312, help="LOCO image side in pixels (default 1312 = 1.72 MP)")
    parser.add_argument("--visa-size", type=int, default=1224, help="VisA image side (default 1224 = 1.50 MP)")
    parser.add_argument("--ad-size", type=int, default=1024, help="MVTec AD image side (default 1024)")
    parser.add_argument(
        "--visa-images", type=int, default=150, help="VisA images per category, 2/3 normal (default 150)"
    )
    parser.add_argument(
        "--noise", type=int, default=3, help="pixel noise amplitude for photo-like file sizes (0: none)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="build workers to measure (default 1 2)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data (its folder is printed)")
    parser.add_argument("--out-md", type=Path, default=BENCHMARKS_MD, help="markdown file to update")
    parser.add_argument("--no-md", action="store_true", help="print the table only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    categories = tuple(LOCO_CATEGORIES) if args.full else tuple(args.categories or DEFAULT_LOCO)
    work = Path(tempfile.mkdtemp(prefix="iad-bench-data-prep-", dir="/tmp"))
    roots = {"mvtec_loco": work / "mvtec_loco", "visa": work / "visa", "mvtec_ad": work / "mvtec_ad"}
    out = work / "out"
    notes: list[str] = []
    try:
        n_anomaly = args.visa_images // 3
        generation = _timed(
            f"generate MVTec LOCO {', '.join(categories)} (real counts, {args.size} px PNG)",
            lambda: write_mvtec_loco(roots["mvtec_loco"], categories, preset="real-counts", size=args.size),
        )
        generation += _timed(
            f"generate VisA {', '.join(VISA_CATEGORIES)} ({args.visa_images} per category, {args.visa_size} px JPEG)",
            lambda: write_visa(
                roots["visa"],
                VISA_CATEGORIES,
                n_normal=args.visa_images - n_anomaly,
                n_anomaly=n_anomaly,
                size=args.visa_size,
            ),
        )
        generation += _timed(
            f"generate MVTec AD {', '.join(AD_CATEGORIES)} ({args.ad_size} px PNG)",
            lambda: write_mvtec_ad(
                roots["mvtec_ad"], AD_CATEGORIES, n_train=10, n_test_good=5, n_test_per_defect=3, size=args.ad_size
            ),
        )
        pair3c = BuildConfig(protocol=PAIR3C, roots=roots, out=out, categories=categories, overwrite=True)
        single_ab = BuildConfig(
            protocol=SINGLE_AB,
            roots=roots,
            out=out,
            datasets=("visa",),
            categories=VISA_CATEGORIES,
            test_categories=AD_CATEGORIES,
            overwrite=True,
        )
        files = {PAIR3C: source_files(pair3c), SINGLE_AB: source_files(single_ab)}
        sizes: list[tuple[int, int]] = []
        if args.noise:
            everything = [path for group in files.values() for path in group]
            generation += _timed(
                f"add ±{args.noise} noise to the {len(everything)} images the builds read",
                lambda: sizes.append(add_noise(everything, args.noise, max(1, os.cpu_count() or 1))),
            )
        notes.append(
            f"Data: synthetic (`synthetic.datasets`), generated in {generation:.0f} s (not counted). pair3c: MVTec "
            f"LOCO {', '.join(categories)} with real split counts at {args.size}x{args.size} PNG, default "
            f"train_per_class=40. single-ab: VisA {', '.join(VISA_CATEGORIES)} ({args.visa_images} images each, "
            f"{args.visa_size}x{args.visa_size} JPEG q92) -> MVTec AD {', '.join(AD_CATEGORIES)} "
            f"(10 train, 5 good and 3 per defect type, {args.ad_size}x{args.ad_size} PNG)."
        )
        notes.append(
            f"Pixel noise: ±{args.noise} uniform on every image the builds read, so files are about as large as "
            f"photographs': it grew them from {sizes[0][0] / MB:,.0f} MB to {sizes[0][1] / MB:,.0f} MB (flat synthetic "
            "PNGs are ~140x smaller than noisy ones, JPEGs ~2.5x)."
            if args.noise
            else "No pixel noise: the flat synthetic PNGs are ~140x smaller than photographs, so per-file overheads "
            "dominate."
        )
        baselines = {name: measure_baseline(name, group, work) for name, group in files.items()}
        floors = ", ".join(f"{name} {b.floor_seconds / b.seconds:.0f}x" for name, b in baselines.items())
        notes.append(
            f"Reading, hashing and writing the files once (the floor) took this many times the plain read: {floors}; "
            f"a build that records sha256 of its sources and copies their bytes cannot be faster than its floor."
        )
        rows: list[Row] = []
        for name, config, budgets in ((PAIR3C, pair3c, (None,)), (SINGLE_AB, single_ab, (None, LR_IAD_MAX_PIXELS))):
            rows += baseline_rows(baselines[name])
            for max_pixels in budgets:
                for workers in args.workers:
                    resize = "originals" if max_pixels is None else f"max_pixels={max_pixels}"
                    label = f"{name}, {resize}, workers={workers}"
                    rows.append(
                        measure_build(label, replace(config, max_pixels=max_pixels, workers=workers), baselines[name])
                    )
        console.print(rich_table(rows))
        command = shlex.join(["python", "-m", "benchmarks.data_prep_build", *(sys.argv[1:] if argv is None else argv)])
        total = time.perf_counter() - started
        load_end = os.getloadavg()[0]
        notes.append(
            f"Total run time {total:.0f} s. Load average (1 min) before the run {load_start:.1f} (other processes; "
            f"0 on an idle machine), at the end {load_end:.1f} (with this benchmark's own), on {os.cpu_count()} cores."
        )
        if not args.no_md:
            write_section(SECTION, section_body(rows, notes, command), args.out_md)
            console.log(f"wrote the {SECTION} section of {args.out_md}")
        console.log(f"total {total:.0f} s")
    finally:
        if args.keep:
            console.log(f"kept the data under {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
