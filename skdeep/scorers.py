"""Scorers for searches over networks: from the training history, per second, per parameter.

Each is a scikit-learn scorer, ``scorer(estimator, X, y) -> float`` with greater meaning better,
usable in ``cross_validate``, ``GridSearchCV`` (also multi-metric, with ``refit=``) and any
``scoring=``. scikit-learn 1.9 resolves ``scoring`` strings only from its own private registry,
which has no public way to add names; so skdeep's names are resolved by :func:`get_scorer`, and
:func:`get_scorers` builds the ``scoring=`` dict of any mix of skdeep's and scikit-learn's names::

    GridSearchCV(est, grid, scoring=get_scorers(["accuracy", "best_valid_accuracy"]),
                 refit="best_valid_accuracy")

Names (``SCORERS``):

- ``"best_valid_loss"`` (also ``"neg_best_valid_loss"``): minus the lowest ``valid_loss`` of the
  fitted network's history (negated, as scikit-learn's ``neg_*`` losses, so that greater is
  better). Read from the history: no prediction pass, so the search spends its time on fits.
- ``"best_valid_accuracy"``: the highest ``valid_acc`` of the history.
- ``"accuracy_per_second"``: accuracy on the scoring data divided by the fit's training time
  in seconds (the history's ``epoch_time``, or ``dur``, summed).

and :func:`make_params_penalized_scorer` for a score less a cost per million parameters.

The history scores need a validation split (``validation_fraction > 0``). In a Pipeline (or a
search, or a ``TransformedTargetRegressor``) the network read is the final one.
"""

from __future__ import annotations

import copy

from sklearn.metrics import accuracy_score
from sklearn.metrics import get_scorer as sklearn_get_scorer


def fitted_network(estimator):
    """The fitted skdeep network inside ``estimator``: itself or its final step.

    Looks through Pipelines (last step), fitted searches (``best_estimator_``) and
    ``TransformedTargetRegressor`` (``regressor_``).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdeep import MLPClassifier
    >>> pipe = make_pipeline(StandardScaler(), MLPClassifier(max_epochs=1, device="cpu"))
    >>> type(fitted_network(pipe.fit([[0.0], [1.0]] * 5, [0, 1] * 5))).__name__
    'MLPClassifier'
    """
    current = estimator
    for _ in range(16):  # nested pipelines and searches, never a cycle
        if hasattr(current, "history_"):
            return current
        if hasattr(current, "steps"):
            current = current.steps[-1][1]
        elif hasattr(current, "best_estimator_"):
            current = current.best_estimator_
        elif hasattr(current, "regressor_"):
            current = current.regressor_
        else:
            break
    raise TypeError(
        f"{type(estimator).__name__} holds no fitted skdeep network (an estimator with "
        "history_, or a Pipeline ending in one); fit it first, or use a scikit-learn scorer."
    )


def _history_values(estimator, column: str) -> list[float]:
    network = fitted_network(estimator)
    values = [row[column] for row in network.history_ if column in row]
    if not values:
        raise ValueError(
            f"The history of {type(network).__name__} has no {column!r}: the history scorers "
            "need a validation split, so set validation_fraction > 0"
            + (" (and valid_acc exists only for classifiers)." if column == "valid_acc" else ".")
        )
    return values


def fit_seconds(estimator) -> float:
    """Seconds the network spent training, summed over its history's epochs.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> clf = MLPClassifier(max_epochs=2, device="cpu").fit([[0.0], [1.0]] * 5, [0, 1] * 5)
    >>> fit_seconds(clf) > 0
    True
    """
    history = fitted_network(estimator).history_
    return float(sum(row.get("epoch_time", row.get("dur", 0.0)) for row in history))


def _parameter_count(estimator) -> int:
    network = fitted_network(estimator)
    if hasattr(network, "count_params"):
        return network.count_params()
    return sum(p.numel() for p in network.net_.module_.parameters())


class _NetworkScorer:
    """A scorer ``scorer(estimator, X, y, sample_weight=None)`` that looks at the network."""

    name = ""
    task: str | None = None  # "classification" for the scores of classes; None for any task
    reads_validation = False  # True for the scores read from the validation split's history

    def __call__(self, estimator, X, y_true, sample_weight=None) -> float:
        return float(self._score(estimator, X, y_true, sample_weight))

    def _score(self, estimator, X, y_true, sample_weight) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"skdeep.scorers.get_scorer({self.name!r})"


class _BestValidLoss(_NetworkScorer):
    name = "best_valid_loss"
    reads_validation = True

    def _score(self, estimator, X, y_true, sample_weight) -> float:
        return -min(_history_values(estimator, "valid_loss"))


class _BestValidAccuracy(_NetworkScorer):
    name = "best_valid_accuracy"
    reads_validation = True
    task = "classification"

    def _score(self, estimator, X, y_true, sample_weight) -> float:
        return max(_history_values(estimator, "valid_acc"))


