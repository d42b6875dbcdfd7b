"""Reading verl's TensorBoard scalars back, and finding runs, on event files written here with SummaryWriter."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from evaluation.tensorboard import NoEventsError, discover_runs, read_scalars
from launch.cpu_train import CPURun


def write_events(folder: Path, scalars: dict[str, dict[int, float]]) -> Path:
    with SummaryWriter(log_dir=str(folder)) as writer:
        for tag, points in scalars.items():
            for step, value in points.items():
                writer.add_scalar(tag, value, global_step=step)
    return folder


SCALARS = {
    "actor/grad_norm": {1: 0.75, 2: 0.5, 3: 0.125},
    "reward/acc/mean": {1: 0.25, 2: 0.5, 3: 0.375},
    "val-core/mvtec/reward/acc/mean@1": {0: 0.5, 3: 0.625},
}


def test_read_scalars_round_trips_steps_and_values(tmp_path: Path) -> None:
    assert read_scalars(write_events(tmp_path / "run", SCALARS)) == SCALARS


def test_read_scalars_reads_the_folders_inside_a_run(tmp_path: Path) -> None:
    write_events(tmp_path / "run", {"a": {1: 1.0}})
    write_events(tmp_path / "run" / "inner", {"b": {2: 2.0}})
    assert read_scalars(tmp_path / "run") == {"a": {1: 1.0}, "b": {2: 2.0}}
    assert read_scalars(tmp_path / "nothing") == {}


def test_read_scalars_honours_a_purge_as_a_resumed_run_writes_it(tmp_path: Path) -> None:
    """A killed run logged steps 1-3, its checkpoint was step 2: the resumed run's step 3 is the only one left."""
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from launch.cpu_train import purge_steps_from

    write_events(tmp_path, {"a": {1: 1.0, 2: 2.0, 3: 3.0}, "b": {3: 3.0}})
    time.sleep(1.1)  # event file names start with the second they were created in: this keeps their order
    purge_steps_from(tmp_path, 3)
    time.sleep(1.1)
    write_events(tmp_path, {"a": {3: 30.0, 4: 40.0}})
    assert read_scalars(tmp_path) == {"a": {1: 1.0, 2: 2.0, 3: 30.0, 4: 40.0}}
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})  # as TensorBoard itself reads it
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars("a")] == [1, 2, 3, 4]


def test_cpu_run_scalars_still_read_its_tensorboard_folder(tmp_path: Path) -> None:
    write_events(tmp_path / "tensorboard", SCALARS)
    assert CPURun(out=tmp_path, returncode=0, seconds=1.0).scalars() == SCALARS


def test_discover_runs_finds_the_runs_under_a_parent(tmp_path: Path) -> None:
    write_events(tmp_path / "logs" / "alpha", {"a": {1: 1.0}})
    write_events(tmp_path / "logs" / "project" / "beta", {"a": {1: 2.0}})
    write_events(tmp_path / "logs" / "project" / "beta" / "nested", {"b": {1: 3.0}})  # part of beta
    (tmp_path / "logs" / "empty").mkdir()
    runs = discover_runs([tmp_path / "logs"])
    assert runs == {"alpha": tmp_path / "logs" / "alpha", "project/beta": tmp_path / "logs" / "project" / "beta"}


def test_discover_runs_names_run_folders_uniquely(tmp_path: Path) -> None:
    first = write_events(tmp_path / "x" / "run" / "tensorboard", {"a": {1: 1.0}})
    second = write_events(tmp_path / "y" / "run" / "tensorboard", {"a": {1: 1.0}})
    plain = write_events(tmp_path / "plain", {"a": {1: 1.0}})
    assert discover_runs([plain]) == {"plain": plain}
    assert discover_runs([first]) == {"run": first}  # cpu_train's <out>/tensorboard is named after <out>
    assert discover_runs([first, second, first]) == {"x/run": first, "y/run": second}


def test_discover_runs_errors_on_a_folder_without_events(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no events here")
    with pytest.raises(NoEventsError, match="no TensorBoard event files .* under .*empty"):
        discover_runs([tmp_path / "empty"])
    with pytest.raises(NoEventsError, match="does not exist"):
        discover_runs([tmp_path / "missing"])
