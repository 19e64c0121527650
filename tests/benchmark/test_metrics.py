"""Hand-computed AP / AUC cases: stable ties, numpos, the imbalanced cut."""

import numpy as np
import pytest

from hpdesc.benchmark.verification import verification_scores
from hpdesc.benchmark.metrics import average_precision, roc_auc


def test_python_ap_by_hand():
    # ranking: + - + -   (P = 2)
    # points (r, p): (0,1) (.5,1) (.5,.5) (1,2/3) (1,.5)
    # trapezoids: .5*(1+1)/2 + .5*(.5+2/3)/2
    ap = average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
    assert ap == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2, abs=1e-12)


def test_paper_ap_by_hand():
    ap = average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], variant="paper")
    assert ap == pytest.approx((1 + 2 / 3) / 2, abs=1e-12)


def test_ties_keep_input_order_no_grouping():
    # all scores tied: stable order is the input order - + -> first positive at rank 2
    ap = average_precision([1.0, 1.0, 1.0], [0, 1, 0], variant="paper")
    assert ap == pytest.approx(0.5)
    ap2 = average_precision([1.0, 1.0, 1.0], [1, 0, 0], variant="paper")
    assert ap2 == pytest.approx(1.0)
    # python: leading negative -> point (0, 1e-10/1) then (1, 1/2)
    ap3 = average_precision([1.0, 1.0], [0, 1])
    assert ap3 == pytest.approx((1e-10 + 0.5) / 2, abs=1e-15)


def test_numpos_missing_positives_only_enlarge_p():
    # matching rule: 3 queries, one correct match at rank 1, numpos = 3
    ap = average_precision([0.9, 0.5, 0.1], [1, 0, 0], numpos=3)
    assert ap == pytest.approx((1 / 3) * (1 + 1) / 2)
    assert average_precision([0.9, 0.5, 0.1], [1, 0, 0], numpos=3, variant="paper") == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        average_precision([0.9], [1], numpos=0)


def test_batched_equals_rows():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 30))
    lab = rng.random((5, 30)) < 0.3
    batch = average_precision(s, lab)
    rows = [average_precision(s[i], lab[i]) for i in range(5)]
    np.testing.assert_allclose(batch, rows, atol=1e-15)


def test_roc_auc_by_hand():
    # ranking: + - + -  ; negatives see 1 and 2 positives before them -> (1 + 2) / (2 * 2)
    assert roc_auc([4, 3, 2, 1], [1, 0, 1, 0]) == pytest.approx(0.75)
    # a tie between a negative listed first and a positive: the negative wins
    assert roc_auc([1.0, 1.0], [0, 1]) == pytest.approx(0.0)


def test_imbalanced_cut_uses_first_20_percent_of_positives():
    d_neg = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    d_pos = np.array([0.5, 10.0, 10.0, 10.0, 10.0])  # only the first (0.2 * 5 = 1) positive stays
    r = verification_scores(d_neg, d_pos, "paper")
    assert r["ap"] == pytest.approx(1.0)
    assert r["auc"] == pytest.approx(5 / 25)  # the 0.5 positive beats every negative
