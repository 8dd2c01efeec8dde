"""Any search, as one tidy DataFrame: a row per candidate, a column per parameter and score."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..utils.optional import require

_SCORE_ATTR = re.compile(r"^(mean|std)_(test|train)_.+$|^(mean|std)_(fit|score)_time$")
_STATUS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}


def _plain(value: Any) -> Any:
    """Optuna returns tuples as lists (see SearchSpace.to_optuna); give them back as tuples."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _param_column(values) -> pd.Series:
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        values = [
            None if masked else value for value, masked in zip(values.data, mask, strict=True)
        ]
    return pd.Series([_plain(v) for v in values])


def _from_cv_results(search) -> pd.DataFrame:
    check_is_fitted(search, "cv_results_")
    results = search.cv_results_
    params = [key[len("param_") :] for key in results if key.startswith("param_")]
    metrics = [key[len("mean_test_") :] for key in results if key.startswith("mean_test_")]
    frame = pd.DataFrame({name: _param_column(results[f"param_{name}"]) for name in params})
    for key in ("iter", "n_resources"):  # successive halving
        if key in results:
            frame.insert(0, key, np.asarray(results[key]))
    score_keys = [
        f"{stat}_{part}_{metric}"
        for metric in metrics
        for part, stat in [("test", "mean"), ("test", "std"), ("test", "rank")]
        + [("train", "mean"), ("train", "std")]
    ] + ["mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"]
    for key in score_keys:
        if key in results:
            frame[key] = np.asarray(results[key])
    # A fit that failed with error_score=np.nan leaves NaN in its candidate's mean.
    failed = frame[[f"mean_test_{m}" for m in metrics]].isna().any(axis=1)
    frame.insert(0, "status", np.where(failed, "failed", "complete"))
    main = search.refit if isinstance(search.refit, str) else None
    if main not in metrics:
        main = "score" if "score" in metrics else metrics[0]
    frame.attrs.update(params=params, score=f"mean_test_{main}", greater_is_better=True)
    return frame


