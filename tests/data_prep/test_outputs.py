"""data_prep.outputs: a failed write leaves the old outputs as they were and no temporary files behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from data_prep.outputs import (
    atomic_path,
    check_overwrite,
    commit_together,
    file_entry,
    open_parquet,
    parquet_options,
    write_atomic,
)


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "sub" / "a.txt", "old")
    write_atomic(target, b"new")
    assert target.read_text() == "new" and [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_commit_together_moves_every_file_or_none(tmp_path: Path) -> None:
    files = {"train": tmp_path / "train.parquet", "manifest": tmp_path / "manifest.json"}
    with pytest.raises(RuntimeError), commit_together(files) as temps:
        temps["train"].write_text("rows")
        raise RuntimeError("the manifest failed")
    assert list(tmp_path.iterdir()) == []
    with commit_together(files) as temps:
        for temp in temps.values():
            temp.write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "train.parquet"]


def test_existing_outputs_need_overwrite(tmp_path: Path) -> None:
    existing = write_atomic(tmp_path / "train.parquet", "x")
    with pytest.raises(FileExistsError, match="train.parquet already exist; pass --overwrite"):
        check_overwrite([existing, tmp_path / "test.parquet"], overwrite=False)
    check_overwrite([existing], overwrite=True)


def test_image_bytes_are_stored_uncompressed_and_text_zstd(tmp_path: Path) -> None:
    schema = pa.schema([("prompt", pa.string()), ("images", pa.list_(pa.struct([("bytes", pa.binary())])))])
    assert parquet_options(schema)["compression"] == {"prompt": "ZSTD", "images.list.element.bytes": "NONE"}
    path = tmp_path / "rows.parquet"
    with open_parquet(path, schema) as writer:
        writer.write_table(pa.Table.from_pylist([{"prompt": "p", "images": [{"bytes": b"\x89PNG"}]}], schema=schema))
    assert file_entry(path, 1)["rows"] == 1 and len(file_entry(path, 1)["sha256"]) == 64
