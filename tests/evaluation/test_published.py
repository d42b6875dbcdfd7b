"""The papers' published tables: they load, carry their sources, stay in range and agree with each other."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from data_prep.catalog import LOCO_SPLIT_COUNTS, MVTEC_AD_CATEGORIES, VISA_CATEGORIES
from data_prep.prompts import PROTOCOLS
from evaluation.published import (
    METRIC_RANGES,
    PUBLISHED_YAML,
    PublishedDataError,
    load_published,
    parse_published,
    tables_for,
)

TABLES = load_published()
EXPECTED = {
    "lad_reasoner_table1": ("LAD-Reasoner", "Table 1", "pair-binary"),
    "lr_iad_table3": ("LR-IAD", "Table III", "single-ab"),
    "lr_iad_table4": ("LR-IAD", "Table IV", "single-ab"),
    "lr_iad_table5": ("LR-IAD", "Table V", "single-ab"),
    "lr_iad_table6": ("LR-IAD", "Table VI", "single-ab"),
    "fad_tq_table2": ("FAD-TQ", "Table 2", "pair3c"),
    "fad_tq_table3": ("FAD-TQ", "Table 3", "pair3c"),
}


def test_every_table_loads_with_its_source() -> None:
    assert {key: (t.paper, t.table, t.protocol) for key, t in TABLES.items()} == EXPECTED
    for table in TABLES.values():
        assert table.citation and table.description, table.key
        assert table.source == f"{table.paper}, {table.table}"
        assert table.unit == "percent"  # all three papers print percentages
        assert table.rows and table.columns


def test_numbers_lie_in_range_and_percentages_are_percent() -> None:
    scores = []
    for table in TABLES.values():
        for row in table.rows:
            for group, cells in row.values.items():
                for metric, value in cells.items():
                    if value is None:
                        assert row.note, (table.key, row.model, group, metric)
                        continue
                    low, high = METRIC_RANGES[metric]
                    assert low <= value <= high, (table.key, row.model, group, metric, value)
                    if metric in ("accuracy", "f1_positive", "macro_f1", "balance_score"):
                        scores.append(value)
    # Percent, not fractions: most scores exceed 1 (a fraction-scaled transcription would not).
    assert sum(value > 1 for value in scores) > 0.95 * len(scores)


def test_no_duplicated_rows() -> None:
    for table in TABLES.values():
        models = [row.model for row in table.rows]
        assert len(models) == len(set(models)), table.key
        numbers = [tuple(sorted((g, tuple(c.items())) for g, c in row.values.items())) for row in table.rows]
        assert len(numbers) == len(set(numbers)), table.key


def test_spot_checks_against_the_papers() -> None:
    lad = TABLES["lad_reasoner_table1"]
    assert lad.row("LAD-Reasoner (ours)").values["overall"] == {"accuracy": 60.4, "f1_positive": 63.5}
    assert lad.row("Qwen2.5-VL-3B").get("pushpins", "f1_positive") == 29.1
    assert lad.row("Qwen2.5-VL-3B-SFT").get("breakfast_box", "accuracy") == 29.2
    assert [row.role for row in lad.rows].count("method") == 1
    lr3 = TABLES["lr_iad_table3"].row("LR-IAD")
    assert (lr3.get("mvtec_ad", "accuracy"), lr3.get("mvtec_ad", "macro_f1")) == (84.35, 71.54)
    assert (lr3.get("visa", "accuracy"), lr3.get("visa", "macro_f1")) == (87.60, 59.54)
    assert TABLES["lr_iad_table4"].row("Qwen2-VL (base)").get("mvtec_ad", "macro_f1") == 30.88
    assert TABLES["lr_iad_table5"].row("AprilGAN").values["pcb1"] == {"accuracy": 72.01, "macro_f1": 47.90}
    assert TABLES["lr_iad_table6"].row("LR-IAD").values["transistor"] == {"accuracy": 91.37, "macro_f1": 73.94}
    fad = TABLES["fad_tq_table2"]
    assert fad.row("FAD-TQ (Ours)").get("overall", "accuracy") == 55.89
    assert fad.row("MiniCPM-V-4").get("juice_bottle", "balance_score") == 0.0
    assert fad.row("Kimi-VL-A3B-Instruct").extra["type"] == "MoE"
    lengths = {row.model: row.get("overall", "mean_reasoning_length") for row in TABLES["fad_tq_table3"].rows}
    assert lengths == {
        "Qwen2.5-VL 3B": None,
        "Qwen2.5-VL 3B + GRPO": 52.02,
        "Qwen2.5-VL 3B + GPG": 44.04,
        "FAD-TQ (Ours)": 36.76,
    }


def test_fad_tq_overall_is_the_pooled_category_accuracy() -> None:
    """FAD-TQ's test split is the LOCO test set less 40 images per class (its Table 1): every accuracy times its
    count is a whole number of images, and Overall pools them. This checks every transcribed accuracy."""
    counts = {
        category: sum(c[k] for k in ("good", "structural_anomalies", "logical_anomalies")) - 3 * 40
        for category, c in LOCO_SPLIT_COUNTS.items()
    }
    assert sum(counts.values()) == 968
    for row in TABLES["fad_tq_table2"].rows:
        correct = {c: row.get(c, "accuracy") * n / 100 for c, n in counts.items()}
        for category, images in correct.items():
            assert abs(images - round(images)) < 0.015, (row.model, category, images)
        pooled = 100 * sum(round(images) for images in correct.values()) / sum(counts.values())
        assert pooled == pytest.approx(row.get("overall", "accuracy"), abs=0.006), row.model


def test_tables_agree_with_each_other() -> None:
    table3, table4 = TABLES["lr_iad_table3"], TABLES["lr_iad_table4"]
    assert table4.row("LR-IAD").values == table3.row("LR-IAD").values
    base, method = table4.row("Qwen2-VL (base)"), table4.row("LR-IAD")
    gains = [method.get(d, m) - base.get(d, m) for d in ("mvtec_ad", "visa") for m in ("accuracy", "macro_f1")]
    assert gains == pytest.approx([14.51, 40.66, 16.80, 38.98])  # printed in parentheses in Table IV
    assert TABLES["lr_iad_table5"].groups == VISA_CATEGORIES
    assert TABLES["lr_iad_table6"].groups == MVTEC_AD_CATEGORIES
    assert set(TABLES["lad_reasoner_table1"].groups) == {"overall", *LOCO_SPLIT_COUNTS}
    fad2, fad3 = TABLES["fad_tq_table2"], TABLES["fad_tq_table3"]
    assert fad3.row("Qwen2.5-VL 3B").get("overall", "accuracy") == fad2.row("Qwen2.5-VL-3B").get("overall", "accuracy")
    assert fad3.row("FAD-TQ (Ours)").get("overall", "accuracy") == fad2.row("FAD-TQ (Ours)").get("overall", "accuracy")


def test_tables_for_each_protocol() -> None:
    assert {p: [t.key for t in tables_for(p)] for p in PROTOCOLS} == {
        "pair-binary": ["lad_reasoner_table1"],
        "single-ab": ["lr_iad_table3", "lr_iad_table4", "lr_iad_table5", "lr_iad_table6"],
        "pair3c": ["fad_tq_table2", "fad_tq_table3"],
        "mmad": [],  # MMAD's own layout: evaluation/mmad_published, read by evaluation.mmad
    }
    with pytest.raises(ValueError, match="unknown protocol"):
        tables_for("pair-ternary")


def _document() -> dict:
    return yaml.safe_load(PUBLISHED_YAML.read_text(encoding="utf-8"))


def _break(change) -> dict:
    document = _document()
    change(document["tables"][0])  # lad_reasoner_table1
    return document


def _set_first_overall(value):
    def change(table: dict) -> None:
        table["rows"][0]["values"]["overall"][0] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_first_overall(120.0), r"'lad_reasoner_table1', row #0 \(APRIL-GAN\).*accuracy = 120.0 lies outside"),
        (_set_first_overall("52.4"), r"APRIL-GAN.*must be a number"),
        (_set_first_overall(None), r"APRIL-GAN.*null number needs a note"),
        (lambda t: t["rows"].append(dict(t["rows"][0])), r"'lad_reasoner_table1'.*rows repeat: \['APRIL-GAN'\]"),
        (lambda t: t["rows"][1]["values"].pop("pushpins"), r"row #1 \(AnomalyGPT\).*values have groups"),
        (lambda t: t["rows"][2]["values"]["screw_bag"].pop(), r"Qwen2.5-VL-3B.*'screw_bag' needs 2 values"),
        (lambda t: t.pop("citation"), r"'lad_reasoner_table1'.*missing fields \['citation'\]"),
        (lambda t: t["columns"][1].update(group="bottle"), r"column #1.*group 'bottle' is not"),
        (lambda t: t["columns"][0].update(metrics=["auroc", "f1_positive"]), r"column #0.*not among"),
        (lambda t: t["rows"][0].update(role="winner"), r"APRIL-GAN.*role 'winner'"),
        (lambda t: t.update(protocol="pair-ternary"), r"'lad_reasoner_table1'.*protocol 'pair-ternary'"),
    ],
)
def test_malformed_tables_name_table_and_row(change, message: str) -> None:
    with pytest.raises(PublishedDataError, match=message):
        parse_published(_break(change))


def test_duplicated_table_and_bad_file(tmp_path: Path) -> None:
    document = _document()
    document["tables"].append(dict(document["tables"][0]))
    with pytest.raises(PublishedDataError, match="'lad_reasoner_table1': the key repeats"):
        parse_published(document)
    broken = tmp_path / "published.yaml"
    broken.write_text("tables: [\n", encoding="utf-8")
    with pytest.raises(PublishedDataError, match="not valid YAML"):
        load_published(broken)
    with pytest.raises(PublishedDataError, match="one key, 'tables'"):
        parse_published({"table": []})


def test_no_number_is_nan() -> None:
    for table in TABLES.values():
        for row in table.rows:
            assert all(v is None or math.isfinite(v) for cells in row.values.values() for v in cells.values())
