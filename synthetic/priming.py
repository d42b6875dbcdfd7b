"""Teach the tiny random-weight policy the answer format, so that RL on CPU has rewards that vary.

A random model never writes ``<think>…</think><answer>…</answer>``: every reward is 0, every advantage is 0,
and a training step, although it runs, computes a zero gradient. A few hundred supervised steps on responses in
the papers' format, with answers drawn uniformly from each protocol's options (``data_prep.prompts``), give a
policy that samples the format most of the time and each option about equally often: accuracy then differs
between rollouts of a group, which is what GRPO and GPG learn from. The think text is one fixed phrase (see
``THINK_PHRASES``): the policy has no reasoning to offer, and a random one only adds noise to RL. The images are
random noise through the real processor, so the vision tower and the image-token path are trained as they will be
used.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from data_prep.prompts import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    IMAGE_PLACEHOLDER,
    PAPER_PROTOCOLS,
    PROMPTS,
    THINK_CLOSE,
    THINK_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    object_name,
    render_prompt,
    tools_system_prompt,
)

# One phrase, so that the think block is all but deterministic and the answer is the response's only real choice:
# with six phrases drawn at random, every rollout's phrase took its group's advantage too, and that noise, in the
# weights the answer shares, kept the tiny policy from learning anything within minutes (synthetic.learning_task).
THINK_PHRASES = ("the query matches the reference",)
SMALLEST_FRAME = 56  # the tiny processor's smallest image side (4 merged patches): the priming images' size
OBJECT_CATEGORIES = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors", "bottle")


def format_response(think: str, answer: str) -> str:
    return f"{THINK_OPEN}{think}{THINK_CLOSE} {ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def _box_text(rng: random.Random) -> str:
    """A large box inside a 56-pixel image (the smallest Qwen2.5-VL frame): what a grounded answer looks like."""
    x1, y1 = rng.randint(0, 8), rng.randint(0, 8)
    return f' {{"bbox_2d": [{x1}, {y1}, {x1 + rng.randint(24, 40)}, {y1 + rng.randint(24, 40)}]}}'


def priming_examples(n: int, seed: int, *, grounding: bool = False) -> list[tuple[str, str, int]]:
    """``n`` (prompt text, response, number of images) over the papers' protocols, deterministic in ``seed``;
    ``grounding``: prompts asking for the box, and an anomalous answer followed by one (a separate random stream,
    so that the examples without grounding stay as they were)."""
    rng, boxes = random.Random(seed), random.Random(seed + 1)
    protocols = sorted(PAPER_PROTOCOLS)  # MMAD's prompts are rendered per question, not from a template
    examples = []
    for index in range(n):
        protocol = protocols[index % len(protocols)]
        spec = PROMPTS[protocol]
        n_references = 0 if protocol == "single-ab" else 1
        prompt = render_prompt(protocol, rng.choice(OBJECT_CATEGORIES), n_references, grounding=grounding)
        think, key = rng.choice(THINK_PHRASES), rng.choice(spec.answer_keys)  # this order: the seed's old draws
        anomalous = "normal" not in next(option.classes for option in spec.options if option.key == key)
        response = format_response(think, key + (_box_text(boxes) if grounding and anomalous else ""))
        examples.append((prompt, response, prompt.count(IMAGE_PLACEHOLDER)))
    return examples


def prime_policy(
    policy_dir: Path, steps: int = 150, batch_size: int = 8, lr: float = 3e-3, seed: int = 0, *, grounding: bool = False
) -> float:
    """Fine-tune the saved policy in place on formatted responses (loss on the response only); the final loss."""
    examples = priming_examples(steps * batch_size, seed, grounding=grounding)
    return _fine_tune(policy_dir, examples, batch_size, lr, seed, _encode_reply, "format priming")


def _encode_reply(processor, example: tuple[str, str, int], noise: Callable[[], Any]) -> tuple[Any, Any]:
    """One (prompt, response, number of images) as model inputs, labels on the response only."""
    prompt, response, n_images = example
    images = [noise() for _ in range(n_images)]
    content = [{"type": "image"} for _ in range(n_images)] + [
        {"type": "text", "text": prompt.replace(IMAGE_PLACEHOLDER, "").strip()}
    ]
    messages = [{"role": "user", "content": content}]
    prompt_text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = processor(text=[prompt_text + response + "<|im_end|>"], images=images or None, return_tensors="pt")
    return full, _labels_after(processor, full, prompt_text, images)


def _labels_after(processor, full: Any, prompt_text: str, prompt_images: list) -> Any:
    """``full``'s tokens as labels, the prompt's (rendered with its images) masked out."""
    prompt = processor(text=[prompt_text], images=prompt_images or None, return_tensors="pt")
    labels = full["input_ids"].clone()
    labels[:, : prompt["input_ids"].shape[1]] = -100
    return labels


def _fine_tune(
    policy_dir: Path,
    examples: Sequence[Any],
    batch_size: int,
    lr: float,
    seed: int,
    encode: Callable[[Any, Any, Callable[[], Any]], tuple[Any, Any]],
    label: str,
) -> float:
    """Supervised steps on ``examples`` in batches, each encoded by ``encode(processor, example, noise)`` with
    ``noise()`` a seeded random image of the smallest frame; the policy is saved in place; the final loss."""
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    processor = AutoProcessor.from_pretrained(policy_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(policy_dir, dtype=torch.float32)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)

    def noise() -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (SMALLEST_FRAME, SMALLEST_FRAME, 3), dtype=np.uint8))

    steps, loss_value = math.ceil(len(examples) / batch_size), float("nan")
    for step, start in enumerate(range(0, len(examples), batch_size)):
        losses = []
        for example in examples[start : start + batch_size]:
            inputs, labels = encode(processor, example, noise)
            losses.append(model(**inputs, labels=labels).loss)
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if step % 50 == 0:
            print(f"{label} step {step}/{steps}: loss {loss_value:.3f}", flush=True)
    model.eval()
    model.save_pretrained(policy_dir)
    return loss_value


# --------------------------------------------------------------------------------------------------------------
# Tool use (``iad-data build --tools``): one call, its answer, then the final answer, as verl's tool loop renders them

TOOL_THINK = "look closer first"
# where the primed policy zooms: the four quarters and the centre of the smallest frame. Random boxes were learnt as
# broken JSON (greedy decoding wrote "[1, 4, 4]}}}}" after 200 steps); five windows are learnt whole, and they
# overlap a defect by chance, so the zoom's IoU varies between rollouts for RL to work with.
ZOOM_WINDOWS = ((0, 0, 28, 28), (28, 0, 56, 28), (0, 28, 28, 56), (28, 28, 56, 56), (14, 14, 42, 42))


def tool_call_text(name: str, arguments: dict) -> str:
    """A call as Qwen2.5 writes one (hermes style), what verl's ``hermes`` tool parser reads."""
    return f'{TOOL_CALL_OPEN}\n{{"name": "{name}", "arguments": {json.dumps(arguments)}}}\n{TOOL_CALL_CLOSE}'


