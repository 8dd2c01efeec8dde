"""Compare networks with classical baselines on the same cross-validation folds."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import type_of_target

from ._progress import Progress
from .baselines import (
    CLASSIFICATION_MODELS,
    MODEL_NAMES,
    REGRESSION_MODELS,
    default_models,
    make_preprocessor,
)
from .report import markdown_table, pyplot

__all__ = [
    # The baselines live in skdeep.baselines; they stay importable from here.
    "CLASSIFICATION_MODELS",
    "DEFAULT_SCORING",
    "MAX_INTEGER_CLASSES",
    "MODEL_NAMES",
    "REGRESSION_MODELS",
    "ComparisonResult",
    "compare",
    "corrected_paired_ttest",
    "default_models",
    "find_network",
    "infer_task",
    "make_preprocessor",
]

DEFAULT_SCORING = {
    "classification": ("accuracy", "balanced_accuracy"),
    "regression": ("r2", "neg_root_mean_squared_error"),
}

MAX_INTEGER_CLASSES = 30


def infer_task(y) -> str:
    """Guess the task from the target: ``"regression"`` or ``"classification"``.

    Floating-point targets are regression, even when their values happen to be whole (house
    prices in dollars); integer targets are classes unless they take more than
    ``MAX_INTEGER_CLASSES`` values (counts); strings and bools are classes.

    Examples
    --------
    >>> infer_task([0.5, 1.2, 3.3]), infer_task([452600.0, 358500.0]), infer_task(["a", "b"])
    ('regression', 'regression', 'classification')
    >>> infer_task([0, 1, 1, 0]), infer_task(list(range(100)))
    ('classification', 'regression')
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" or type_of_target(y).startswith("continuous"):
        return "regression"
    if y.dtype.kind in "iu" and len(np.unique(y)) > MAX_INTEGER_CLASSES:
        return "regression"
    return "classification"


def find_network(estimator):
    """Return the skdeep network inside a fitted Pipeline or TransformedTargetRegressor, or None.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> find_network(make_pipeline(StandardScaler(), Ridge())) is None
    True
    """
    while True:
        if hasattr(estimator, "count_params"):
            return estimator
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, TransformedTargetRegressor):
            estimator = getattr(estimator, "regressor_", estimator.regressor)
        else:
            return None


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


@dataclass
class ComparisonResult:
    """What :func:`compare` found: one row per model, and the scores of every fold.

    Attributes
    ----------
    frame : DataFrame
        One row per model, best first: mean and std of each score, fit and predict seconds
        per fold, parameter count (networks), ``t_vs_best`` and ``p_vs_best`` (corrected
        paired t-test against the best model on the primary score), failed folds.
    fold_scores : DataFrame
        One row per model and fold, one column per score.
    scoring : list of str
        The scores; the first is the primary one that ranks the models.
    task : str
    n_samples : int
    n_folds : int
    """

    frame: pd.DataFrame
    fold_scores: pd.DataFrame
    scoring: list[str]
    task: str
    n_samples: int
    n_folds: int
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> str:
        """Name of the model with the best mean primary score."""
        return str(self.frame.index[0])

    def to_markdown(self, floatfmt: str = ".4f") -> str:
        """Return the table as Markdown, missing values left blank."""
        return markdown_table(self.frame, floatfmt)

    def plot(self):
        """Plot the primary score with its std across folds and the fit time of each model.

        Returns
        -------
        matplotlib.figure.Figure
        """
        plt = pyplot()
        metric = self.scoring[0]
        frame = self.frame.iloc[::-1]
        fig, (score_ax, time_ax) = plt.subplots(
            1,
            2,
            figsize=(10, 0.5 * len(frame) + 1.5),
            sharey=True,
            gridspec_kw={"width_ratios": [2, 1]},
        )
        score_ax.errorbar(
            frame[f"{metric}_mean"],
            frame.index,
            xerr=frame[f"{metric}_std"],
            fmt="o",
            capsize=3,
            color="tab:blue",
        )
        score_ax.grid(axis="x", alpha=0.3)
        score_ax.set_xlabel(f"{metric} (mean ± std over {self.n_folds} folds)")
        time_ax.barh(frame.index, frame["fit_time"], color="tab:orange")
        time_ax.set_xscale("log")
        time_ax.set_xlabel("fit time per fold (s, log scale)")
        fig.tight_layout()
        return fig


def _as_named(estimators) -> dict[str, BaseEstimator]:
    if isinstance(estimators, Mapping):
        return dict(estimators)
    named: dict[str, BaseEstimator] = {}
    for estimator in estimators:
        name = type(find_network(estimator) or estimator).__name__
        suffix = 2
        base = name
        while name in named:
            name, suffix = f"{base}_{suffix}", suffix + 1
        named[name] = estimator
    return named


