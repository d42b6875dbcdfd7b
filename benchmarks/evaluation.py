"""Benchmark evaluation throughput: batched vLLM against a plain transformers ``generate`` loop, same prompts.

    python -m benchmarks.evaluation [--samples 64] [--max-tokens 48] [--test-file outputs/demo/pair3c/test.parquet]

Both decode greedily the same pair3c rows (two images each) with the tiny Qwen2.5-VL policy; the baseline is
what an evaluation script without an inference engine does (one sample at a time through the HF processor and
``model.generate``). vLLM's engine start is reported apart from its throughput. Results go to BENCHMARKS.md
(``evaluation``).
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.report import machine, now, write_section
from cpu_support import vllm_settings
from evaluation.runner import Sample, VLLMBackend, load_samples


def _hf_inputs(processor, sample: Sample):  # noqa: ANN001, ANN202
    from PIL import Image

    content, images = [], []
    for part in sample.messages[0]["content"]:
        if part["type"] == "image_url":
            data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            images.append(Image.open(io.BytesIO(data)).convert("RGB"))
            content.append({"type": "image"})
        else:
            content.append(part)
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    return processor(text=[text], images=images, return_tensors="pt")


def transformers_loop(model_dir: Path, samples: Sequence[Sample], max_tokens: int) -> tuple[float, list[str]]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    started, texts = time.perf_counter(), []
    with torch.inference_mode():
        for sample in samples:
            inputs = _hf_inputs(processor, sample)
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
            texts.append(processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    return time.perf_counter() - started, texts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-file", type=Path, default=Path("outputs/demo/pair3c/test.parquet"))
    parser.add_argument("--model", type=Path, default=Path("outputs/demo/tiny_models/policy"))
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not args.test_file.exists() or not args.model.exists():
        parser.error(f"run `make demo` first (needs {args.test_file} and {args.model})")
    samples = load_samples(args.test_file, args.samples)

    started = time.perf_counter()
    backend = VLLMBackend(args.model, max_tokens=args.max_tokens, **vllm_settings.OFFLINE_KWARGS)
    engine_start = time.perf_counter() - started
    backend.generate(samples[:2])  # first-batch warm-up, as the HF loop's first call warms up too
    started = time.perf_counter()
    vllm_texts = backend.generate(samples)
    vllm_s = time.perf_counter() - started
    hf_s, hf_texts = transformers_loop(args.model, samples, args.max_tokens)
    same = sum(a.strip() == b.strip() for a, b in zip(vllm_texts, hf_texts, strict=True))

    n = len(samples)
    table = Table(title=f"evaluation throughput, {n} pair3c samples, greedy, <= {args.max_tokens} new tokens")
    for column in ("engine", "seconds", "samples/s", "ratio"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    table.add_row("transformers generate loop", f"{hf_s:.2f}", f"{n / hf_s:.1f}", "1.00x")
    table.add_row("vLLM batched (CPU build)", f"{vllm_s:.2f}", f"{n / vllm_s:.1f}", f"{hf_s / vllm_s:.2f}x")
    Console().print(table)
    body = "\n".join(
        [
            "## evaluation: batched vLLM against a transformers generate loop",
            "",
            f"Measured {now()} on {machine()}; `python -m benchmarks.evaluation --samples {n} --max-tokens "
            f"{args.max_tokens}`: the tiny primed Qwen2.5-VL, {n} pair3c rows (two images each), greedy decoding.",
            "",
            "| engine | seconds | samples/s | vs the loop |",
            "| --- | ---: | ---: | ---: |",
            f"| transformers `generate`, one sample at a time | {hf_s:.2f} | {n / hf_s:.1f} | 1.00x |",
            f"| vLLM (CPU build), one batch | {vllm_s:.2f} | {n / vllm_s:.1f} | **{hf_s / vllm_s:.2f}x** |",
            "",
            f"- vLLM's engine start (not in its time above): {engine_start:.1f} s.",
            f"- Identical greedy outputs: {same}/{n} (fp32 on both sides).",
        ]
    )
    if not args.no_write:
        write_section("evaluation", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
