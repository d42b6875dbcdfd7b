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

import random
from pathlib import Path

from data_prep.prompts import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    IMAGE_PLACEHOLDER,
    PAPER_PROTOCOLS,
    PROMPTS,
    THINK_CLOSE,
    THINK_OPEN,
    render_prompt,
)

# One phrase, so that the think block is all but deterministic and the answer is the response's only real choice:
# with six phrases drawn at random, every rollout's phrase took its group's advantage too, and that noise, in the
# weights the answer shares, kept the tiny policy from learning anything within minutes (synthetic.learning_task).
THINK_PHRASES = ("the query matches the reference",)
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
    examples = priming_examples(steps * batch_size, seed, grounding=grounding)
    loss_value = float("nan")
    for step in range(steps):
        batch = examples[step * batch_size : (step + 1) * batch_size]
        losses = []
        for prompt, response, n_images in batch:
            images = [Image.fromarray(rng.integers(0, 256, (56, 56, 3), dtype=np.uint8)) for _ in range(n_images)]
            content = [{"type": "image"} for _ in range(n_images)] + [
                {"type": "text", "text": prompt.replace(IMAGE_PLACEHOLDER, "").strip()}
            ]
            messages = [{"role": "user", "content": content}]
            prompt_text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            full = processor(text=[prompt_text + response + "<|im_end|>"], images=images or None, return_tensors="pt")
            prompt_len = processor(text=[prompt_text], images=images or None, return_tensors="pt")["input_ids"].shape[1]
            labels = full["input_ids"].clone()
            labels[:, :prompt_len] = -100
            losses.append(model(**full, labels=labels).loss)
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
    model.eval()
    model.save_pretrained(policy_dir)
    return loss_value
