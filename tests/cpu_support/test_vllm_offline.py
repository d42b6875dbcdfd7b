"""vLLM's CPU build generates offline with the tiny Qwen2.5-VL policy on a two-image prompt, n=8."""

from __future__ import annotations

import gc
import os

import pytest
from PIL import Image

from cpu_support import vllm_settings
from synthetic.tiny_models import TinyModels

pytestmark = pytest.mark.slow


def test_two_image_prompt_with_eight_samples(tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in vllm_settings.ENV.items():
        monkeypatch.setenv(key, value)
    from transformers import AutoProcessor
    from vllm import LLM, SamplingParams

    processor = AutoProcessor.from_pretrained(tiny_models.policy)
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Is there any anomaly?"}],
        }
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    images = [Image.new("RGB", (64, 64), "white"), Image.new("RGB", (64, 64), "black")]
    llm = LLM(
        model=str(tiny_models.policy),
        limit_mm_per_prompt={"image": 2, "video": 0},
        seed=0,
        **vllm_settings.OFFLINE_KWARGS,
    )
    try:
        outputs = llm.generate(
            {"prompt": prompt, "multi_modal_data": {"image": images}},
            SamplingParams(n=8, max_tokens=12, temperature=1.0, seed=0),
        )
    finally:
        del llm
        gc.collect()
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    samples = outputs[0].outputs
    assert len(samples) == 8
    assert all(1 <= len(sample.token_ids) <= 12 for sample in samples)
    # random weights at temperature 1 give different samples: n=8 really sampled 8 times
    assert len({tuple(sample.token_ids) for sample in samples}) > 1
    assert outputs[0].prompt_token_ids.count(processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")) == 2
