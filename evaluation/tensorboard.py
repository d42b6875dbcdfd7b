"""Read the scalars verl logged to TensorBoard, and find the runs under a set of folders.

verl's tensorboard logger writes one event file per process into ``$TENSORBOARD_DIR`` or
``tensorboard_log/<project>/<experiment>/``; a CPU run of ``launch.cpu_train`` into ``<out>/tensorboard/``.
A run is a folder that holds event files (``events.out.tfevents.*``) itself; its scalars are those of every
event file in it and below it (``read_scalars``), so a folder inside a run is part of that run, not a run of
its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EVENTS_GLOB = "events.out.tfevents.*"


class NoEventsError(FileNotFoundError):
    """A folder given as a run, or as a parent of runs, holds no TensorBoard event files."""


def read_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar in the event files in and below ``folder``: ``{tag: {step: value}}``.

    Each folder's event files are read as TensorBoard reads them, in name order (names start with the creation
    time) through one accumulator, which honours a purge (a session restarted at step k voids the earlier events
    from step k on, as ``launch.cpu_train --resume`` writes); a step logged twice otherwise keeps the later value.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, dict[int, float]] = {}
    for directory in sorted({events.parent for events in Path(folder).rglob(EVENTS_GLOB) if events.is_file()}):
        accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            points = {event.step: event.value for event in accumulator.Scalars(tag)}
            if points:  # a purge can leave a tag with none
                scalars.setdefault(tag, {}).update(points)
    return scalars


def _has_events(folder: Path) -> bool:
    return any(child.is_file() for child in folder.glob(EVENTS_GLOB))


def _run_folders(root: Path) -> list[Path]:
    """The topmost folders at or under ``root`` that hold event files themselves, in path order."""
    if _has_events(root):
        return [root]
    holders = sorted({events.parent for events in root.rglob(EVENTS_GLOB) if events.is_file()})
    runs: list[Path] = []
    for folder in holders:  # sorted, so a run's folder comes before the folders inside it
        if not any(folder.is_relative_to(run) for run in runs):
            runs.append(folder)
    return runs


def _unique_names(folders: list[Path], names: list[str]) -> list[str]:
    """``names``, with each one that collides lengthened by its folder's parents until all are unique."""
    parts = [folder.parts for folder in folders]
    depth = [len(Path(name).parts) for name in names]
    names = list(names)
    while True:
        seen: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            seen.setdefault(name, []).append(index)
        clashes = [indices for indices in seen.values() if len(indices) > 1]
        if not clashes:
            return names
        grew = False
        for indices in clashes:
            for index in indices:
                if depth[index] < len(parts[index]) - 1:  # never the filesystem root's own part
                    depth[index] += 1
                    names[index] = "/".join(parts[index][-depth[index] :])
                    grew = True
        if not grew:  # unreachable for distinct resolved folders; kept so the loop always ends
            raise ValueError(f"cannot name the runs uniquely: {sorted(seen)}")


def _own_name(folder: Path) -> str:
    """A run folder's name; ``launch.cpu_train``'s ``<out>/tensorboard`` is named after ``<out>``."""
    return folder.parent.name if folder.name == "tensorboard" and folder.parent.name else folder.name


def discover_runs(paths: Iterable[Path]) -> dict[str, Path]:
    """The TensorBoard runs at or under ``paths``: ``{name: folder}``, in the order given, each parent's sorted.

    Each path is a run's folder (it holds event files itself: the run is named after the folder, or after its
    parent for a folder named ``tensorboard`` as ``launch.cpu_train`` writes ``<out>/tensorboard``) or a parent of
    runs (each named by its folder relative to the path, as ``project/experiment``). Names that would collide,
    as ``a/run/tensorboard`` and ``b/run/tensorboard`` given together, take their parents' names as well (``a/run``,
    ``b/run``); a folder reached twice counts once. Raises ``NoEventsError`` for a path that is not a
    folder or holds no event files anywhere below it.
    """
    runs_found: list[Path] = []
    folders: list[Path] = []  # the folder each name is the tail of, to lengthen names that collide
    names: list[str] = []
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a folder"
            raise NoEventsError(f"{path} {what}: expected a TensorBoard run folder or a parent of run folders")
        runs = _run_folders(path)
        if not runs:
            raise NoEventsError(f"no TensorBoard event files ({EVENTS_GLOB}) in or under {path}")
        for run in runs:
            resolved = run.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if run == path:
                name = _own_name(resolved)
                folders.append(resolved if name == resolved.name else resolved.parent)
            else:
                name = run.relative_to(path).as_posix()
                folders.append(resolved)
            runs_found.append(run)
            names.append(name)
    return dict(zip(_unique_names(folders, names), runs_found, strict=True))
