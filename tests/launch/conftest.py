"""Fixtures of the CPU training tests: data that the recipes read."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build


@pytest.fixture(scope="module")
def pair3c_data(loco_real_counts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fad_tq_gpg's data (pair3c) from the real-counts MVTec LOCO tree: ``IAD_DATA_DIR`` for the recipe."""
    data = tmp_path_factory.mktemp("cpu-train-data")
    build(BuildConfig(protocol="pair3c", roots={"mvtec_loco": loco_real_counts}, out=data / "pair3c"))
    return data
