"""The metrics the three papers report, plus the bootstrap and McNemar's test to compare two runs. Pure, no I/O.

What each paper reports (the papers: ``docs/ARCHITECTURE.md``):

- LAD-Reasoner (pair-binary, Sec. 5): accuracy and F1 with the anomalous answer ``"yes"`` as the positive class
  (``f1_score(cm, labels, "yes")``);
- LR-IAD (single-ab, Sec. IV-B, Eq. 11-12): accuracy and F1-macro, the unweighted mean of the per-class F1
  (``macro_f1``);
- FAD-TQ (pair3c, Sec. 3.1): accuracy, the Balance Score (``balance_score``) and the mean reasoning length.

Labels are the protocol's answer keys, ``data_prep.prompts.PROMPTS[protocol].answer_keys`` (``("yes", "no")``,
``("A", "B")``, ``("A", "B", "C")``); a prediction is the key ``rewards.answers.extract_choice`` read from the
response, or None when there was no parsable answer ("missing").

Conventions, the same everywhere in this module:

- a missing answer is wrong: it lowers accuracy, is a false negative for its true class and a false positive for
  no class; the confusion matrix keeps it in an extra last column, ``"missing"``;
- per-class precision, recall and F1 define 0/0 as 0 (scikit-learn's ``zero_division=0``): a class nobody
  predicted has precision 0, a class with no samples has recall 0, and F1 is ``2TP / (2TP + FP + FN)``, which is
  the harmonic mean of precision and recall and 0 when TP is 0;
- a score over a whole evaluation set (accuracy, F1 for the positive class, F1-macro, Balance Score, format rate,
  mean reasoning length) is nan when there is nothing to score, so that an empty slice can never pass for a model
  that scores 0. Per-class scores keep 0/0 = 0 and carry their support instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

MISSING: Final = "missing"  # the name of the confusion matrix's last column
OVERALL: Final = "overall"  # the key of the whole set in ``summarize_by``
EXACT_BELOW: Final = 25  # McNemar: the exact binomial test when b + c is below this, else the chi-square test
_INDEX_BUDGET: Final = 4_000_000  # bootstrap: how many resampled indices to draw at once


@dataclass(frozen=True)
class ClassScores:
    """One class's precision, recall and F1 (0/0 = 0), and its support: how many samples truly are that class."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Everything ``summarize`` reports for one set of records; ``dataclasses.asdict`` makes it JSON-ready.

    ``confusion`` has one row per label (the truth) and one column per label then ``"missing"`` (the prediction),
    in the order of ``labels``. ``balance_score`` counts only the ``n - n_missing`` parsable predictions.
    """

    labels: list[str]
    positive: str | None
    n: int
    n_missing: int
    accuracy: float
    f1_positive: float
    macro_f1: float
    per_class: dict[str, ClassScores]
    balance_score: float
    format_rate: float
    mean_think_words: float
    confusion: list[list[int]]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired outcomes.

    ``b`` counts the samples only A got right, ``c`` those only B got right. ``exact``: the two-sided exact binomial
    test, where ``statistic`` is ``min(b, c)``; otherwise the chi-square test with continuity correction, where
    ``statistic`` is ``max(|b - c| - 1, 0)² / (b + c)`` on one degree of freedom.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


def _check_labels(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels repeat: {labels}")
    if MISSING in labels:
        raise ValueError(f"{MISSING!r} cannot be a label: it names the column of missing answers")
    return labels


def _check_paired(first: Sequence[Any], second: Sequence[Any], names: str) -> None:
    if len(first) != len(second):
        raise ValueError(f"{names} must be paired, one per sample, but have lengths {len(first)} and {len(second)}")


def _divide(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Elementwise numerator / denominator with 0/0 (and x/0) defined as 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def confusion_matrix(
    truth: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Counts of (true label, predicted label), shape ``(K, K + 1)`` for K labels.

    Rows are the true labels and columns the predicted ones, both in the order of ``labels``; the extra last
    column counts the samples whose prediction is None (no parsable answer). A truth or prediction outside
    ``labels`` is an error, not a miss: it means the labels are not the protocol's answer keys.
    """
    labels = _check_labels(labels)
    _check_paired(truth, predicted, "truth and predicted")
    index = {label: i for i, label in enumerate(labels)}
    unknown_truth = sorted({label for label in truth if label not in index})
    unknown_predicted = sorted({label for label in predicted if label is not None and label not in index})
    if unknown_truth or unknown_predicted:
        raise ValueError(f"labels {labels} lack truths {unknown_truth} and predictions {unknown_predicted}")
    rows = np.fromiter((index[label] for label in truth), dtype=np.int64, count=len(truth))
    columns = np.fromiter(
        (len(labels) if label is None else index[label] for label in predicted), dtype=np.int64, count=len(predicted)
    )
    matrix = np.zeros((len(labels), len(labels) + 1), dtype=np.int64)
    np.add.at(matrix, (rows, columns), 1)
    return matrix


