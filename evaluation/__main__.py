"""``python -m evaluation run|report|judge``: a model on a test parquet -> records, metrics, the papers' tables.

    python -m evaluation run --model outputs/demo/run/hf_model --test-file outputs/demo/pair3c/test.parquet \
        --out outputs/demo/eval                                    # vLLM in this process (GPU or CPU build)
    python -m evaluation run --base-url http://host:8000/v1 --served-model Qwen2.5-VL-72B-Instruct \
        --test-file data/pair3c/test.parquet --out evals/qwen72b   # any OpenAI-compatible endpoint
    python -m evaluation report evals/ours/metrics.json evals/qwen72b/metrics.json --out evals/report
    python -m evaluation judge --records evals/ours/records.jsonl --judge-url http://127.0.0.1:8001/v1
    python -m evaluation mmad-score answers_1_shot_mymodel.json --out evals/mmad   # MMAD's official table
    python -m evaluation gallery evals/ours/records.jsonl --out evals/ours          # gallery.html, offline

A killed ``run`` continues where it stopped when run again with the same ``--out``. Training curves of several
runs: ``python -m evaluation.compare_runs``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.outputs import write_atomic
from data_prep.prompts import MMAD
from data_prep.tools import TOOL_CONFIG_NAME
from evaluation.inspection import InspectionBackend
from evaluation.records import METRICS, RECORDS, read_records
from evaluation.runner import (
    EvaluationError,
    OpenAIBackend,
    VLLMBackend,
    claim_output,
    compute_metrics,
    fingerprint,
    load_samples,
    run,
    write_json,
)


def _run(args: argparse.Namespace) -> int:
    samples = load_samples(args.test_file, args.limit)
    if args.base_url and not args.served_model:
        raise EvaluationError("--base-url needs --served-model (the name the endpoint serves)")
    if not args.base_url and args.model is None:
        raise EvaluationError("give --model (vLLM in this process) or --base-url (an OpenAI-compatible endpoint)")
    name = args.name or (args.served_model if args.base_url else args.model.name)
    run_info = {
        "name": name,
        "backend": f"openai:{args.served_model}@{args.base_url}" if args.base_url else f"vllm:{args.model}",
        "model_files": None if args.base_url else fingerprint(args.model),
        "test_file": str(args.test_file),
        "test_file_fingerprint": fingerprint(args.test_file),
        "limit": args.limit,
        "max_tokens": args.max_tokens,
    }
    tools = any(sample.tools_kwargs for sample in samples)
    if tools:
        if args.base_url:
            raise EvaluationError("rows built with --tools run their tools here: give --model (vLLM in this process)")
        run_info["tool_config"] = str(args.tool_config or args.test_file.parent / TOOL_CONFIG_NAME)
        if not Path(run_info["tool_config"]).is_file():
            raise EvaluationError(
                f"{run_info['tool_config']}: no tool config for these --tools rows (iad-data build --tools writes "
                "tools.yaml beside test.parquet; or give --tool-config)"
            )
    claim_output(args.out, run_info, overwrite=args.overwrite)  # before the engine starts: refusals are quick
    kwargs = {}
    if args.cpu_settings:
        from cpu_support import vllm_settings

        kwargs = dict(vllm_settings.OFFLINE_KWARGS)
    if tools:
        most_images = max(len(sample.images) for sample in samples)
        backend = InspectionBackend(
            args.model, Path(run_info["tool_config"]), max_tokens=args.max_tokens, max_images=most_images, **kwargs
        )
    elif args.base_url:
        backend = OpenAIBackend(args.base_url, args.served_model, max_tokens=args.max_tokens)
    else:
        max_images = max(sum(part["type"] == "image_url" for part in s.messages[0]["content"]) for s in samples)
        backend = VLLMBackend(args.model, max_tokens=args.max_tokens, max_images=max(max_images, 1), **kwargs)
    records = run(samples, backend, args.out, batch_size=args.batch_size)
    metrics = compute_metrics(records, model=name, test_file=str(args.test_file))
    write_json(args.out / METRICS, metrics)
    if metrics["protocol"] == MMAD:
        _mmad_tables(records, args.out, name)
    overall = metrics["overall"]
    print(
        f"{len(records)} samples: accuracy {overall['accuracy']:.3f} (95% CI {metrics['ci']['accuracy'][0]:.3f}-"
        f"{metrics['ci']['accuracy'][1]:.3f}), macro-F1 {overall['macro_f1']:.3f}, Balance "
        f"{overall['balance_score'] if overall['balance_score'] is not None else float('nan'):.3f}, "
        f"format {overall['format_rate']:.3f}, missing {overall['n_missing']} -> {args.out / METRICS}"
    )
    return 0


def _mmad_tables(records: Sequence[dict[str, Any]], out: Path, name: str) -> None:
    """An mmad run also gets MMAD's own table: its answers in the official format, scored both ways."""
    from evaluation.mmad import MMAD_ANSWERS, answers_from_records, write_mmad_scores

    answers = answers_from_records(records)
    write_atomic(out / MMAD_ANSWERS, json.dumps(answers, indent=1) + "\n")
    write_mmad_scores(answers, out / "mmad", title=name)
    print((out / "mmad" / "mmad.md").read_text())


