"""Writing outputs so that a reader never sees half of one: single files, and datasets of several files at once.

``write_atomic`` and ``atomic_path`` write one file through a temporary name in the same folder, fsynced, then
renamed over the target. ``commit_together`` does the same for a set of files (parquet splits and their manifest)
that must appear together or not at all. ``open_parquet`` is the one parquet writer of the dataset builders:
zstd and dictionaries for text, image bytes stored as they are (PNG/JPEG already: recompressing them costs time
for ~7%, BENCHMARKS.md), no statistics.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import platform
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

IMAGE_BYTES_COLUMN: Final = "images.list.element.bytes"
MANIFEST_NAME: Final = "manifest.json"
# The distributions whose versions a dataset manifest records.
MANIFEST_LIBRARIES: Final = ("iad-reasoner", "pandas", "pyarrow", "pillow", "numpy")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a part."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def check_overwrite(paths: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace existing outputs unless asked to."""
    existing = [str(path) for path in paths if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace them")


@contextlib.contextmanager
def commit_together(files: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """Temporary paths for every output in ``files``; all are moved into place, in order, when the block succeeds,
    and none otherwise."""
    tag = uuid.uuid4().hex[:8]
    temps = {name: path.with_name(f".{path.name}.{tag}.tmp") for name, path in files.items()}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield temps
        for name, final in files.items():
            os.replace(temps[name], final)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def _leaf_paths(field_type: Any, prefix: str) -> Iterator[str]:
    """Parquet column paths (``prompt.list.element.content``) of an Arrow type."""
    import pyarrow as pa

    if pa.types.is_struct(field_type):
        for child in field_type:
            yield from _leaf_paths(child.type, f"{prefix}.{child.name}")
    elif pa.types.is_list(field_type):
        yield from _leaf_paths(field_type.value_type, f"{prefix}.list.element")
    else:
        yield prefix


def parquet_options(schema: Any) -> dict[str, Any]:
    """``pq.ParquetWriter`` options for a dataset schema (see the module docstring)."""
    leaves = [path for field in schema for path in _leaf_paths(field.type, field.name)]
    return {
        "compression": {path: "NONE" if path == IMAGE_BYTES_COLUMN else "ZSTD" for path in leaves},
        "use_dictionary": [path for path in leaves if path != IMAGE_BYTES_COLUMN],
        "write_statistics": False,
    }


def open_parquet(path: Path, schema: Any) -> Any:
    """A ``pq.ParquetWriter`` for ``schema`` with the options above; write row chunks, then close."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema, **parquet_options(schema))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path, rows: int) -> dict[str, Any]:
    """A written file as the manifests list it."""
    return {"rows": rows, "bytes": Path(path).stat().st_size, "sha256": sha256_of(path)}


def library_versions(names: Sequence[str] = MANIFEST_LIBRARIES) -> dict[str, str]:
    """Python's version and each named distribution's, for a manifest."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
