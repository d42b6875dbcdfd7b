"""compare_runs on two synthetic runs written with SummaryWriter: the figures, the summary's numbers, the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from evaluation.compare_runs import compare_runs, draw_group, main, metric_groups
from evaluation.tensorboard import discover_runs, read_scalars

RUN_A = {
    "reward/score/mean": {1: 0.5, 2: 1.5, 3: 1.25, 4: 1.0},
    "reward/acc/mean": {1: 0.25, 2: 0.75, 3: 0.5, 4: 0.625},
    "reward/format/mean": {1: 1.0, 2: 1.0, 3: 0.875, 4: 1.0},
    "response_length/mean": {1: 120.0, 2: 96.0, 3: 80.0, 4: 72.0},
    "actor/grad_norm": {1: 0.5, 2: 0.25, 3: 0.375, 4: 0.125},
    "timing_s/step": {1: 4.0, 2: 2.0, 3: 2.5, 4: 3.5},
    "val-core/mvtec/reward/acc/mean@1": {0: 0.5, 2: 0.625, 4: 0.75},
}
RUN_B = {
    "reward/score/mean": {1: 0.25, 2: 0.75, 3: 2.0},
    "reward/acc/mean": {1: 0.5, 2: 0.5, 3: 0.25},
    "reward/format/mean": {1: 0.5, 2: 0.75, 3: 1.0},
    "reward/tq/mean": {1: 0.0, 2: 0.25, 3: 0.125},  # only in b
    "response_length/mean": {1: 64.0, 2: 60.0, 3: 58.0},
    "actor/grad_norm": {1: 1.5, 2: 1.0, 3: 0.75},
    "timing_s/step": {1: 1.0, 2: 1.5, 3: 2.0},
    "val-core/mvtec/reward/acc/mean@1": {0: 0.5, 3: 0.375},
}
EXPECTED = {"a": RUN_A, "b": RUN_B}
PNGS = {"rewards.png", "accuracy.png", "response_length.png", "grad_norm.png"}


def write_events(folder: Path, scalars: dict[str, dict[int, float]]) -> Path:
    with SummaryWriter(log_dir=str(folder)) as writer:
        for tag, points in scalars.items():
            for step, value in points.items():
                writer.add_scalar(tag, value, global_step=step)
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    write_events(tmp_path / "logs" / "a", RUN_A)
    write_events(tmp_path / "logs" / "b", RUN_B)
    return discover_runs([tmp_path / "logs"])


def best(points: dict[int, float]) -> tuple[float, int]:
    value = max(points.values())
    return value, min(step for step, item in points.items() if item == value)


def test_compare_runs_writes_the_figures_and_the_summary(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = compare_runs(runs, out)
    assert {path.name for path in written} == PNGS | {"summary.md", "summary.csv"}
    assert sorted(path.name for path in out.iterdir()) == sorted(path.name for path in written)  # no temp files
    for name in PNGS:
        assert (out / name).stat().st_size > 10_000
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 300

    rows = {row["run"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert set(rows) == {"a", "b"}
    markdown = (out / "summary.md").read_text()
    for run, scalars in EXPECTED.items():
        row = rows[run]
        assert int(row["steps"]) == len(scalars["timing_s/step"])  # the step-0 validation is no training step
        times = scalars["timing_s/step"].values()
        assert float(row["mean_step_s"]) == sum(times) / len(times)
        for tag in ("reward/score/mean", "reward/acc/mean", "reward/format/mean", "val-core/mvtec/reward/acc/mean@1"):
            points = scalars[tag]
            value, step = best(points)
            assert float(row[f"{tag} last"]) == points[max(points)]
            assert (float(row[f"{tag} best"]), int(row[f"{tag} best_step"])) == (value, step)
            assert f"| {run} | {points[max(points)]:.4g} | {max(points)} | {value:.4g} | {step} |" in markdown
    assert rows["b"]["reward/tq/mean best"] == "0.25" and rows["a"]["reward/tq/mean best"] == ""
    assert "| a | — | — | — | — |" in markdown  # a has no reward/tq/mean


def test_a_tag_only_one_run_logged_is_drawn_for_that_run_only(runs: dict[str, Path]) -> None:
    scalars = {name: read_scalars(folder) for name, folder in runs.items()}
    rewards = next(group for group in metric_groups(scalars) if group.name == "rewards")
    assert rewards.tags == ("reward/acc/mean", "reward/format/mean", "reward/score/mean", "reward/tq/mean")
    figure = draw_group(rewards, scalars)
    lines = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in figure.axes if ax.get_title()}
    assert lines["reward/tq/mean"] == ["b"]
    assert lines["reward/acc/mean"] == ["a", "b"]
    tq = next(ax for ax in figure.axes if ax.get_title() == "reward/tq/mean")
    assert list(tq.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert [text.get_text() for text in tq.texts] == ["not in: a"]
    accuracy = next(group for group in metric_groups(scalars) if group.name == "accuracy")
    assert accuracy.tags == ("reward/acc/mean", "val-core/mvtec/reward/acc/mean@1")


def test_tags_select_the_figure_and_the_summary_columns(runs: dict[str, Path], tmp_path: Path) -> None:
    written = compare_runs(runs, tmp_path / "out", tags=["actor/grad_norm", "reward/*/mean", "missing/tag"])
    assert [path.name for path in written] == ["tags.png", "summary.md", "summary.csv"]
    header = next(csv.reader((tmp_path / "out" / "summary.csv").open()))
    tags = [column.removesuffix(" last") for column in header if column.endswith(" last")]
    assert tags == ["actor/grad_norm", "reward/acc/mean", "reward/format/mean", "reward/score/mean", "reward/tq/mean"]


def test_cli_compares_runs_and_exits_2_for_a_folder_without_events(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(runs["a"]), str(runs["b"]), "--out", str(tmp_path / "cli")]) == 0
    assert "compared 2 runs: a, b" in capsys.readouterr().out
    assert (tmp_path / "cli" / "summary.csv").is_file()

    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(runs["a"]), str(tmp_path / "empty"), "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert "no TensorBoard event files" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