def _report(args: argparse.Namespace) -> int:
    from evaluation.report import SUMMARY, write_report

    missing = [str(path) for path in args.metrics if not path.is_file()]
    if missing:
        raise EvaluationError(
            f"no metrics file at {', '.join(missing)}: pass the metrics.json that `python -m evaluation run` wrote"
        )
    records = [path.parent / RECORDS for path in args.metrics]  # each run's own, where it has them
    written = write_report(list(args.metrics), args.out, [p if p.exists() else None for p in records])
    for path in written:
        print(path)
    print()
    print((args.out / SUMMARY).read_text())
    return 0


def _judge(args: argparse.Namespace) -> int:
    from evaluation.judge_pass import judge_records

    records = read_records(args.records)
    if not records:
        raise EvaluationError(f"{args.records} holds no records")
    summary = judge_records(records, args.records.with_name("judged.jsonl"), judge_url=args.judge_url)
    print(summary)
    return 0


def _gallery(args: argparse.Namespace) -> int:
    from evaluation.gallery import write_gallery

    records = read_records(args.records)
    if not records:
        raise EvaluationError(f"{args.records} holds no records (records.jsonl of `python -m evaluation run`)")
    try:
        path = write_gallery(records, args.records, args.out, args.test_file)
    except (FileNotFoundError, ValueError) as error:
        raise EvaluationError(str(error)) from error
    print(path)
    return 0


def _mmad_score(args: argparse.Namespace) -> int:
    from evaluation.mmad import MMADScoreError, read_answers, write_mmad_scores

    try:
        written = write_mmad_scores(read_answers(args.answers), args.out, overkill_miss=args.overkill_miss)
    except MMADScoreError as error:
        raise EvaluationError(str(error)) from error
    for path in written:
        print(path)
    print()
    print((args.out / "mmad.md").read_text())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="answer every row of a test parquet, then compute the metrics")
    run_parser.add_argument("--test-file", type=Path, required=True)
    run_parser.add_argument("--out", type=Path, required=True, help="folder for records.jsonl and metrics.json")
    run_parser.add_argument("--model", type=Path, help="a Hugging Face model folder for vLLM in this process")
    run_parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead, e.g. http://host:8000/v1")
    run_parser.add_argument("--served-model", help="the model name the endpoint serves")
    run_parser.add_argument("--batch-size", type=int, default=64, help="rows per batch (and per resume point)")
    run_parser.add_argument("--max-tokens", type=int, default=512)
    run_parser.add_argument("--limit", type=int, help="only the first N rows")
    run_parser.add_argument("--name", help="the model's name in tables (default: the model folder's name)")
    run_parser.add_argument("--overwrite", action="store_true", help="start over instead of resuming --out")
    run_parser.add_argument(
        "--tool-config", type=Path, help="--tools rows: verl's tool config (default: tools.yaml beside the test file)"
    )
    run_parser.add_argument(
        "--cpu-settings", action="store_true", help="vLLM's CPU build settings (eager, fixed KV cache)"
    )
    run_parser.set_defaults(handler=_run)
    report_parser = commands.add_parser("report", help="the papers' tables and plots from one or more metrics.json")
    report_parser.add_argument("metrics", type=Path, nargs="+")
    report_parser.add_argument("--out", type=Path, required=True)
    report_parser.set_defaults(handler=_report)
    judge_parser = commands.add_parser("judge", help="score the reasoning of evaluated responses with the judge")
    judge_parser.add_argument("--records", type=Path, required=True)
    judge_parser.add_argument("--judge-url", required=True)
    judge_parser.set_defaults(handler=_judge)
    gallery_parser = commands.add_parser("gallery", help="one self-contained HTML page of the evaluated samples")
    gallery_parser.add_argument("records", type=Path, help="records.jsonl of `python -m evaluation run`")
    gallery_parser.add_argument("--out", type=Path, required=True, help="folder for gallery.html")
    gallery_parser.add_argument("--test-file", type=Path, help="the parquet evaluated (default: from run.json)")
    gallery_parser.set_defaults(handler=_gallery)
    mmad_parser = commands.add_parser(
        "mmad-score", help="MMAD's table from a file in its answers format, as its official summary.py computes it"
    )
    mmad_parser.add_argument(
        "answers", type=Path, help="a JSON list of {image, question_type, gpt_answer, correct_answer}"
    )
    mmad_parser.add_argument("--out", type=Path, required=True, help="folder for mmad_accuracy.csv and the rest")
    mmad_parser.add_argument(
        "--overkill-miss", action="store_true", help="add Overkill and Miss columns, as summary.py's __main__ does"
    )
    mmad_parser.set_defaults(handler=_mmad_score)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except EvaluationError as error:
        print(f"python -m evaluation: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
