"""The papers' metrics, the bootstrap and McNemar's test, each on a small example worked out by hand."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.prompts import PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from evaluation.metrics import (
    ClassScores,
    accuracy,
    balance_score,
    bootstrap_ci,
    confusion_matrix,
    f1_score,
    macro_f1,
    mcnemar,
    per_class_scores,
    summarize,
    summarize_by,
)

YES_NO = list(PROMPTS[PAIR_BINARY].answer_keys)  # ["yes", "no"]
AB = list(PROMPTS[SINGLE_AB].answer_keys)  # ["A", "B"]
ABC = list(PROMPTS[PAIR3C].answer_keys)  # ["A", "B", "C"]


def records(truth: list[str], predicted: list[str | None], category: str = "bottle") -> list[dict[str, object]]:
    return [
        {"truth": t, "predicted": p, "format_ok": p is not None, "think_words": 10, "category": category}
        for t, p in zip(truth, predicted, strict=True)
    ]


# pair3c, 10 samples. Rows are the truth, columns the prediction, then the missing answers:
#
#           A  B  C  missing
#     A  [  2, 1, 0, 1 ]    support 4
#     B  [  0, 2, 1, 0 ]    support 3
#     C  [  1, 0, 1, 1 ]    support 3
#
# correct 2 + 2 + 1 = 5 of 10; predicted as A, B, C: 3, 3, 2 (2 missing).
# precision A 2/3, B 2/3, C 1/2; recall A 2/4, B 2/3, C 1/3;
# F1 = 2TP / (2TP + FP + FN): A 4/7, B 4/6, C 2/5; macro (4/7 + 2/3 + 2/5) / 3 = 172/315.
THREE_TRUTH = ["A", "A", "A", "A", "B", "B", "B", "C", "C", "C"]
THREE_PREDICTED = ["A", "A", "B", None, "B", "B", "C", "C", "A", None]
THREE_MATRIX = [[2, 1, 0, 1], [0, 2, 1, 0], [1, 0, 1, 1]]


def test_confusion_matrix_has_truth_rows_and_a_missing_column() -> None:
    assert confusion_matrix(THREE_TRUTH, THREE_PREDICTED, ABC).tolist() == THREE_MATRIX


def test_per_class_precision_recall_f1_on_the_hand_example() -> None:
    scores = per_class_scores(THREE_MATRIX, ABC)
    assert scores["A"] == ClassScores(precision=pytest.approx(2 / 3), recall=0.5, f1=pytest.approx(4 / 7), support=4)
    assert scores["B"] == ClassScores(pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert scores["C"] == ClassScores(0.5, pytest.approx(1 / 3), pytest.approx(2 / 5), 3)


def test_accuracy_and_macro_f1_on_the_hand_example() -> None:
    assert accuracy(THREE_TRUTH, THREE_PREDICTED) == 0.5
    assert macro_f1(THREE_MATRIX, ABC) == pytest.approx(172 / 315)


def test_f1_of_the_positive_class_on_a_binary_example() -> None:
    # pair-binary, positive "yes" (anomalous):
    #            yes  no  missing
    #     yes [   2,  1,  1 ]
    #     no  [   1,  5,  0 ]
    # accuracy 7/10; F1(yes) = 2*2 / (2*2 + 1 + 2) = 4/7; F1(no) = 2*5 / (2*5 + 1 + 1) = 5/6.
    truth = ["yes"] * 4 + ["no"] * 6
    predicted = ["yes", "yes", "no", None, "yes", "no", "no", "no", "no", "no"]
    matrix = confusion_matrix(truth, predicted, YES_NO)
    assert matrix.tolist() == [[2, 1, 1], [1, 5, 0]]
    assert accuracy(truth, predicted) == pytest.approx(0.7)
    assert f1_score(matrix, YES_NO, "yes") == pytest.approx(4 / 7)
    assert f1_score(matrix, YES_NO, "no") == pytest.approx(5 / 6)
    assert macro_f1(matrix, YES_NO) == pytest.approx((4 / 7 + 5 / 6) / 2)


def test_always_one_class_scores_balance_zero_and_its_macro_f1() -> None:
    # single-ab, 3 defects and 7 normals, always answered B (normal):
    #            A  B  missing
    #     A  [   0, 3, 0 ]
    #     B  [   0, 7, 0 ]
    # F1(A) = 0 (precision 0/0 = 0, recall 0/3); F1(B) = 2*7 / (2*7 + 3 + 0) = 14/17; macro 7/17.
    metrics = summarize(records(["A"] * 3 + ["B"] * 7, ["B"] * 10), AB, positive="A")
    assert metrics.confusion == [[0, 3, 0], [0, 7, 0]]
    assert metrics.accuracy == pytest.approx(0.7)
    assert metrics.per_class["A"] == ClassScores(precision=0.0, recall=0.0, f1=0.0, support=3)
    assert metrics.f1_positive == 0.0
    assert metrics.macro_f1 == pytest.approx(7 / 17)
    assert metrics.balance_score == 0.0


def test_uniform_predictions_score_balance_one() -> None:
    assert balance_score(["A", "B", "C"] * 4, ABC) == pytest.approx(1.0)
    assert balance_score(["yes", "no"] * 3, YES_NO) == pytest.approx(1.0)


def test_balance_score_is_normalised_entropy_over_all_options() -> None:
    # Predicted shares 3/8, 3/8, 2/8 of the hand example (its 2 missing answers left out), over log 3.
    expected = -(2 * (3 / 8) * math.log(3 / 8) + (2 / 8) * math.log(2 / 8)) / math.log(3)
    assert balance_score(THREE_PREDICTED, ABC) == pytest.approx(expected)
    # Two of three options chosen equally: log 2 / log 3, not 1; the unchosen option still counts.
    assert balance_score(["A", "B"] * 5, ABC) == pytest.approx(math.log(2) / math.log(3))


def test_balance_score_leaves_missing_answers_out() -> None:
    assert balance_score(["yes", "no", None, None, None], YES_NO) == pytest.approx(1.0)
    assert math.isnan(balance_score([None, None], YES_NO))


def test_empty_prediction_set_has_n_zero_and_nan_scores() -> None:
    metrics = summarize([], ABC)
    assert (metrics.n, metrics.n_missing) == (0, 0)
    assert math.isnan(metrics.accuracy)
    assert math.isnan(metrics.macro_f1)
    assert math.isnan(metrics.balance_score)
    assert math.isnan(metrics.format_rate)
    assert math.isnan(metrics.mean_think_words)
    assert metrics.confusion == [[0, 0, 0, 0]] * 3
    assert metrics.per_class["A"] == ClassScores(0.0, 0.0, 0.0, 0)
    assert math.isnan(accuracy([], []))
    assert math.isnan(balance_score([], ABC))


def test_missing_answers_are_wrong_and_counted() -> None:
    #            yes  no  missing
    #     yes [   1,  0,  2 ]
    #     no  [   0,  1,  1 ]
    # accuracy 2/5; recall(yes) 1/3 (missing is a false negative); precision(yes) 1/1 (a false positive for no one).
    metrics = summarize(records(["yes", "yes", "yes", "no", "no"], ["yes", None, None, "no", None]), YES_NO, "yes")
    assert metrics.n == 5
    assert metrics.n_missing == 3
    assert metrics.confusion == [[1, 0, 2], [0, 1, 1]]
    assert metrics.accuracy == pytest.approx(2 / 5)
    assert metrics.per_class["yes"] == ClassScores(precision=1.0, recall=pytest.approx(1 / 3), f1=0.5, support=3)
    assert metrics.format_rate == pytest.approx(2 / 5)
    assert metrics.balance_score == pytest.approx(1.0)  # one yes, one no among the parsable answers


def test_summarize_by_category_with_an_overall_entry() -> None:
    # bottle: 2 of 2 right, think 10 each; cable: 1 of 3 right, think 20 each; overall 3 of 5, think (20 + 60) / 5.
    bottle = records(["yes", "no"], ["yes", "no"], category="bottle")
    cable = [
        {**record, "think_words": 20} for record in records(["yes", "no", "no"], ["yes", "yes", None], category="cable")
    ]
    by_category = summarize_by(cable + bottle, YES_NO, "yes")
    assert list(by_category) == ["bottle", "cable", "overall"]
    assert by_category["bottle"].accuracy == 1.0
    assert by_category["cable"].accuracy == pytest.approx(1 / 3)
    assert by_category["cable"].n_missing == 1
    assert by_category["overall"].n == 5
    assert by_category["overall"].accuracy == pytest.approx(3 / 5)
    assert by_category["overall"].mean_think_words == pytest.approx(16.0)
    assert by_category["overall"].confusion == [[2, 0, 0], [1, 1, 1]]


def test_summarize_by_refuses_a_category_named_overall() -> None:
    with pytest.raises(ValueError, match="overall"):
        summarize_by(records(["yes"], ["yes"], category="overall"), YES_NO)


def test_metrics_convert_to_plain_data() -> None:
    data = asdict(summarize(records(THREE_TRUTH, THREE_PREDICTED), ABC))
    assert data["per_class"]["C"] == {"precision": 0.5, "recall": pytest.approx(1 / 3), "f1": 0.4, "support": 3}
    assert data["confusion"] == THREE_MATRIX
    assert math.isnan(data["f1_positive"])  # pair3c has no positive class


def test_labels_outside_the_vocabulary_and_unpaired_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="lack"):
        confusion_matrix(["A"], ["D"], ABC)
    with pytest.raises(ValueError, match="lengths 2 and 1"):
        confusion_matrix(["A", "B"], ["A"], ABC)
    with pytest.raises(ValueError, match="positive"):
        summarize(records(["A"], ["A"]), AB, positive="yes")


def mean_correct(sample: list[bool]) -> float:
    return sum(sample) / len(sample)


def test_bootstrap_ci_contains_the_point_estimate() -> None:
    outcomes = [True] * 70 + [False] * 30
    low, high = bootstrap_ci(outcomes, mean_correct, n_resamples=300)
    assert low <= 0.7 <= high
    assert 0.55 < low < high < 0.85


def test_bootstrap_ci_is_deterministic_for_a_seed() -> None:
    outcomes = [True] * 7 + [False] * 3
    first = bootstrap_ci(outcomes, mean_correct, n_resamples=200, seed=3)
    assert bootstrap_ci(outcomes, mean_correct, n_resamples=200, seed=3) == first
    assert bootstrap_ci(outcomes, mean_correct, n_resamples=200, seed=4) != first


def test_bootstrap_ci_narrows_with_more_data() -> None:
    small = bootstrap_ci([True] * 7 + [False] * 3, mean_correct, n_resamples=300)
    large = bootstrap_ci([True] * 700 + [False] * 300, mean_correct, n_resamples=300)
    assert large[1] - large[0] < (small[1] - small[0]) / 3  # width ~ 1/sqrt(n): 100x the data, ~1/10


def test_bootstrap_ci_of_a_summarize_statistic() -> None:
    data = records(THREE_TRUTH, THREE_PREDICTED)
    low, high = bootstrap_ci(data, lambda sample: summarize(sample, ABC).accuracy, n_resamples=100)
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def paired(b: int, c: int, both: int = 0, neither: int = 0) -> tuple[list[bool], list[bool]]:
    """Outcomes with b samples only A gets right, c only B gets right, and concordant pairs."""
    a = [True] * b + [False] * c + [True] * both + [False] * neither
    other = [False] * b + [True] * c + [True] * both + [False] * neither
    return a, other


def test_mcnemar_exact_on_a_hand_example() -> None:
    # b = 1, c = 6: P(X <= 1) for X ~ Bin(7, 1/2) = (1 + 7) / 128 = 1/16, two-sided 1/8.
    result = mcnemar(*paired(1, 6, both=5, neither=3))
    assert (result.b, result.c, result.exact) == (1, 6, True)
    assert result.statistic == 1.0
    assert result.p_value == pytest.approx(0.125)


def test_mcnemar_chi_square_on_a_larger_example() -> None:
    # b = 10, c = 20 (30 >= 25): statistic (|10 - 20| - 1)² / 30 = 81/30 = 2.7;
    # p = P(chi2(1) > 2.7) = 2 * (1 - Phi(sqrt(2.7) = 1.6432)) = 2 * (1 - 0.94983) = 0.1003.
    result = mcnemar(*paired(10, 20, both=50, neither=20))
    assert (result.b, result.c, result.exact) == (10, 20, False)
    assert result.statistic == pytest.approx(2.7)
    assert result.p_value == pytest.approx(0.1003, abs=1e-4)


def test_mcnemar_without_discordant_pairs_gives_p_one() -> None:
    assert mcnemar(*paired(0, 0, both=4, neither=2)).p_value == 1.0


def test_mcnemar_refuses_unpaired_outcomes() -> None:
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        mcnemar([True, False, True], [True, False])


@given(
    st.lists(
        st.tuples(st.sampled_from(ABC), st.one_of(st.none(), st.sampled_from(ABC))),
        min_size=1,
        max_size=50,
    )
)
def test_accuracy_is_one_minus_the_share_of_wrong_and_missing(pairs: list[tuple[str, str | None]]) -> None:
    truth = [t for t, _ in pairs]
    predicted = [p for _, p in pairs]
    wrong = sum(p is not None and p != t for t, p in pairs)
    missing = sum(p is None for p in predicted)
    value = accuracy(truth, predicted)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(1 - (wrong + missing) / len(pairs))
