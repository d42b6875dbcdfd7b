"""Shared by the benchmark scripts: the machine description and BENCHMARKS.md sections.

Each script owns one section between ``<!-- name:start -->`` and ``<!-- name:end -->`` and replaces only that.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Final

from data_prep.outputs import write_atomic

REPO: Final = Path(__file__).resolve().parents[1]
BENCHMARKS_MD: Final = REPO / "BENCHMARKS.md"
HEADER: Final = """# Benchmarks

Each section below is written by one script under `benchmarks/`, which replaces only its own section (between
`<!-- name:start -->` and `<!-- name:end -->` markers). Speeds are ratios against a baseline measured in the same
run on the same machine; absolute numbers are only comparable within a section.

- `data_prep_build`: `python -m benchmarks.data_prep_build` - the parquet builder (`data_prep.build`) against
  plainly reading the same source image files, on synthetic data at real resolution.
- `rewards`: `python -m benchmarks.rewards` - rule-reward throughput, and the thinking-quality judge client
  against a real vLLM server (CPU, tiny judge): concurrent vs one request at a time, and cache hits.
- `learning`: `python -m benchmarks.learning` - whether training moves the policy: each paper recipe trains the
  tiny policy on the learning task on CPU, held-out accuracy before and after, and two controls (blank images,
  flipped advantages) that must not learn.
"""


def machine() -> str:
    """Cores, memory and CPU model."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def now() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace section ``name`` of ``path`` (creating the file with the header if needed); written atomically."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else HEADER
    section = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    write_atomic(path, text)
