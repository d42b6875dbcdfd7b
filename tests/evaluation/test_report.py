"""The report: paper-layout Markdown and CSV tables next to the published numbers, PNG plots, McNemar between runs."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from data_prep.prompts import PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from evaluation.metrics import OVERALL, summarize_by
from evaluation.paired import paired_comparison
from evaluation.records import validate_metrics
from evaluation.report import write_report
from evaluation.runs import make_runs

POSITIVE = {PAIR_BINARY: "yes", SINGLE_AB: "A", PAIR3C: None}
N_RESAMPLES = 50  # small: the intervals' values are not under test here, only where they appear


def records(
    protocol: str, dataset: str, rows: list[tuple[str, str, str | None]], start: int = 0
) -> list[dict[str, Any]]:
    """Records of (category, truth, predicted), indexed from ``start``."""
    return [
        {
            "index": start + i,
            "protocol": protocol,
            "dataset": dataset,
            "category": category,
            "truth": truth,
            "response": "",
            "predicted": predicted,
            "format_ok": predicted is not None,
            "think_words": 10 + i,
            "response_chars": 50,
        }
        for i, (category, truth, predicted) in enumerate(rows)
    ]


def metrics_of(
    recs: list[dict[str, Any]], model: str, test_file: str, ci: dict[str, list[float]] | None = None
) -> dict[str, Any]:
    """The metrics dict the runner writes, from hand-made records (scores by evaluation.metrics)."""
    protocol = recs[0]["protocol"]
    by_category = summarize_by(recs, list(PROMPTS[protocol].answer_keys), POSITIVE[protocol])
    overall = by_category.pop(OVERALL)
    return {
        "model": model,
        "test_file": test_file,
        "protocol": protocol,
        "overall": asdict(overall),
        "by_category": {category: asdict(scores) for category, scores in by_category.items()},
        "ci": ci or {metric: [math.nan, math.nan] for metric in ("accuracy", "f1_positive", "macro_f1")},
    }


# pair-binary on two LOCO categories, 10 samples:
#   juice_bottle  truth yes yes no no        predicted yes no no no         -> acc 3/4, F1(yes) 2/3
#   breakfast_box truth yes yes yes no no no predicted yes yes - no yes no  -> acc 4/6, F1(yes) 4/6
#   overall acc 7/10, F1(yes) = 2*3 / (2*3 + 1 + 2) = 6/9
LOCO_ROWS: list[tuple[str, str, str | None]] = [
    ("juice_bottle", "yes", "yes"),
    ("juice_bottle", "yes", "no"),
    ("juice_bottle", "no", "no"),
    ("juice_bottle", "no", "no"),
    ("breakfast_box", "yes", "yes"),
    ("breakfast_box", "yes", "yes"),
    ("breakfast_box", "yes", None),
    ("breakfast_box", "no", "no"),
    ("breakfast_box", "no", "yes"),
    ("breakfast_box", "no", "no"),
]
CI = {"accuracy": [0.5, 0.9], "f1_positive": [0.4, 0.85], "macro_f1": [0.45, 0.88]}


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def assert_png(path: Path) -> None:
    assert path.stat().st_size > 5_000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 150
        image.verify()


@pytest.fixture(scope="module")
def binary_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two pair-binary runs on the same file: one hand-made with CIs, one predicting "yes" everywhere."""
    folder = tmp_path_factory.mktemp("binary")
    recs_a = records(PAIR_BINARY, "mvtec_loco", LOCO_ROWS)
    recs_b = records(PAIR_BINARY, "mvtec_loco", [(c, t, "yes") for c, t, _ in LOCO_ROWS])
    paths = [
        write_json(folder / "a.json", metrics_of(recs_a, "model-a", "data/loco_pair.parquet", CI)),
        write_json(folder / "b.json", metrics_of(recs_b, "model|b", "data/loco_pair.parquet")),
    ]
    record_paths = [write_jsonl(folder / "a.jsonl", recs_a), write_jsonl(folder / "b.jsonl", recs_b)]
    out = folder / "out"
    written = write_report(paths, out, record_paths, n_resamples=N_RESAMPLES)
    plain = write_report(paths[:1], folder / "plain")  # no records: no per-category intervals, no McNemar
    return {"out": out, "written": written, "plain": plain, "md": (out / "report.md").read_text(encoding="utf-8")}


