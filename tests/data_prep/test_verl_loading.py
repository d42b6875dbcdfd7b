"""verl's own RLHFDataset loads every protocol's output with the tiny Qwen2.5-VL processor, dropping nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from data_prep.build import BuildConfig, build

CONFIGS = {
    "pair-binary": {"datasets": ("mvtec_ad", "visa"), "categories": ("cable", "capsules")},
    "single-ab": {"datasets": ("visa",)},
    "pair3c": {"train_per_class": 1, "references": 2},
}


@pytest.mark.parametrize("protocol", list(CONFIGS))
def test_rlhf_dataset_loads_every_row(
    protocol: str, small_roots: dict[str, Path], tiny_models, tmp_path: Path, hf_home: Path
) -> None:
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    result = build(BuildConfig(protocol=protocol, roots=small_roots, out=tmp_path / "out", **CONFIGS[protocol]))
    config = OmegaConf.create(
        {
            "cache_dir": str(tmp_path / "verl_cache"),
            "max_prompt_length": 2048,
            "filter_overlong_prompts": True,  # runs the processor on each row; any failure would drop the row
            # None filters in this process: datasets forks a pool for any num_proc >= 1, and a fork after vLLM's
            # in-process engine has run (earlier in the session) can deadlock.
            "filter_overlong_prompts_workers": None,
        }
    )
    processor = hf_processor(str(tiny_models.policy))
    for split in ("train", "test"):
        path = result.files[split]
        dataset = RLHFDataset(str(path), hf_tokenizer(str(tiny_models.policy)), config, processor=processor)
        assert len(dataset) == pq.read_metadata(path).num_rows > 0
        item = dataset[len(dataset) - 1]
        images = [part for part in item["raw_prompt"][0]["content"] if part["type"] == "image"]
        assert len(images) == len(item["extra_info"]["reference_images"]) + 1
