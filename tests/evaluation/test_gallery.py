"""The explanation gallery: one offline HTML page, and what a real headless browser makes of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from evaluation.__main__ import main
from evaluation.gallery import GALLERY
from evaluation.records import RECORDS, RUN_INFO
from evaluation.runner import load_samples, make_record

ARTIFACTS = Path(__file__).resolve().parents[2] / "outputs" / "test-artifacts"


@pytest.fixture(scope="module")
def evaluation_dir(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Records of a grounded single-ab test file: the first half answered right with the true box, the rest wrong."""
    data = tmp_path_factory.mktemp("gallery-data")
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=data, datasets=("visa",), grounding=True))
    samples = load_samples(data / "test.parquet")
    records = []
    for position, sample in enumerate(samples):
        right = position < len(samples) // 2
        answer = sample.truth if right else ("B" if sample.truth == "A" else "A")
        box = f' {{"bbox_2d": {list(sample.true_boxes[0])}}}' if right and sample.true_boxes else ""
        records.append(make_record(sample, f"<think>looked at <b>it</b></think><answer>{answer}{box}</answer>"))
    out = tmp_path_factory.mktemp("gallery-eval")
    (out / RECORDS).write_text("".join(json.dumps(record) + "\n" for record in records))
    (out / RUN_INFO).write_text(json.dumps({"test_file": str(data / "test.parquet")}))
    return out


def _records(evaluation_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (evaluation_dir / RECORDS).read_text().splitlines()]


@pytest.fixture(scope="module")
def page(evaluation_dir: Path) -> Path:
    assert main(["gallery", str(evaluation_dir / RECORDS), "--out", str(evaluation_dir / "gallery")]) == 0
    return evaluation_dir / "gallery" / GALLERY


def test_one_card_per_record_with_everything_embedded(page: Path, evaluation_dir: Path) -> None:
    text, records = page.read_text(), _records(evaluation_dir)
    assert text.count("<article") == len(records)
    assert any(record["true_boxes"] and record["iou"] == 1.0 for record in records)  # boxes drawn, green on red
    assert "data:image/png;base64," in text and not re.search(r"(src|href)=\"https?:", text)  # works offline
    assert "&lt;b&gt;it&lt;/b&gt;" in text  # the model's text is escaped, never markup


def test_a_record_past_the_test_file_is_a_clear_error(evaluation_dir: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / RECORDS
    bad.write_text(json.dumps(_records(evaluation_dir)[0] | {"index": 10_000}) + "\n")
    test_file = json.loads((evaluation_dir / RUN_INFO).read_text())["test_file"]
    assert main(["gallery", str(bad), "--out", str(tmp_path / "g"), "--test-file", test_file]) == 2
    assert "the wrong --test-file?" in capsys.readouterr().err


def _chromium(url: str, user_data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", f"--user-data-dir={user_data}", "--virtual-time-budget=5000", *extra, url,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _body(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    return dict(re.findall(r'data-(\w+)="([^"]*)"', body[1]))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install -y chromium)")
def test_the_page_works_in_a_real_browser(page: Path, evaluation_dir: Path, tmp_path: Path) -> None:
    records = _records(evaluation_dir)
    wrong = sum(record["predicted"] != record["truth"] for record in records)
    loaded = _chromium(page.as_uri(), tmp_path / "profile-1", "--dump-dom")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert _body(loaded.stdout) == {"errors": "0", "shown": str(len(records))}
    filtered = _chromium(page.as_uri() + "#filter=wrong", tmp_path / "profile-2", "--dump-dom")
    assert _body(filtered.stdout)["shown"] == str(wrong) and 0 < wrong < len(records)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "gallery.png"
    taken = _chromium(page.as_uri(), tmp_path / "profile-3", f"--screenshot={shot}", "--window-size=1280,1600")
    assert taken.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"