def test_binary_report_writes_everything(binary_report: dict[str, Any]) -> None:
    out = binary_report["out"]
    names = sorted(path.name for path in binary_report["written"])
    assert names == sorted(
        [
            "runs.csv",
            "lad_reasoner_table1_layout.csv",
            "per_category_model-a.csv",
            "per_category_model-b.csv",
            "paired_comparisons.csv",
            "confusion_model-a.png",
            "confusion_model-b.png",
            "category_accuracy.png",
            "report.md",
            "summary.md",
        ]
    )
    assert all(path.parent == out and path.is_file() for path in binary_report["written"])
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # no temporary files left
    for path in binary_report["written"]:
        if path.suffix == ".png":
            assert_png(path)


def test_summary_holds_the_runs_and_the_mcnemar_line(binary_report: dict[str, Any]) -> None:
    summary = (binary_report["out"] / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("Runs\n\n| Model |")
    assert "Paired comparisons (McNemar's test)" in summary
    assert summary.count("| model-a |") == 2  # its row in the runs table and its comparison with model-b


def test_lad_layout_markdown_rows(binary_report: dict[str, Any]) -> None:
    md = binary_report["md"]
    header = "| Model | Source | Overall Acc. | Overall F1 | JB Acc. | JB F1 | BB Acc. | BB F1 | SB Acc. | SB F1 |"
    assert header in md
    assert (
        "| LAD-Reasoner (ours) | published (LAD-Reasoner, Table 1) | 60.4 | 63.5 | 62.7 | 74.7 | 76.8 | 68.6 "
        "| 53.3 | 66.3 | 52.9 | 56.3 | 60.3 | 37.2 |"
    ) in md
    assert "| APRIL-GAN | published (LAD-Reasoner, Table 1) | 52.4 | 47.1 | 50.0 | 55.3 |" in md
    ours = next(line for line in md.splitlines() if line.startswith("| model-a | ours (loco_pair.parquet) |"))
    cells = [cell.strip() for cell in ours.strip("|").split("|")]
    assert cells[2:4] == ["70.0 [50.0, 90.0]", "66.7 [40.0, 85.0]"]  # overall, CI from the metrics file
    assert cells[4].startswith("75.0 [") and cells[5].startswith("66.7 [")  # JB, CI from the records
    assert cells[6].startswith("66.7 [") and cells[7].startswith("66.7 [")  # BB
    assert cells[8:] == ["–"] * 6  # SB, SC, PP: not in this test file
    assert "| model\\|b | ours (loco_pair.parquet) |" in md  # a "|" in a name is escaped
    assert "Published: LAD-Reasoner, Table 1 — W. Li" in md


def test_lad_layout_without_records_has_no_category_intervals(binary_report: dict[str, Any]) -> None:
    md = (binary_report["plain"][-1]).read_text(encoding="utf-8")
    ours = next(line for line in md.splitlines() if line.startswith("| model-a | ours ("))
    cells = [cell.strip() for cell in ours.strip("|").split("|")]
    assert cells[2:8] == ["70.0 [50.0, 90.0]", "66.7 [40.0, 85.0]", "75.0", "66.7", "66.7", "66.7"]
    assert "Paired comparisons" not in md
    assert "Per-category 95% bootstrap intervals: not available (no records given)." in md


def test_csv_parses_back_with_the_same_numbers(binary_report: dict[str, Any]) -> None:
    rows = {row["Model"]: row for row in read_csv(binary_report["out"] / "lad_reasoner_table1_layout.csv")}
    published = rows["Qwen2.5-VL-72B"]
    assert published["Source"] == "published (LAD-Reasoner, Table 1)"
    assert float(published["Overall Acc."]) == 62.1 and float(published["PP F1"]) == 14.1
    assert published["Overall Acc. CI low"] == ""
    ours = rows["model-a"]
    assert float(ours["Overall Acc."]) == pytest.approx(70.0)
    assert float(ours["Overall F1"]) == pytest.approx(100 * 6 / 9)
    assert (float(ours["Overall Acc. CI low"]), float(ours["Overall Acc. CI high"])) == pytest.approx((50.0, 90.0))
    assert float(ours["JB Acc."]) == pytest.approx(75.0) and float(ours["BB Acc."]) == pytest.approx(100 * 4 / 6)
    assert float(ours["JB Acc. CI low"]) <= 75.0 <= float(ours["JB Acc. CI high"])
    assert ours["SB Acc."] == ""
    # model|b's metrics file holds nan intervals: the report bootstraps them from its records instead.
    assert float(rows["model|b"]["Overall Acc. CI low"]) <= 50.0 <= float(rows["model|b"]["Overall Acc. CI high"])
    per_category = {row["Category"]: row for row in read_csv(binary_report["out"] / "per_category_model-a.csv")}
    assert set(per_category) == {"breakfast_box", "juice_bottle", "overall"}
    assert per_category["breakfast_box"]["N"] == "6" and per_category["breakfast_box"]["Missing"] == "1"
    # F1(no): TP 4, FP 1 (a "yes" answered "no"), FN 1 (a "no" answered "yes") -> 8/10; F1(yes) 6/9.
    assert float(per_category["overall"]["F1-macro"]) == pytest.approx(100 * (6 / 9 + 8 / 10) / 2)
    assert float(per_category["overall"]["Format %"]) == pytest.approx(90.0)


def test_paired_comparisons_in_the_report(binary_report: dict[str, Any]) -> None:
    (row,) = read_csv(binary_report["out"] / "paired_comparisons.csv")
    assert (row["Model A"], row["Model B"], row["N"]) == ("model-a", "model|b", "10")
    assert float(row["Acc. A"]) == pytest.approx(70.0) and float(row["Acc. B"]) == pytest.approx(50.0)
    # a alone right: 4 "no" answered "no"; b alone right: the "yes" a answered "no" or missed -> b=4, c=2.
    assert (row["Only A right"], row["Only B right"]) == ("4", "2")
    assert float(row["p"]) == pytest.approx(2 * (1 + 6 + 15) / 64)
    assert row["Test"] == "exact binomial"


def _paired_records(correct_a: list[bool], correct_b: list[bool]) -> tuple[list[dict], list[dict]]:
    truth = ["yes", "no"] * len(correct_a)
    flip = {"yes": "no", "no": "yes"}
    rows_a = [("screw_bag", truth[i], truth[i] if ok else flip[truth[i]]) for i, ok in enumerate(correct_a)]
    rows_b = [("screw_bag", truth[i], truth[i] if ok else None) for i, ok in enumerate(correct_b)]
    return records(PAIR_BINARY, "mvtec_loco", rows_a), records(PAIR_BINARY, "mvtec_loco", rows_b)


def test_paired_comparison_exact_on_a_hand_example() -> None:
    a, b = _paired_records([True, True, True, False, False, True], [True, False, False, True, False, False])
    result = paired_comparison(a, list(reversed(b)))  # matched by index, not by position
    assert result == {
        "n": 6,
        "accuracy_a": 4 / 6,
        "accuracy_b": 2 / 6,
        "both_correct": 1,
        "only_a": 3,
        "only_b": 1,
        "neither": 1,
        "statistic": 1.0,
        "p_value": 2 * (1 + 4) / 16,  # two-sided binomial, 1 of 4 at 1/2
        "exact": True,
        "test": "exact binomial",
    }


def test_paired_comparison_chi_square_on_a_hand_example() -> None:
    correct_a = [True] * 20 + [False] * 5 + [True] * 3
    correct_b = [False] * 20 + [True] * 5 + [True] * 3
    result = paired_comparison(*_paired_records(correct_a, correct_b))
    assert (result["only_a"], result["only_b"], result["both_correct"], result["neither"]) == (20, 5, 3, 0)
    assert result["exact"] is False
    assert result["statistic"] == pytest.approx((15 - 1) ** 2 / 25)
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(7.84 / 2)))
    assert result["p_value"] == pytest.approx(0.005110, abs=1e-6)


