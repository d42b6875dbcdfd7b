"""Obvious anomalies: one large saturated disc, its mask in the dataset, and the writers' option for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthetic.__main__ import main
from synthetic.datasets import write_mvtec_ad, write_mvtec_loco
from synthetic.obvious import LOGICAL_INK, RADIUS_RANGE, STRUCTURAL_INK, draw_obvious, obvious_ink


def test_the_disc_covers_a_large_share_of_the_image_in_one_colour() -> None:
    drawing = draw_obvious("mvtec_ad", "bottle", "contamination", np.random.default_rng(0), 112)
    (region,) = drawing.regions
    share = region.mask.mean()
    assert np.pi * RADIUS_RANGE[0] ** 2 * 0.9 <= share <= np.pi * RADIUS_RANGE[1] ** 2 * 1.1
    pixels = np.array(drawing.image)
    assert (pixels[region.mask] == STRUCTURAL_INK).all()
    assert (pixels[~region.mask] == np.array(drawing.good)[~region.mask]).all()


def test_loco_logical_defects_are_magenta_and_structural_ones_cyan() -> None:
    assert obvious_ink("mvtec_loco", "pushpins", "missing_pin") == LOGICAL_INK
    assert obvious_ink("mvtec_loco", "pushpins", "broken_pin") == STRUCTURAL_INK
    with pytest.raises(ValueError, match="Unknown"):
        obvious_ink("mvtec_loco", "pushpins", "not_a_defect")


def test_mvtec_ad_writer_stores_the_disc_as_the_mask(tmp_path: Path) -> None:
    root = write_mvtec_ad(tmp_path / "ad", ["bottle"], n_train=1, n_test_good=1, n_test_per_defect=1,
                          size=64, anomalies="obvious").root  # fmt: skip
    image = np.array(Image.open(root / "bottle/test/broken_large/000.png"))
    mask = np.array(Image.open(root / "bottle/ground_truth/broken_large/000_mask.png")) > 0
    assert mask.mean() > 0.3
    assert (image[mask] == STRUCTURAL_INK).all()
    manifest = json.loads((root / "synthetic_manifest.json").read_text())
    assert manifest["parameters"]["anomalies"] == "obvious"


def test_realistic_is_the_default_and_leaves_the_manifest_as_before(tmp_path: Path) -> None:
    root = write_mvtec_ad(tmp_path / "ad", ["bottle"], n_train=1, n_test_good=1, n_test_per_defect=1, size=32).root
    assert "anomalies" not in json.loads((root / "synthetic_manifest.json").read_text())["parameters"]


def test_an_unknown_style_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: realistic, obvious"):
        write_mvtec_loco(tmp_path / "loco", ["pushpins"], anomalies="loud")


def test_cli_takes_the_style_and_loco_counts(tmp_path: Path) -> None:
    out = tmp_path / "loco"
    argv = ["mvtec_loco", "--out", str(out), "--categories", "pushpins", "--anomalies", "obvious", "--count",
            "train=1", "validation=1", "good=1", "logical_anomalies=2", "structural_anomalies=1"]  # fmt: skip
    assert main(argv) == 0
    assert len(list((out / "pushpins/test/logical_anomalies").glob("*.png"))) == 2


def test_cli_rejects_an_unknown_count_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mvtec_loco", "--out", str(tmp_path / "x"), "--count", "goood=3"]) == 2
    assert "goood" in capsys.readouterr().err
