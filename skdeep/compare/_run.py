"""Compare networks with classical baselines on the same cross-validation folds."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_validate
from sklearn.utils import _safe_indexing

from ..baselines import (
    default_models,
    find_network,
    with_network_preprocessing,
)
from ..scorers import get_scorers, scorer_task
from ..utils.machine import load_average
from ..utils.progress import EpochProgress, Progress
from ..utils.tasks import infer_task
from ..utils.threads import FoldThreadChooser, prior_thread_count, thread_limit
from ._stats import corrected_paired_ttest, holm_adjust
from ._table import plot_comparison, readable_table

DEFAULT_SCORING = {
    "classification": ("accuracy", "balanced_accuracy"),
    "regression": ("r2", "neg_root_mean_squared_error"),
}

WARM_UP_ROWS = 64


@dataclass
class ComparisonResult:
    """What :func:`compare` found: one row per model, and the scores of every fold.

    Attributes
    ----------
    frame : DataFrame
        One row per model, best first, under scikit-learn's names (``results.csv``): mean and
        std of each score, fit and predict seconds per fold, parameter count (networks),
        ``failed_folds`` and the first ``error``, ``t_vs_best`` and ``p_vs_best`` (corrected
        paired t-test against the best model on the primary score) and ``p_holm`` (those
        p-values adjusted by Holm's method for the several comparisons). :meth:`table` is the
        same for a reader.
    fold_scores : DataFrame
        One row per model and fold, one column per score.
    scoring : list of str
        The scores; the first is the primary one that ranks the models.
    task : str
    n_samples : int
    n_folds : int
    elapsed : float
        Wall seconds of the comparison.
    notes : list of str
    load_average : tuple of float
        The machine's 1-minute load average before and after (NaN where unknown): the times
        depend on it.
    """

    frame: pd.DataFrame
    fold_scores: pd.DataFrame
    scoring: list[str]
    task: str
    n_samples: int
    n_folds: int
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)
    load_average: tuple[float, float] = (math.nan, math.nan)

    @property
    def best(self) -> str | None:
        """Name of the model with the best mean primary score; None when every model failed."""
        name = str(self.frame.index[0])
        return None if name in self.failed else name

    @property
    def failed(self) -> list[str]:
        """The models that failed on every fold (their first error is in ``frame["error"]``)."""
        return [str(n) for n in self.frame.index[self.frame["failed_folds"] == self.n_folds]]

    def table(self, unit: str | None = None) -> pd.DataFrame:
        """The table as a reader wants it: scores named in words as ``mean ± std``, errors
        such as the RMSE positive (in ``unit``, the target's), seconds per fold, parameters,
        raw and Holm-adjusted p-values against the best, ``failed: <error>`` for a model that
        failed on every fold."""
        return readable_table(self, unit)

    def to_markdown(self, unit: str | None = None) -> str:
        """Return :meth:`table` as Markdown, its cells exactly as :meth:`table` formats them."""
        return self.table(unit).to_markdown(disable_numparse=True)

    def plot(self, title: str | None = None, dataset: str | None = None, unit: str | None = None):
        """Plot the primary score with its std across folds and the fit time of each model.

        Parameters
        ----------
        title, dataset : str, default=None
            The figure's title, and a line about the data under it.
        unit : str, default=None
            The target's unit, for errors measured in it.

        Returns
        -------
        matplotlib.figure.Figure
            A pyplot figure: close it (``plt.close(fig)``) once saved.
        """
        return plot_comparison(self, title, dataset, unit)


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


def _cap_workers(model: BaseEstimator, count: int) -> None:
    """Run the joblib workers of ``model`` (each ``n_jobs`` of it, -1 included) at ``count``
    at most."""
    capped = {
        key: min(effective_n_jobs(value), count)
        for key, value in model.get_params().items()
        if (key == "n_jobs" or key.endswith("__n_jobs")) and value not in (None, 1)
    }
    model.set_params(**capped)


def _warm_up(estimators: Mapping[str, BaseEstimator], X, y, train: np.ndarray) -> None:
    """Fit each model once, untimed, on a few training rows for one epoch.

    The first fit in a process pays one-off costs (torch's first kernels and thread pools,
    joblib's worker processes, lazy imports) that would otherwise count in the first model's
    first fold. Failures are left to the timed folds to report.
    """
    rows = train[np.linspace(0, len(train) - 1, min(WARM_UP_ROWS, len(train))).astype(int)]
    X_rows, y_rows = _safe_indexing(X, rows), _safe_indexing(y, rows)
    for estimator in estimators.values():
        model = clone(estimator)
        epochs = [k for k in model.get_params() if k == "max_epochs" or k.endswith("__max_epochs")]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.set_params(**dict.fromkeys(epochs, 1)).fit(X_rows, y_rows)
        except Exception:  # noqa: BLE001, S110 - the timed folds report the failure
            pass


def _reporting_epochs(estimator, tracker: Progress, prefix: str):
    """``estimator`` with its network (if any) reporting each epoch to ``tracker``."""
    network = find_network(estimator)
    if network is None or tracker.mode == "quiet" or "callbacks" not in network.get_params():
        return estimator
    # A function, not the bound method: copies of the callback must share the tracker.
    report = lambda text, fraction: tracker.status(text, fraction)  # noqa: E731
    network.set_params(callbacks=[*(network.callbacks or []), EpochProgress(report, prefix)])
    return estimator


def _check_scorers_fit_the_task(scorers: dict, task: str, y) -> None:
    wrong = [name for name, scorer in scorers.items() if scorer_task(scorer) not in (None, task)]
    if wrong:
        target = (
            f"numbers ({len(np.unique(y))} distinct values)" if task == "regression" else "classes"
        )
        other = "classification" if task == "regression" else "regression"
        scores = f"is a {other} score" if len(wrong) == 1 else f"are {other} scores"
        raise ValueError(
            f"scoring {wrong} {scores}, but this target is {task}: {target}; for {task} use, "
            f"for instance, {', '.join(DEFAULT_SCORING[task])}."
        )


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
    preprocess: bool = True,
) -> ComparisonResult:
    """Cross-validate several models on the same folds and compare them.

    Parameters
    ----------
    estimators : dict of name to estimator, list of estimators, or None
        The models to compare. A bare skdeep network gets the preprocessing of the default
        network (see ``preprocess``); other estimators and Pipelines are used as given. None
        gives the default network and baselines.
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    cv : int or cross-validation splitter, default=5
        An int gives shuffled (stratified, for classification) K folds seeded by
        ``random_state``. The same folds serve every model.
    scoring : str or list of str, default=None
        Scorer names, scikit-learn's or skdeep's (:func:`skdeep.scorers.get_scorer`); the
        first ranks the models. None: accuracy and balanced accuracy for classification, R²
        and RMSE for regression. An unknown name is refused before anything trains.
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
        How to show progress (models x folds) on stderr: a network's fold shows its epochs
        (epoch k/n, loss), and the time left weighs each model by its measured fold time.
    preprocess : bool, default=True
        Give each bare skdeep network in ``estimators`` the preprocessing of the default
        network (:func:`skdeep.baselines.with_network_preprocessing`): numeric columns
        scaled (not for a CNN), text columns one-hot encoded, missing values imputed and, for
        regression, the target standardised. False uses them as given.

    Each model is first fitted once, untimed, on a few rows for one epoch, so that one-off
    start-up costs stay out of the times. A model that fails on a fold is recorded (NaN
    scores, a ``FitFailedWarning``, ``failed_folds`` and its first ``error``) and the
    comparison goes on; ``result.failed`` lists those that failed on every fold, which take
    no part in the tests against the best.

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
    >>> list(result.frame.columns[:2]), list(result.table().columns[:2])
    (['accuracy_mean', 'accuracy_std'], ['accuracy', 'balanced accuracy'])
    """
    if X is None or y is None:
        raise TypeError("compare needs the data: compare(estimators, X, y).")
    task = infer_task(y)
    named = {} if estimators is None else _as_named(estimators)
    if baselines is None:
        baselines = all(find_network(e) is not None for e in named.values())
    if preprocess:
        named = {name: with_network_preprocessing(e, task, X) for name, e in named.items()}
    if estimators is None or baselines:
        defaults = default_models(
            task, X, random_state=random_state, device=device, max_epochs=max_epochs
        )
        if named:
            defaults.pop("MLP")
        named = {**named, **defaults}
    scoring = [
        str(s) for s in (DEFAULT_SCORING[task] if scoring is None else np.atleast_1d(scoring))
    ]
    scorers = get_scorers(scoring)
    _check_scorers_fit_the_task(scorers, task, y)
    if isinstance(cv, int):
        splitter = (StratifiedKFold if task == "classification" else KFold)(
            n_splits=cv, shuffle=True, random_state=random_state
        )
    else:
        splitter = check_cv(cv, y, classifier=task == "classification")
    folds = list(splitter.split(X, y))
    test_fraction = float(np.mean([len(test) / len(train) for train, test in folds]))

    _warm_up(named, X, y, folds[0][0])
    tracker = Progress(
        len(named) * len(folds),
        "compare",
        mode=progress,
        groups={name: len(folds) for name in named},
    )
    start = time.perf_counter()
    load_before = load_average()
    rows, fold_rows, notes = [], [], []
    for name, estimator in named.items():
        n_params = None
        per_fold = []
        first_error = None
        # A network chooses its threads as it trains (n_threads); a classical model per fold,
        # its OpenMP/BLAS threads and its joblib workers (a random forest's n_jobs) alike.
        # Beside busy processes, a classical model never starts above the cores left free.
        threads = (
            None
            if find_network(estimator)
            else FoldThreadChooser(prior_thread_count(thread_limit()))
        )
        for fold, split in enumerate(folds):
            tracker.start(name)
            count = None
            try:
                with threads.limits() if threads else nullcontext() as count:
                    model = clone(estimator)
                    if count is not None:
                        _cap_workers(model, count)
                    result = cross_validate(
                        _reporting_epochs(model, tracker, f"{name} fold {fold + 1}: "),
                        X,
                        y,
                        cv=[split],
                        scoring=scorers,
                        error_score="raise",
                        return_estimator=True,
                    )
            except Exception as error:  # noqa: BLE001 - any failure is recorded, the rest goes on
                note = f"{name} failed on fold {fold + 1}: {type(error).__name__}: {error}"
                first_error = first_error or f"{type(error).__name__}: {error}"
                warnings.warn(note, FitFailedWarning, stacklevel=2)
                notes.append(note)
                result = {
                    "estimator": [None],
                    "fit_time": [np.nan],
                    "score_time": [np.nan],
                    **{f"test_{s}": [np.nan] for s in scoring},
                }
            if threads is not None:
                threads.record(count, float(result["fit_time"][0] + result["score_time"][0]))
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
            if network is not None and hasattr(network, "n_threads_"):
                count = network.n_threads_
            fold_rows.append({"model": name, "fold": fold, "threads": count, **scores})
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
        row["error"] = first_error
        rows.append(row)
    tracker.close()

    frame = pd.DataFrame(rows).set_index("model")
    frame = frame.sort_values(f"{scoring[0]}_mean", ascending=False, na_position="last")
    fold_scores = pd.DataFrame(fold_rows)
    primary = fold_scores.pivot(index="fold", columns="model", values=scoring[0])
    best = frame.index[0]
    failed = frame["failed_folds"] == len(folds)
    no_test = (np.nan, np.nan)
    tests = {
        name: no_test
        if name == best or failed[name]
        else corrected_paired_ttest(primary[best], primary[name], test_fraction)
        for name in frame.index
    }
    frame["t_vs_best"] = [tests[n][0] for n in frame.index]
    frame["p_vs_best"] = [tests[n][1] for n in frame.index]
    frame["p_holm"] = holm_adjust(frame["p_vs_best"])
    frame["n_params"] = frame["n_params"].astype("Int64")
    return ComparisonResult(
        frame=frame,
        fold_scores=fold_scores,
        scoring=scoring,
        task=task,
        n_samples=len(y),
        n_folds=len(folds),
        elapsed=time.perf_counter() - start,
        load_average=(load_before, load_average()),
        notes=notes,
    )
