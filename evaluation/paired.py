"""Two runs on the same test file compared sample by sample: McNemar's test on their right and wrong answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.metrics import mcnemar


def _by_index(records: Sequence[Mapping[str, Any]], name: str) -> dict[int, Mapping[str, Any]]:
    if not records:
        raise ValueError(f"{name} is empty")
    indexed: dict[int, Mapping[str, Any]] = {}
    for record in records:
        index = record["index"]
        if index in indexed:
            raise ValueError(f"{name} holds index {index} twice")
        indexed[index] = record
    return indexed


def paired_comparison(records_a: Sequence[Mapping[str, Any]], records_b: Sequence[Mapping[str, Any]]) -> dict:
    """McNemar's test (``evaluation.metrics.mcnemar``) of two runs on the same test file, records matched by index.

    A record is right when its ``predicted`` equals its ``truth`` (a missing answer is wrong). The two lists must
    hold the same indices, and each index the same truth (and protocol, dataset and category where given):
    otherwise they come from different test files and ValueError says where they differ. Returns ``n``, both
    accuracies (fractions), the four cells of the paired table (``both_correct``, ``only_a``, ``only_b``,
    ``neither``; ``only_a`` is McNemar's b and ``only_b`` its c), ``statistic``, ``p_value``, ``exact`` and ``test``.
    """
    a = _by_index(records_a, "records_a")
    b = _by_index(records_b, "records_b")
    if a.keys() != b.keys():
        only_a = sorted(a.keys() - b.keys())
        only_b = sorted(b.keys() - a.keys())
        raise ValueError(
            f"the records come from different test files: {len(only_a)} indices only in records_a "
            f"(e.g. {only_a[:5]}), {len(only_b)} only in records_b (e.g. {only_b[:5]})"
        )
    indices = sorted(a)
    for index in indices:
        for key in ("truth", "protocol", "dataset", "category"):
            if key in a[index] and key in b[index] and a[index][key] != b[index][key]:
                raise ValueError(
                    f"the records come from different test files: index {index} has {key} "
                    f"{a[index][key]!r} in records_a and {b[index][key]!r} in records_b"
                )
    correct_a = [a[i]["predicted"] is not None and a[i]["predicted"] == a[i]["truth"] for i in indices]
    correct_b = [b[i]["predicted"] is not None and b[i]["predicted"] == b[i]["truth"] for i in indices]
    result = mcnemar(correct_a, correct_b)
    both = sum(x and y for x, y in zip(correct_a, correct_b, strict=True))
    return {
        "n": len(indices),
        "accuracy_a": sum(correct_a) / len(indices),
        "accuracy_b": sum(correct_b) / len(indices),
        "both_correct": both,
        "only_a": result.b,
        "only_b": result.c,
        "neither": len(indices) - both - result.b - result.c,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "exact": result.exact,
        "test": "exact binomial" if result.exact else "chi-square, continuity-corrected",
    }
