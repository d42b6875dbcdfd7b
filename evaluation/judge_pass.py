"""Score the reasoning of evaluated responses with the thinking-quality judge, so models compare on it too.

The same client and prompt as the FAD-TQ reward (``rewards.judge``): conciseness and relevance of the
``<think>`` block given the question and the answer. Only responses in the right format are judged (the
reward judges no others); the rest are counted. Writes ``judged.jsonl`` (each record plus ``judge_*`` fields)
next to the records, atomically, and returns the means.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.outputs import write_atomic
from data_prep.prompts import PROMPTS, render_prompt
from rewards.judge import JudgeClient, JudgeConfig
from rewards.parsing import parse_response


def _question(record: dict[str, Any]) -> str:
    n_references = 0 if record["protocol"] == "single-ab" else 1
    return render_prompt(record["protocol"], record["category"], n_references)


async def _score_all(records: Sequence[dict[str, Any]], config: JudgeConfig) -> list[dict[str, Any]]:
    client = JudgeClient(config)
    try:

        async def one(record: dict[str, Any]) -> dict[str, Any]:
            parsed = parse_response(record["response"])
            if not parsed.format_ok:
                return record | {"judge_called": False}
            scores = await client.score(_question(record), parsed.think or "", parsed.answer or "")
            return record | {
                "judge_called": True,
                "judge_ok": scores.ok,
                "judge_conciseness": scores.conciseness,
                "judge_relevance": scores.relevance,
                "judge_tq": scores.tq,
            }

        return list(await asyncio.gather(*(one(record) for record in records)))
    finally:
        await client.aclose()


def judge_records(records: Sequence[dict[str, Any]], out_path: Path, *, judge_url: str, eta: float = 0.5) -> dict:
    """Judge every well-formatted response; write ``out_path`` (JSONL) and return the summary."""
    unknown = {record["protocol"] for record in records} - set(PROMPTS)
    if unknown:
        raise ValueError(f"records of unknown protocols {sorted(unknown)}")
    judged = asyncio.run(_score_all(records, JudgeConfig(base_url=judge_url, eta=eta)))
    write_atomic(out_path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in judged))
    called = [record for record in judged if record["judge_called"]]
    ok = [record for record in called if record["judge_ok"]]

    def mean(key: str) -> float | None:
        return statistics.fmean(record[key] for record in ok) if ok else None

    return {
        "n": len(judged),
        "judged": len(called),
        "not_judged_format": len(judged) - len(called),
        "judge_success_rate": len(ok) / len(called) if called else None,
        "tq": mean("judge_tq"),
        "conciseness": mean("judge_conciseness"),
        "relevance": mean("judge_relevance"),
        "out": str(out_path),
    }