def tool_use_examples(n: int, seed: int) -> list[dict]:
    """``n`` conversations over the papers' protocols, deterministic in ``seed``: the row's system and user turns,
    a call (``zoom`` on one of ``ZOOM_WINDOWS``, or ``reference``), the tool's turn
    (an image and the text the tool writes), then a formatted answer drawn uniformly from the options."""
    rng = random.Random(seed)
    protocols = sorted(PAPER_PROTOCOLS)
    examples = []
    for index in range(n):
        protocol = protocols[index % len(protocols)]
        category = rng.choice(OBJECT_CATEGORIES)
        prompt = render_prompt(protocol, category, 0 if protocol == "single-ab" else 1)
        if rng.random() < 0.75:
            box = list(rng.choice(ZOOM_WINDOWS))
            call, tool_text = tool_call_text("zoom", {"bbox_2d": box}), f"Zoomed into {box}."
        else:
            call, tool_text = tool_call_text("reference", {}), f"A normal {object_name(category)}."
        examples.append(
            {
                "system": tools_system_prompt(),
                "prompt": prompt,
                "call": f"{THINK_OPEN}{TOOL_THINK}{THINK_CLOSE}{call}",
                "tool_text": tool_text,
                "answer": format_response(THINK_PHRASES[0], rng.choice(PROMPTS[protocol].answer_keys)),
            }
        )
    return examples


def prime_tool_use(policy_dir: Path, steps: int = 200, batch_size: int = 4, lr: float = 3e-3, seed: int = 0) -> float:
    """Fine-tune the saved policy in place on whole tool-using conversations (loss on what follows the prompt, image
    tokens excluded), so that its rollouts call the tools; the final loss."""
    examples = tool_use_examples(steps * batch_size, seed)
    return _fine_tune(policy_dir, examples, batch_size, lr, seed, _encode_conversation, "tool-use priming")


def _encode_conversation(processor, example: dict, noise: Callable[[], Any]) -> tuple[Any, Any]:
    """One tool-using conversation as model inputs, labels on everything after the prompt but the image tokens."""
    n_images = example["prompt"].count(IMAGE_PLACEHOLDER)
    text = example["prompt"].replace(IMAGE_PLACEHOLDER, "").strip()
    user = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
    head = [{"role": "system", "content": example["system"]}, {"role": "user", "content": user}]
    tool = [{"type": "image"}, {"type": "text", "text": example["tool_text"]}]
    conversation = head + [
        {"role": "assistant", "content": example["call"]},
        {"role": "tool", "content": tool},
        {"role": "assistant", "content": example["answer"]},
    ]
    images = [noise() for _ in range(n_images + 1)]
    prompt_text = processor.apply_chat_template(head, tokenize=False, add_generation_prompt=True)
    full_text = processor.apply_chat_template(conversation, tokenize=False)
    full = processor(text=[full_text], images=images, return_tensors="pt")
    labels = _labels_after(processor, full, prompt_text, images[:n_images])
    labels[labels == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")] = -100
    return full, labels
