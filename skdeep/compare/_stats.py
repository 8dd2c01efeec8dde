"""The statistics of a comparison: the corrected paired t-test and Holm's adjustment."""

from __future__ import annotations

import numpy as np
from scipy import stats


def corrected_paired_ttest(
    scores_a: np.ndarray, scores_b: np.ndarray, test_fraction: float
) -> tuple[float, float]:
    """Nadeau and Bengio's corrected resampled t-test of two models' scores on the same folds.

    The plain paired t-test is too optimistic on cross-validation folds, whose training sets
    overlap; the correction inflates the variance by ``n_test / n_train``.

    Parameters
    ----------
    scores_a, scores_b : ndarray of shape (n_folds,)
        Scores of the two models, fold by fold.
    test_fraction : float
        ``n_test / n_train`` of the folds.

    Returns
    -------
    t_statistic, p_value : float
        Two-sided; NaN when the two models score identically on every fold.

    Examples
    --------
    >>> t, p = corrected_paired_ttest(np.array([0.9, 0.92, 0.91]), np.array([0.8, 0.83, 0.8]), 0.5)
    >>> round(t, 2), p < 0.05
    (10.95, True)
    """
    diff = np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float)
    diff = diff[~np.isnan(diff)]
    k = len(diff)
    variance = diff.var(ddof=1) if k > 1 else 0.0
    if variance == 0:
        return float("nan"), float("nan")
    t = diff.mean() / np.sqrt((1 / k + test_fraction) * variance)
    return float(t), float(2 * stats.t.sf(abs(t), df=k - 1))


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjustment of p-values for several comparisons at once.

    The smallest of ``m`` p-values is multiplied by ``m``, the next by ``m - 1`` and so on,
    each kept at least as large as the one before and at most 1. It controls the chance of
    calling any of the ``m`` differences real when none is, without assuming the tests are
    independent. NaN entries are left out of ``m`` and stay NaN.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03, float("nan")])
    array([0.03, 0.06, 0.06,  nan])
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted
