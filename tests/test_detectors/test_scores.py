"""The score mapping: 1 - p where it can be, ranked without ties down to 1e-300, invertible."""

from __future__ import annotations

import math

import pytest

from detectors.scores import EXACT_DOWN_TO, log_p_of, p_of, score_of, score_of_log_p

# tail probabilities from certain to far below float64's smallest normal number
PS = [1.0, 0.5, 0.1, 1e-3, 1e-6, 2e-9, EXACT_DOWN_TO, 5e-10, 1e-12, 1e-16, 1e-17, 1e-50,
      1e-100, 1e-200, 1e-299, 1e-300, 1.01e-300, 1e-307]


@pytest.mark.parametrize("p", [1.0, 0.5, 0.05, 1e-3, 1e-6, EXACT_DOWN_TO])
def test_moderate_tails_score_exactly_one_minus_p(p: float) -> None:
    # So a false-alarm budget alpha is the threshold 1 - alpha whatever the detector.
    assert score_of(p) == 1.0 - p


def test_scores_are_in_unit_interval_and_strictly_ordered_with_no_ties_at_the_top() -> None:
    scores = [score_of(p) for p in sorted(PS, reverse=True)]
    assert all(0.0 <= s < 1.0 for s in scores)
    assert all(a < b for a, b in zip(scores, scores[1:])), scores  # strict: no two tails tie


def test_one_minus_p_alone_would_tie_which_is_why_the_squeeze_exists() -> None:
    # The failure the mapping avoids: the naive score ties every tail below 1e-16 at 1.0.
    assert 1.0 - 1e-17 == 1.0 - 1e-300 == 1.0
    assert score_of(1e-17) < score_of(1e-300) < 1.0


def test_the_mapping_is_continuous_where_the_squeeze_starts() -> None:
    below = score_of(EXACT_DOWN_TO * (1 - 1e-6))
    assert 0.0 <= below - score_of(EXACT_DOWN_TO) < 1e-14


def test_log_space_keeps_order_past_the_smallest_float() -> None:
    log_ps = [-1.0, -700.0, -745.0, -746.0, -1e4, -1.01e4, -1e5, -1.05e5]
    scores = [score_of_log_p(lp) for lp in log_ps]
    assert all(a < b < 1.0 for a, b in zip(scores, scores[1:])), scores
    assert score_of_log_p(-math.inf) == 1.0 == score_of(0.0)  # only an impossible tail reaches 1.0


@pytest.mark.parametrize("p", PS)
def test_the_inverse_gives_back_the_tail(p: float) -> None:
    # Exact range: p to 7 digits. Squeezed range: the score's last bits hold log p, to ~5 digits.
    assert p_of(score_of(p)) == pytest.approx(p, rel=1e-7 if p >= EXACT_DOWN_TO else 5e-3)
    assert log_p_of(score_of(p)) == pytest.approx(math.log(p), rel=1e-5, abs=1e-12)


def test_the_inverse_of_a_budget_threshold_is_the_budget() -> None:
    for alpha in (0.01, 1e-4, 1e-7, 1e-12):
        threshold = score_of(alpha)
        assert score_of(alpha * 0.99) >= threshold > score_of(alpha * 1.01)
        assert p_of(threshold) == pytest.approx(alpha, rel=1e-5)
