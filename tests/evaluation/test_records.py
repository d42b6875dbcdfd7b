"""evaluation.records: one reader for records.jsonl, tolerant of a torn last line only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.records import read_records

RECORD = {"index": 0, "truth": "A", "predicted": "A", "category": "bottle"}


def lines(*records: dict) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_a_missing_file_has_no_records(tmp_path: Path) -> None:
    assert read_records(tmp_path / "records.jsonl") == []


def test_a_torn_last_line_is_left_out_and_cut_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    whole = lines(RECORD, RECORD | {"index": 1})
    path.write_bytes(whole + b'{"index": 2, "tru')
    assert [r["index"] for r in read_records(path)] == [0, 1]
    assert path.read_bytes().endswith(b'"tru')
    assert [r["index"] for r in read_records(path, cut_torn_tail=True)] == [0, 1]
    assert path.read_bytes() == whole


def test_a_bad_line_inside_the_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(lines(RECORD) + b"not json\n" + lines(RECORD | {"index": 1}))
    with pytest.raises(ValueError, match="records.jsonl, line 2: not valid JSON"):
        read_records(path)


def test_a_record_without_its_keys_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(lines({"index": 0, "truth": "A"}))
    with pytest.raises(ValueError, match=r"line 1: the record lacks \['predicted', 'category'\]"):
        read_records(path)