def test_paired_comparison_rejects_records_of_different_files() -> None:
    a, b = _paired_records([True, False, True], [True, True, False])
    with pytest.raises(ValueError, match="different test files: 1 indices only in records_a"):
        paired_comparison(a, b[:2])
    shifted = [dict(record, index=record["index"] + 10) for record in b]
    with pytest.raises(ValueError, match="different test files"):
        paired_comparison(a, shifted)
    other_truth = [dict(record, truth="no") for record in b]
    with pytest.raises(ValueError, match="index 0 has truth 'yes' in records_a and 'no' in records_b"):
        paired_comparison(a, other_truth)
    with pytest.raises(ValueError, match="holds index 0 twice"):
        paired_comparison(a + a[:1], b)
    with pytest.raises(ValueError, match="records_a is empty"):
        paired_comparison([], b)


def test_single_ab_report_uses_lr_iad_layouts(tmp_path: Path) -> None:
    # VisA: candle 3/4 right, pcb1 1/2 right -> 4/6; MVTec-AD file only for Table VI.
    visa = records(SINGLE_AB, "visa", [("candle", "A", "A"), ("candle", "B", "B"), ("candle", "A", "B")])
    visa += records(SINGLE_AB, "visa", [("candle", "B", "B"), ("pcb1", "A", "A"), ("pcb1", "B", None)], start=3)
    mvtec = records(SINGLE_AB, "mvtec_ad", [("bottle", "A", "A"), ("bottle", "B", "B")])
    paths = [
        write_json(tmp_path / "visa.json", metrics_of(visa, "lr-try", "visa_single.parquet", CI)),
        write_json(tmp_path / "mvtec.json", metrics_of(mvtec, "lr-try", "mvtec_single.parquet")),
    ]
    written = write_report(paths, tmp_path / "out")
    names = {path.name for path in written}
    assert {"lr_iad_table3_layout.csv", "lr_iad_table5_layout.csv", "lr_iad_table6_layout.csv"} <= names
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| LR-IAD | published (LR-IAD, Table III) | 84.35 | 71.54 | 87.60 | 59.54 |" in md
    assert "| Qwen2-VL (base) | published (LR-IAD, Table IV) | 69.84 | 30.88 | 70.80 | 20.56 |" in md
    assert md.count("| LR-IAD | published (LR-IAD, Table IV)") == 0  # the same row as Table III's: shown once
    assert "| lr-try (visa_single) | ours (visa_single.parquet) | – | – | 66.67 [50.00, 90.00] |" in md
    # nan intervals in the metrics file and no records: no brackets
    assert "| lr-try (mvtec_single) | ours (mvtec_single.parquet) | 100.00 | 100.00 | – | – |" in md
    table5 = {row["Object"]: row for row in read_csv(tmp_path / "out" / "lr_iad_table5_layout.csv")}
    assert float(table5["pcb1"]["AprilGAN Acc., published (LR-IAD, Table V)"]) == 72.01
    assert float(table5["candle"]["lr-try (visa_single) Acc."]) == pytest.approx(75.0)
    assert table5["cashew"]["lr-try (visa_single) Acc."] == ""
    assert float(table5["overall"]["lr-try (visa_single) Acc."]) == pytest.approx(100 * 4 / 6)
    assert "| candle | 34.55 | 32.35 | 40.27 | 35.30 | 92.55 | 63.28 | 75.00 |" in md
    assert_png(tmp_path / "out" / "category_accuracy.png")


