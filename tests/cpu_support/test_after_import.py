"""cpu_support.after_import.when_imported: a callback now for an imported module, once on import otherwise."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from cpu_support.after_import import when_imported


def test_already_imported_module_calls_back_at_once() -> None:
    seen: list[ModuleType] = []
    when_imported("json", seen.append)
    assert seen == [json]


def test_module_imported_later_calls_back_once_with_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"iad_after_import_probe_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[ModuleType] = []
    try:
        when_imported(name, seen.append)
        assert seen == []
        module = importlib.import_module(name)
        assert seen == [module] and module.VALUE == 42
        importlib.import_module(name)
        importlib.reload(module)
        assert seen == [module]
    finally:
        sys.modules.pop(name, None)
