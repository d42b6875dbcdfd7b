"""verl's own RLHFDataset loads a two-image row (reference + query) with the tiny policy's processor."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from PIL import Image

from synthetic.tiny_models import TinyModels


def _png(color: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_two_image_row(path: Path) -> Path:
    row = {
        "data_source": "mvtec_loco",
        "prompt": [{"role": "user", "content": "<image><image>Can you find any anomaly in the query image?"}],
        "images": [{"bytes": _png("white", (64, 64))}, {"bytes": _png("gray", (80, 64))}],
        "ability": "anomaly_detection",
        "reward_model": {"style": "rule", "ground_truth": "yes"},
        "extra_info": {"split": "test", "index": 0},
    }
    pd.DataFrame([row]).to_parquet(path)
    return path


def test_rlhf_dataset_loads_two_image_row(tiny_models: TinyModels, tmp_path: Path, hf_home: Path) -> None:
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    processor = hf_processor(str(tiny_models.policy))
    config = OmegaConf.create(
        {
            "cache_dir": str(tmp_path / "verl_cache"),
            "max_prompt_length": 512,
            "filter_overlong_prompts": True,  # runs the processor on every row; a failure would drop the row
            # None filters in this process: datasets forks a pool for any num_proc >= 1, and a fork after vLLM's
            # in-process engine has run (earlier in the session) can deadlock.
            "filter_overlong_prompts_workers": None,
        }
    )
    dataset = RLHFDataset(
        str(_write_two_image_row(tmp_path / "pairs.parquet")),
        hf_tokenizer(str(tiny_models.policy)),
        config,
        processor=processor,
    )
    assert len(dataset) == 1

    item = dataset[0]
    content = item["raw_prompt"][0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert item["reward_model"]["ground_truth"] == "yes"

    images, videos, _ = RLHFDataset._process_multi_modal_info(item["raw_prompt"], 14, config)
    assert len(images) == 2 and videos is None
    prompt = processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
    inputs = build_multimodal_processor_inputs(processor, text=[prompt], images=images)
    assert inputs["image_grid_thw"].shape == (2, 3)

    batch = collate_fn([item])
    assert batch["dummy_tensor"].shape == (1, 1)