def test_pair3c_report_uses_fad_tq_layouts(tmp_path: Path) -> None:
    rows = [("pushpins", t, p) for t, p in [("A", "A"), ("B", "B"), ("C", "A"), ("C", "C")]]
    recs = records(PAIR3C, "mvtec_loco", rows)
    path = write_json(tmp_path / "fad.json", metrics_of(recs, "fad-try", "loco_pair3c.parquet"))
    write_report([path], tmp_path / "out", [write_jsonl(tmp_path / "fad.jsonl", recs)], n_resamples=N_RESAMPLES)
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert (
        "| FAD-TQ (Ours) | Dense | published (FAD-TQ, Table 2) | 72.26 | 78.13 | 54.17 | 99.73 | 54.29 | 90.69 "
        "| 44.80 | 86.85 | 58.95 | 29.59 | 55.89 | – | – |"
    ) in md
    table2 = {row["Model"]: row for row in read_csv(tmp_path / "out" / "fad_tq_table2_layout.csv")}
    ours = table2["fad-try"]
    assert float(ours["Pushpins Acc."]) == pytest.approx(75.0) and float(ours["Overall Acc."]) == pytest.approx(75.0)
    balance = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)  # predictions A, A, B, C
    assert float(ours["Pushpins BS"]) == pytest.approx(100 * balance)
    assert float(ours["Avg. think words (not in the paper)"]) == pytest.approx(11.5)
    assert ours["Breakfast Box Acc."] == ""
    table3 = {row["Model"]: row for row in read_csv(tmp_path / "out" / "fad_tq_table3_layout.csv")}
    assert float(table3["Qwen2.5-VL 3B + GRPO"]["Overall Acc. gain"]) == 8.99
    assert float(table3["FAD-TQ (Ours)"]["Overall Avg. length"]) == 36.76
    assert float(table3["fad-try"]["Overall Avg. length"]) == pytest.approx(11.5)
    assert_png(tmp_path / "out" / "confusion_fad-try.png")