def compare(
    estimators=None,
    X=None,
    y=None,
    *,
    cv=5,
    scoring: str | Sequence[str] | None = None,
    baselines: bool | None = None,
    random_state: int = 0,
    device: str = "auto",
    max_epochs: int | None = None,
    progress: str = "auto",
) -> ComparisonResult:
    """Cross-validate several models on the same folds and compare them.

    Parameters
    ----------
    estimators : dict of name to estimator, list of estimators, or None
        The models to compare. Bare estimators are used as given (put preprocessing in a
        Pipeline yourself, or leave them to :func:`default_models`). None gives the default
        network and baselines.
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    cv : int or cross-validation splitter, default=5
        An int gives shuffled (stratified, for classification) K folds seeded by
        ``random_state``. The same folds serve every model.
    scoring : str or list of str, default=None
        scikit-learn scorer names; the first ranks the models. None: accuracy and balanced
        accuracy for classification, R² and RMSE for regression.
    baselines : bool, default=None
        Add the classical baselines of :func:`default_models`. None adds them only when every
        given estimator is a skdeep network (or when ``estimators`` is None).
    random_state : int, default=0
        Seeds the folds and the default models.
    device : str, default="auto"
        Device of the default networks.
    max_epochs : int, default=None
        Epochs of the default networks.
    progress : {"auto", "bar", "lines", "quiet"}, default="auto"
        How to show progress (models x folds) on stderr.

    Returns
    -------
    ComparisonResult

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> models = {"mlp": MLPClassifier(max_epochs=20, learning_rate=1e-2, random_state=0),
    ...           "logistic": LogisticRegression(max_iter=500)}
    >>> result = compare(models, X, y, cv=3, progress="quiet")
    >>> list(result.frame.columns[:2])
    ['accuracy_mean', 'accuracy_std']
    """
    if X is None or y is None:
        raise TypeError("compare needs the data: compare(estimators, X, y).")
    task = infer_task(y)
    named = {} if estimators is None else _as_named(estimators)
    if baselines is None:
        baselines = all(find_network(e) is not None for e in named.values())
    if estimators is None or baselines:
        defaults = default_models(
            task, X, random_state=random_state, device=device, max_epochs=max_epochs
        )
        if named:
            defaults.pop("MLP")
        named = {**named, **defaults}
    scoring = list(DEFAULT_SCORING[task] if scoring is None else np.atleast_1d(scoring))
    if isinstance(cv, int):
        splitter = (StratifiedKFold if task == "classification" else KFold)(
            n_splits=cv, shuffle=True, random_state=random_state
        )
    else:
        splitter = check_cv(cv, y, classifier=task == "classification")
    folds = list(splitter.split(X, y))
    test_fraction = float(np.mean([len(test) / len(train) for train, test in folds]))

    tracker = Progress(len(named) * len(folds), "compare", mode=progress)
    start = time.perf_counter()
    rows, fold_rows, notes = [], [], []
    for name, estimator in named.items():
        n_params = None
        per_fold = []
        for fold, split in enumerate(folds):
            try:
                result = cross_validate(
                    clone(estimator),
                    X,
                    y,
                    cv=[split],
                    scoring=scoring,
                    error_score="raise",
                    return_estimator=True,
                )
            except Exception as error:  # noqa: BLE001 - any failure is recorded, the rest goes on
                note = f"{name} failed on fold {fold + 1}: {type(error).__name__}: {error}"
                warnings.warn(note, FitFailedWarning, stacklevel=2)
                notes.append(note)
                result = {
                    "estimator": [None],
                    "fit_time": [np.nan],
                    "score_time": [np.nan],
                    **{f"test_{s}": [np.nan] for s in scoring},
                }
            network = find_network(result["estimator"][0])
            if network is not None and hasattr(network, "net_"):
                n_params = network.count_params()
            scores = {s: float(result[f"test_{s}"][0]) for s in scoring}
            per_fold.append(
                {
                    "fit_time": float(result["fit_time"][0]),
                    "predict_time": float(result["score_time"][0]),
                    **scores,
                }
            )
            fold_rows.append({"model": name, "fold": fold, **scores})
            tracker.update(
                f"{name} fold {fold + 1}/{len(folds)}: {scoring[0]}={scores[scoring[0]]:.4f}"
            )
        folds_frame = pd.DataFrame(per_fold)
        row = {"model": name}
        for s in scoring:
            row[f"{s}_mean"] = folds_frame[s].mean()
            row[f"{s}_std"] = folds_frame[s].std(ddof=0)
        row["fit_time"] = folds_frame["fit_time"].mean()
        row["predict_time"] = folds_frame["predict_time"].mean()
        row["n_params"] = n_params
        row["failed_folds"] = int(folds_frame[scoring[0]].isna().sum())
        rows.append(row)
    tracker.close()

    frame = pd.DataFrame(rows).set_index("model")
    frame = frame.sort_values(f"{scoring[0]}_mean", ascending=False, na_position="last")
    fold_scores = pd.DataFrame(fold_rows)
    primary = fold_scores.pivot(index="fold", columns="model", values=scoring[0])
    best = frame.index[0]
    tests = {
        name: corrected_paired_ttest(primary[best], primary[name], test_fraction)
        for name in frame.index
    }
    frame["t_vs_best"] = [np.nan if n == best else tests[n][0] for n in frame.index]
    frame["p_vs_best"] = [np.nan if n == best else tests[n][1] for n in frame.index]
    frame["n_params"] = frame["n_params"].astype("Int64")
    return ComparisonResult(
        frame=frame,
        fold_scores=fold_scores,
        scoring=scoring,
        task=task,
        n_samples=len(y),
        n_folds=len(folds),
        elapsed=time.perf_counter() - start,
        notes=notes,
    )