def _from_study(study) -> pd.DataFrame:
    optuna = require("optuna")
    rows, params, scores = [], {}, {}
    for trial in study.trials:
        row: dict[str, Any] = {
            "trial": trial.number,
            "status": _STATUS.get(trial.state.name, trial.state.name.lower()),
        }
        for name, value in trial.params.items():
            params.setdefault(name, None)
            row[name] = _plain(value)
        # Optuna gives a pruned trial its last intermediate value (a per-epoch metric, not the
        # objective): only complete trials have a value here.
        complete = trial.state.name == "COMPLETE"
        if len(study.directions) == 1:
            row["value"] = trial.value if complete else np.nan
        else:
            for i in range(len(study.directions)):
                row[f"value_{i}"] = trial.values[i] if complete else np.nan
        for name, value in trial.user_attrs.items():
            if _SCORE_ATTR.match(name):
                scores.setdefault(name, None)
                row[name] = value
        row["duration"] = trial.duration.total_seconds() if trial.duration is not None else np.nan
        row["n_steps"] = len(trial.intermediate_values)
        rows.append(row)
    values = (
        ["value"]
        if len(study.directions) == 1
        else [f"value_{i}" for i in range(len(study.directions))]
    )
    columns = ["trial", "status", *params, *values, *scores, "duration", "n_steps"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in params:
        frame[name] = pd.Series([_plain(v) for v in frame[name]], dtype=object).infer_objects()
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    frame.attrs.update(params=list(params), score=values[0], greater_is_better=maximize)
    return frame


def results_frame(search) -> pd.DataFrame:
    """Return the candidates of a search as one DataFrame, one row each.

    Works on fitted :class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`, ``HalvingGridSearchCV``,
    ``HalvingRandomSearchCV`` (one row per candidate and iteration, with ``iter`` and
    ``n_resources``), optuna-integration's ``OptunaSearchCV`` and an ``optuna.Study``.

    Columns: ``status`` (``"complete"``, ``"pruned"``, ``"failed"``, or ``"running"`` for a
    trial still going or whose process died), one column per parameter under the name the
    search set it by (``"mlpclassifier__learning_rate"`` inside a pipeline), then the scores
    under scikit-learn's names: ``mean_test_<metric>``, ``std_test_<metric>`` (``<metric>``
    is ``score`` with a single metric), ``rank_test_<metric>``, the train scores when
    recorded, and ``mean_fit_time``. Optuna studies add ``trial``, ``value`` (what the
    objective returned), ``duration`` (seconds) and ``n_steps`` (intermediate values
    reported). A fit that failed with ``error_score=np.nan`` is ``"failed"``.

    ``frame.attrs`` holds ``params`` (the parameter columns), ``score`` (the column that
    ranks the candidates) and ``greater_is_better``; the plots read them.

    Parameters
    ----------
    search : fitted search or optuna.Study

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(MLPClassifier(max_epochs=1, device="cpu", random_state=0),
    ...                       {"learning_rate": [1e-3, 1e-2]}, cv=2).fit(X, y)
    >>> frame = results_frame(search)
    >>> frame.columns[:4].tolist()
    ['status', 'learning_rate', 'mean_test_score', 'std_test_score']
    >>> frame.attrs["score"]
    'mean_test_score'
    """
    if isinstance(search, pd.DataFrame):
        return search
    # The study first: OptunaSearchCV.cv_results_ raises KeyError on a study holding a trial
    # that failed without scores (a killed process, for one).
    study = getattr(search, "study_", None)
    if study is None and hasattr(search, "cv_results_"):
        return _from_cv_results(search)
    study = search if study is None else study
    if not hasattr(study, "trials") or not hasattr(study, "directions"):
        raise TypeError(
            "results_frame takes a fitted scikit-learn search (GridSearchCV, "
            "RandomizedSearchCV, HalvingGridSearchCV...), an OptunaSearchCV or an optuna "
            f"Study; got {type(search).__name__}."
        )
    return _from_study(study)


def _is_numeric(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in present
    )


def _choice_label(value: Any) -> str:
    """The name of a choice in tables and figures; None (or a choice not drawn) is "None".

    Not ``astype(str)``: since pandas 3 it leaves None as a missing value, which groupings
    drop and label lookups miss.
    """
    if np.ndim(value) == 0 and pd.isna(value):
        return "None"
    return str(value)


def choice_labels(column: pd.Series) -> pd.Series:
    """The choices of a parameter column as names, None included.

    Examples
    --------
    >>> choice_labels(pd.Series([None, "cyclic", (64, 32)], dtype=object)).tolist()
    ['None', 'cyclic', '(64, 32)']
    """
    return column.map(_choice_label).astype(object)


def _correlation_ratio(labels: pd.Series, scores: pd.Series) -> float:
    """How much of the score's variance the category explains, in [0, 1] (eta)."""
    total = ((scores - scores.mean()) ** 2).sum()
    if total == 0:
        return 0.0
    groups = scores.groupby(choice_labels(labels))
    between = (groups.count() * (groups.mean() - scores.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def parameter_importance(
    search, score: str | None = None, method: str = "correlation"
) -> pd.Series:
    """Return how strongly each parameter goes with the score, largest first.

    Parameters
    ----------
    search : fitted search, optuna.Study, or a frame from :func:`results_frame`
    score : str or None, default=None
        The score column; None takes ``frame.attrs["score"]``.
    method : {"correlation", "optuna"}, default="correlation"
        ``"correlation"``: Spearman's rank correlation for numeric parameters (signed: > 0
        when larger values score better) and the correlation ratio (eta, in [0, 1]) for
        choices, over the complete candidates. ``"optuna"``: Optuna's
        ``get_param_importances`` with its fANOVA evaluator, on a study or an ``OptunaSearchCV``.

    Returns
    -------
    pandas.Series
        Indexed by parameter, ordered by absolute value; constant parameters left out.

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["complete"] * 4, "lr": [1e-3, 1e-2, 1e-1, 1.0],
    ...                       "mean_test_score": [0.5, 0.6, 0.7, 0.8]})
    >>> frame.attrs.update(params=["lr"], score="mean_test_score", greater_is_better=True)
    >>> parameter_importance(frame)
    lr    1.0
    Name: importance, dtype: float64
    """
    if method == "optuna":
        optuna = require("optuna")
        study = getattr(search, "study_", search)
        if not hasattr(study, "trials"):
            raise TypeError("method='optuna' needs an optuna Study or a fitted OptunaSearchCV.")
        # fANOVA, not Optuna's default PED-ANOVA: that one hashes the distributions and fails
        # on the list choices that SearchSpace gives Optuna for tuples.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importance = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return pd.Series(importance, name="importance", dtype=float)
    if method != "correlation":
        raise ValueError(f"method must be 'correlation' or 'optuna', got {method!r}.")
    frame = results_frame(search)
    score = score or frame.attrs["score"]
    done = frame[(frame["status"] == "complete") & frame[score].notna()]
    importance = {}
    for name in frame.attrs["params"]:
        column = done[name]
        if _is_numeric(column):
            if column.nunique() >= 2:
                rho = column.astype(float).rank().corr(done[score].rank())
                importance[name] = float(rho)
        elif choice_labels(column).nunique() >= 2:
            importance[name] = _correlation_ratio(column, done[score])
    result = pd.Series(importance, name="importance", dtype=float)
    return result.reindex(result.abs().sort_values(ascending=False).index)