def test_inputs_are_checked(tmp_path: Path) -> None:
    recs = records(PAIR_BINARY, "mvtec_loco", LOCO_ROWS)
    binary = metrics_of(recs, "m", "f.parquet")
    three = metrics_of(records(PAIR3C, "mvtec_loco", [("pushpins", "A", "A")]), "m3", "g.parquet")
    with pytest.raises(ValueError, match="one protocol"):
        make_runs([binary, three])
    with pytest.raises(ValueError, match=r"records #0 hold 9 samples but metrics #0 \(m\) report n=10"):
        make_runs([binary], [recs[:9]])
    with pytest.raises(ValueError, match=r"lacks \['by_category'\]"):
        validate_metrics({key: value for key, value in binary.items() if key != "by_category"})
    with pytest.raises(ValueError, match="unknown protocol"):
        validate_metrics(dict(binary, protocol="pair-ternary"))
    metrics_path = write_json(tmp_path / "m.json", binary)
    with pytest.raises(ValueError, match="2 records files for 1 metrics files"):
        write_report([metrics_path], tmp_path / "out", [tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    # Two runs naming the same test file but holding different samples cannot be compared.
    other = records(PAIR_BINARY, "mvtec_loco", [(c, "no", p) for c, _, p in LOCO_ROWS])
    paths = [metrics_path, write_json(tmp_path / "o.json", metrics_of(other, "o", "f.parquet"))]
    record_paths = [write_jsonl(tmp_path / "m.jsonl", recs), write_jsonl(tmp_path / "o.jsonl", other)]
    with pytest.raises(ValueError, match="different test files"):
        write_report(paths, tmp_path / "out", record_paths, n_resamples=N_RESAMPLES)


def test_the_cli_names_a_missing_metrics_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evaluation.__main__ import main

    present = write_json(
        tmp_path / "a" / "metrics.json", metrics_of(records(PAIR_BINARY, "mvtec_loco", LOCO_ROWS), "m", "f")
    )
    code = main(["report", str(present), str(tmp_path / "b" / "metrics.json"), "--out", str(tmp_path / "out")])
    assert code != 0
    assert f"no metrics file at {tmp_path / 'b' / 'metrics.json'}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_cli_pairs_each_run_with_its_own_records(tmp_path: Path) -> None:
    from evaluation.__main__ import main

    recs = records(PAIR_BINARY, "mvtec_loco", LOCO_ROWS)
    plain = write_json(tmp_path / "plain" / "metrics.json", metrics_of(recs, "no-records", "f.parquet"))
    write_json(tmp_path / "with" / "metrics.json", metrics_of(recs, "with-records", "f.parquet"))
    write_jsonl(tmp_path / "with" / "records.jsonl", recs)
    assert main(["report", str(plain), str(tmp_path / "with" / "metrics.json"), "--out", str(tmp_path / "out")]) == 0
    runs_csv = {row["Model"]: row for row in read_csv(tmp_path / "out" / "runs.csv")}
    assert set(runs_csv) == {"no-records", "with-records"}