class _AccuracyPerSecond(_NetworkScorer):
    name = "accuracy_per_second"
    task = "classification"

    def _score(self, estimator, X, y_true, sample_weight) -> float:
        seconds = fit_seconds(estimator)
        accuracy = accuracy_score(y_true, estimator.predict(X), sample_weight=sample_weight)
        return accuracy / seconds if seconds > 0 else float("inf")


class _ParamsPenalized(_NetworkScorer):
    def __init__(self, base, per_million_params: float) -> None:
        self.base = base
        self.per_million_params = per_million_params
        self.base_scorer = get_scorer(base)
        self.task = scorer_task(self.base_scorer)

    def _score(self, estimator, X, y_true, sample_weight) -> float:
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        score = self.base_scorer(estimator, X, y_true, **kwargs)
        return score - self.per_million_params * _parameter_count(estimator) / 1e6

    def __repr__(self) -> str:
        return (
            f"skdeep.scorers.make_params_penalized_scorer(base={self.base!r}, "
            f"per_million_params={self.per_million_params!r})"
        )


SCORERS: dict = {
    "best_valid_loss": _BestValidLoss(),
    "neg_best_valid_loss": _BestValidLoss(),
    "best_valid_accuracy": _BestValidAccuracy(),
    "accuracy_per_second": _AccuracyPerSecond(),
}


def get_scorer(scoring):
    """Return the scorer named ``scoring``, skdeep's or scikit-learn's; a callable as it is.

    Parameters
    ----------
    scoring : str or callable
        One of ``SCORERS``, any name of :func:`sklearn.metrics.get_scorer_names`, or a scorer.

    Returns
    -------
    callable
        ``scorer(estimator, X, y)``, a fresh copy for a name.

    Examples
    --------
    >>> get_scorer("best_valid_loss")
    skdeep.scorers.get_scorer('best_valid_loss')
    >>> get_scorer("accuracy")
    make_scorer(accuracy_score, response_method='predict')
    """
    if isinstance(scoring, str) and scoring in SCORERS:
        return copy.deepcopy(SCORERS[scoring])
    try:
        return sklearn_get_scorer(scoring)
    except ValueError:
        raise ValueError(
            f"{scoring!r} is neither a skdeep scorer ({sorted(SCORERS)}) nor a scikit-learn "
            "one (see sklearn.metrics.get_scorer_names())."
        ) from None


# Where scikit-learn's metric functions live, and the task their scores measure.
_METRIC_MODULES = {
    "sklearn.metrics._classification": "classification",
    "sklearn.metrics._ranking": "classification",
    "sklearn.metrics._regression": "regression",
}


def scorer_task(scorer) -> str | None:
    """The task a scorer's score measures: ``"classification"``, ``"regression"`` or None (any).

    Parameters
    ----------
    scorer : callable
        A scorer from :func:`get_scorer`.

    Returns
    -------
    str or None

    Examples
    --------
    >>> [scorer_task(get_scorer(n)) for n in ("accuracy", "roc_auc", "r2", "best_valid_loss")]
    ['classification', 'classification', 'regression', None]
    """
    if isinstance(scorer, _NetworkScorer):
        return scorer.task
    metric = getattr(scorer, "_score_func", None)
    return _METRIC_MODULES.get(getattr(metric, "__module__", None))


def get_scorers(names) -> dict:
    """Return ``{name: scorer}`` for ``scoring=``: a multi-metric mix of skdeep and sklearn names.

    Parameters
    ----------
    names : str or iterable of str

    Returns
    -------
    dict
        Pass it as ``scoring=``; its keys name the ``cv_results_`` columns and ``refit``.

    Examples
    --------
    >>> sorted(get_scorers(["accuracy", "best_valid_accuracy"]))
    ['accuracy', 'best_valid_accuracy']
    """
    if isinstance(names, str):
        names = [names]
    return {name: get_scorer(name) for name in names}


def make_params_penalized_scorer(base="accuracy", *, per_million_params: float):
    """Return a scorer: ``base`` score less ``per_million_params`` per million parameters.

    ``score = base(estimator, X, y) - per_million_params * n_params / 1e6``, with ``n_params``
    the fitted network's parameter count, so a search prefers the smaller of two networks that
    score alike.

    Parameters
    ----------
    base : str or callable, default="accuracy"
        The score to penalise: a name for :func:`get_scorer` or a scorer.
    per_million_params : float
        What a million parameters cost, in units of the base score.

    Returns
    -------
    callable

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(hidden_layer_sizes=(1000,), max_epochs=20, learning_rate=0.01,
    ...                     device="cpu", random_state=0).fit(X, y)
    >>> clf.count_params()
    4002
    >>> scorer = make_params_penalized_scorer(per_million_params=10.0)
    >>> round(scorer(clf, X, y), 4)  # accuracy 1.0, less 10 * 0.004002
    0.96
    """
    return _ParamsPenalized(base, per_million_params)


__all__ = [
    "SCORERS",
    "fit_seconds",
    "fitted_network",
    "get_scorer",
    "get_scorers",
    "make_params_penalized_scorer",
    "scorer_task",
]