def accuracy(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """The share of samples whose prediction equals the truth; a None prediction is wrong. nan when empty."""
    _check_paired(truth, predicted, "truth and predicted")
    if not truth:
        return math.nan
    correct = sum(guess == label for label, guess in zip(truth, predicted, strict=True))
    return correct / len(truth)


def per_class_scores(confusion: npt.ArrayLike, labels: Sequence[str]) -> dict[str, ClassScores]:
    """Precision, recall, F1 and support of every label, from a ``confusion_matrix`` with those labels.

    Precision counts only the label's own column (a missing answer is a false positive for no class); recall
    divides by the whole row, the missing column included (a missing answer is a false negative). 0/0 = 0.
    """
    labels = _check_labels(labels)
    matrix = np.asarray(confusion, dtype=np.int64)
    k = len(labels)
    if matrix.shape != (k, k + 1):
        raise ValueError(f"a confusion matrix for {k} labels has shape {(k, k + 1)}, got {matrix.shape}")
    true_positives = np.diagonal(matrix[:, :k])
    predicted_as = matrix[:, :k].sum(axis=0)  # TP + FP
    support = matrix.sum(axis=1)  # TP + FN, missing answers included
    precision = _divide(true_positives, predicted_as)
    recall = _divide(true_positives, support)
    f1 = _divide(2 * true_positives, predicted_as + support)  # 2TP / (2TP + FP + FN)
    return {
        label: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }


def f1_score(confusion: npt.ArrayLike, labels: Sequence[str], positive: str) -> float:
    """F1 of the ``positive`` label (LAD-Reasoner: the anomalous answer, ``"yes"``); nan for an empty matrix."""
    if positive not in labels:
        raise ValueError(f"positive label {positive!r} is not one of {list(labels)}")
    if int(np.asarray(confusion).sum()) == 0:
        return math.nan
    return per_class_scores(confusion, labels)[positive].f1


def macro_f1(confusion: npt.ArrayLike, labels: Sequence[str]) -> float:
    """F1-macro (LR-IAD, Eq. 12): the unweighted mean of every label's F1; nan for an empty matrix.

    Every label counts, also one with no samples and no predictions in this slice (its F1 is 0/0 = 0).
    """
    if int(np.asarray(confusion).sum()) == 0:
        return math.nan
    return float(np.mean([scores.f1 for scores in per_class_scores(confusion, labels).values()]))


def _normalised_entropy(counts: npt.ArrayLike) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size < 2:
        raise ValueError(f"the Balance Score needs at least 2 options, got {counts.size}")
    total = counts.sum()
    if total == 0:
        return math.nan
    shares = counts[counts > 0] / total
    entropy = float(-(shares * np.log(shares)).sum())
    return min(1.0, max(0.0, entropy / math.log(counts.size)))


def balance_score(predicted: Sequence[str | None], options: Sequence[str]) -> float:
    """FAD-TQ's Balance Score (Sec. 3.1): the entropy of the predicted options' distribution over log(K).

    ``p`` is the share of predictions naming each of the K ``options`` (all of them, also those never chosen);
    the score is ``H(p) / log(K)`` with ``H(p) = -sum_c p_c log p_c``: 0 when every prediction names one option, 1
    when the options are chosen equally often. The paper writes ``log(p_c + eps)`` with eps = 1e-12 to avoid
    log(0); here ``0 log 0 = 0`` exactly, its limit, which differs from the paper's value by less than 1e-11 and
    gives exactly 0 for a one-option model (the paper's formula gives about -1e-12 there). Missing predictions
    (None) are left out of ``p``; ``summarize`` reports how many there were. nan when no prediction is left.
    """
    options = _check_labels(options)
    index = {option: i for i, option in enumerate(options)}
    counts = np.zeros(len(options), dtype=np.int64)
    for guess in predicted:
        if guess is None:
            continue
        if guess not in index:
            raise ValueError(f"prediction {guess!r} is not one of the options {options}")
        counts[index[guess]] += 1
    return _normalised_entropy(counts)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def summarize(records: Iterable[Mapping[str, Any]], labels: Sequence[str], positive: str | None = None) -> Metrics:
    """All metrics of a set of records, each with ``truth``, ``predicted`` (None: missing), ``format_ok`` and
    ``think_words`` (``category`` is read by ``summarize_by`` only).

    ``labels`` are the protocol's answer keys; ``positive`` is the label whose F1 is ``f1_positive`` (``"yes"``
    for LAD-Reasoner, ``"A"`` for LR-IAD's defect); without one (pair3c) ``f1_positive`` is nan. The format rate
    is the share of ``format_ok`` records and the mean reasoning length the mean ``think_words`` over all records,
    as given: whoever builds the records decides what a response without a think block counts as.
    """
    records = list(records)
    labels = _check_labels(labels)
    if positive is not None and positive not in labels:
        raise ValueError(f"positive label {positive!r} is not one of {labels}")
    truth = [record["truth"] for record in records]
    predicted = [record["predicted"] for record in records]
    matrix = confusion_matrix(truth, predicted, labels)
    return Metrics(
        labels=labels,
        positive=positive,
        n=len(records),
        n_missing=int(matrix[:, -1].sum()),
        accuracy=accuracy(truth, predicted),
        f1_positive=math.nan if positive is None else f1_score(matrix, labels, positive),
        macro_f1=macro_f1(matrix, labels),
        per_class=per_class_scores(matrix, labels),
        balance_score=_normalised_entropy(matrix[:, :-1].sum(axis=0)),
        format_rate=_mean([float(bool(record["format_ok"])) for record in records]),
        mean_think_words=_mean([float(record["think_words"]) for record in records]),
        confusion=matrix.tolist(),
    )


def summarize_by(
    records: Iterable[Mapping[str, Any]], labels: Sequence[str], positive: str | None = None, key: str = "category"
) -> dict[str, Metrics]:
    """``summarize`` per value of ``key`` (in sorted order), then the whole set under ``"overall"``.

    The overall entry pools all records (a micro average), not the mean of the per-category scores.
    """
    records = list(records)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(str(record[key]), []).append(record)
    if OVERALL in groups:
        raise ValueError(f"a {key} named {OVERALL!r} would collide with the entry for the whole set")
    result = {group: summarize(groups[group], labels, positive) for group in sorted(groups)}
    result[OVERALL] = summarize(records, labels, positive)
    return result


def bootstrap_ci(
    records: Sequence[Any],
    statistic: Callable[[list[Any]], float],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` over ``records``.

    Draws ``n_resamples`` resamples of ``len(records)`` records with replacement (the indices in bulk from
    ``numpy.random.default_rng(seed)``, so the same arguments give the same interval), evaluates ``statistic`` on
    each list of records and returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles. A
    statistic that is nan on any resample makes the interval nan.
    """
    if not len(records):
        raise ValueError("cannot bootstrap an empty set of records")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    records = list(records)
    n = len(records)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, _INDEX_BUDGET // n)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        indices = rng.integers(0, n, size=(rows, n))
        for offset, row in enumerate(indices):
            values[start + offset] = statistic([records[i] for i in row])
    if np.isnan(values).any():
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _binomial_two_sided(b: int, c: int) -> float:
    """Exact two-sided p-value of b successes in b + c fair coin flips: twice the smaller tail, at most 1."""
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """McNemar's test of whether two models, scored on the same samples in the same order, differ in accuracy.

    Only discordant pairs count: ``b`` samples A got right and B wrong, ``c`` the reverse. When ``b + c < 25`` the
    exact two-sided binomial test (``b`` of ``b + c`` at 1/2; p = 1 when there is no discordant pair); otherwise
    the chi-square test with Yates' continuity correction, whose p-value is the chi-square(1) survival function
    ``erfc(sqrt(x / 2))``. The correction is floored at 0 so that b = c gives statistic 0 and p = 1.
    """
    _check_paired(correct_a, correct_b, "correct_a and correct_b")
    b = sum(bool(x) and not bool(y) for x, y in zip(correct_a, correct_b, strict=True))
    c = sum(bool(y) and not bool(x) for x, y in zip(correct_a, correct_b, strict=True))
    if b + c < EXACT_BELOW:
        return McNemarResult(b=b, c=c, statistic=float(min(b, c)), p_value=_binomial_two_sided(b, c), exact=True)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    return McNemarResult(b=b, c=c, statistic=statistic, p_value=math.erfc(math.sqrt(statistic / 2)), exact=False)


def record_statistics(
    labels: Sequence[str], positive: str | None
) -> dict[str, Callable[[Sequence[Mapping[str, Any]]], float]]:
    """The statistics with bootstrap intervals (accuracy, macro-F1 and, with a positive label, its F1), each a
    function of a list of records: what ``bootstrap_ci`` resamples."""

    def truth_predicted(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str | None]]:
        return [r["truth"] for r in records], [r["predicted"] for r in records]

    def acc(records: Sequence[Mapping[str, Any]]) -> float:
        return accuracy(*truth_predicted(records))

    def macro(records: Sequence[Mapping[str, Any]]) -> float:
        return macro_f1(confusion_matrix(*truth_predicted(records), labels), labels)

    def f1(records: Sequence[Mapping[str, Any]]) -> float:
        return f1_score(confusion_matrix(*truth_predicted(records), labels), labels, positive)

    return {"accuracy": acc, "macro_f1": macro} | ({"f1_positive": f1} if positive is not None else {})


def finite(value: Any) -> float | None:
    """A score as a number, or None where it is undefined (a metrics file holds null; a fresh result NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def nan_to_none(value: Any) -> Any:
    """NaN as None throughout nested dicts and lists, so that JSON written from it is strict."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nan_to_none(item) for item in value]
    return value
