"""The Optuna workflow: a persistent study, and an objective that cross-validates an estimator."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from numbers import Integral, Number
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv, cross_validate

from ..callbacks import TensorBoard
from ..core import BaseNetwork
from ..utils.optional import require
from ..utils.threads import free_workers
from .pruning import OptunaPruning
from .space import SearchSpace


def storage_url(storage: str | os.PathLike) -> str:
    """Turn a file path into a SQLite URL; leave a database URL (``dialect://...``) as it is.

    Examples
    --------
    >>> storage_url("studies/mnist.db")
    'sqlite:///studies/mnist.db'
    >>> storage_url("postgresql://user:secret@db.example.org/optuna")
    'postgresql://user:secret@db.example.org/optuna'
    """
    storage = os.fspath(storage)
    return storage if "://" in storage else f"sqlite:///{storage}"


def _set_sqlite_pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_write_ahead_log(engine) -> None:
    """Put a SQLite study in WAL mode: readers no longer block the writer, commits cost no fsync.

    With the default rollback journal every commit syncs the file, which made each trial
    (a dozen small commits) about 3 times slower than in memory. In WAL mode with
    ``synchronous=NORMAL`` a killed process loses nothing that was committed; only a power
    cut may lose the last commits. WAL needs a local file system (not NFS).
    """
    sqlalchemy = require("sqlalchemy")
    sqlalchemy.event.listen(engine, "connect", _set_sqlite_pragmas)
    engine.dispose()  # the connections opened before the listener close; new ones get it


def open_study(
    study_name: str,
    storage: str | os.PathLike | Any = "optuna.db",
    *,
    direction: str = "maximize",
    sampler=None,
    pruner=None,
    heartbeat_interval: int | None = 60,
):
    """Create an Optuna study in a persistent storage, or reopen it with its trials.

    Several processes (on one machine with SQLite, on several with a database server) can
    open the same study and optimise it together; a study whose process was killed keeps its
    finished trials and goes on where it stopped.

    Parameters
    ----------
    study_name : str
    storage : str, path or optuna storage, default="optuna.db"
        A file path is a SQLite database (created if missing); a URL such as
        ``"postgresql://user:password@host/db"`` is any database SQLAlchemy reaches; an
        optuna storage object (``optuna.storages.InMemoryStorage()``...) is used as is.
    direction : {"maximize", "minimize"}, default="maximize"
        scikit-learn scores, as :func:`make_objective` returns them, are maximised.
    sampler, pruner : optuna sampler and pruner, default=None
        Optuna's defaults (TPE, median pruner) when None.
    heartbeat_interval : int or None, default=60
        Seconds between the "still alive" beats of a running trial. A trial whose process died
        stops beating and is marked failed once another process optimises the study, after a
        grace period of twice this interval. None turns it off.

    Returns
    -------
    optuna.Study

    Examples
    --------
    >>> import optuna
    >>> study = open_study("demo", optuna.storages.InMemoryStorage())
    >>> study.direction.name
    'MAXIMIZE'
    """
    optuna = require("optuna")
    if isinstance(storage, (str, os.PathLike)):
        url = storage_url(storage)
        sqlite = url.startswith("sqlite")
        with warnings.catch_warnings():
            # The heartbeat is "experimental" in Optuna; it is documented here.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url,
                # Several processes write to one file: wait for its lock instead of failing.
                engine_kwargs={"connect_args": {"timeout": 60}} if sqlite else {},
                heartbeat_interval=heartbeat_interval,
                grace_period=None if heartbeat_interval is None else 2 * heartbeat_interval,
            )
        if sqlite:
            _use_write_ahead_log(storage.engine)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection[direction.upper()]:
        raise ValueError(
            f"The study {study_name!r} in this storage is set to {study.direction.name.lower()}, "
            f"not {direction}; give direction={study.direction.name.lower()!r} or another name."
        )
    fail_trials_dead_before_their_first_heartbeat(study)
    return study


def fail_trials_dead_before_their_first_heartbeat(study) -> list[int]:
    """Mark failed the running trials that never beat and started over a grace period ago.

    Optuna fails a trial whose heartbeat went stale, but not one whose process died before
    its first beat (killed while the trial was being created): that one would stay RUNNING
    for ever. A trial run by ``study.optimize`` beats as soon as it starts, so one without a
    beat after the grace period (twice the heartbeat interval) is dead. Trials created by
    ``study.ask()`` never beat: with a heartbeat, run trials through ``optimize``.
    :func:`open_study` calls this; it returns the numbers of the trials it failed.
    """
    optuna = require("optuna")
    storage = study._storage
    database = getattr(storage, "_backend", storage)  # Optuna wraps an RDBStorage in a cache
    interval = getattr(database, "heartbeat_interval", None)
    if interval is None or not hasattr(database, "engine"):
        return []
    grace = getattr(database, "grace_period", None) or 2 * interval
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if not running:
        return []
    sqlalchemy = require("sqlalchemy")
    with database.engine.connect() as connection:
        beating = {
            row[0]
            for row in connection.execute(sqlalchemy.text("SELECT trial_id FROM trial_heartbeats"))
        }
    now = datetime.now()  # Optuna stores datetime_start in local time, as this is
    failed = []
    for trial in running:
        started = trial.datetime_start
        if trial._trial_id in beating or started is None or now - started < timedelta(0, grace):
            continue
        try:
            storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process has just finished or failed it
        failed.append(trial.number)
    return failed


def optimize_study(study, objective, n_trials: int, **optimize_kwargs) -> None:
    """``study.optimize`` up to ``n_trials`` trials in all, counting those the study holds.

    Run again, the command of a finished study runs no trial, and a resumed one only those
    it lacks: completed, pruned and running trials count (failed ones are run again). Several
    processes optimising one study together stop at ``n_trials`` as well (through Optuna's
    ``MaxTrialsCallback``), so the study never holds more than ``n_trials`` of them.

    Parameters
    ----------
    study : optuna.Study
    objective : callable
    n_trials : int >= 1
    **optimize_kwargs
        Passed on to ``study.optimize`` (``timeout``, ``n_jobs``, ``callbacks`` ...).

    Examples
    --------
    >>> import optuna
    >>> study = open_study("twice", optuna.storages.InMemoryStorage())
    >>> for _ in range(2):
    ...     optimize_study(study, lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    >>> len(study.trials)
    3
    """
    optuna = require("optuna")
    if not (isinstance(n_trials, Integral) and n_trials >= 1):
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}.")
    counted = tuple(
        getattr(optuna.trial.TrialState, name) for name in ("COMPLETE", "PRUNED", "RUNNING")
    )
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=counted))
    if remaining <= 0:
        return
    limit = optuna.study.MaxTrialsCallback(n_trials, states=counted)
    callbacks = [*(optimize_kwargs.pop("callbacks", None) or []), limit]
    study.optimize(objective, n_trials=remaining, callbacks=callbacks, **optimize_kwargs)


def _name_tensorboard_runs(estimator, trial_number: int) -> None:
    """Name the runs of the TensorBoard callbacks in ``estimator`` after the trial.

    Unnamed runs would be named by time; ``trial-0007`` (``-2``, ``-3`` for its other folds)
    says which trial of ``trials.csv`` a run is.
    """
    for name, value in estimator.get_params(deep=True).items():
        if not name.endswith("callbacks") or not value:
            continue
        renamed = [
            type(cb)(**{**cb.get_params(), "run_name": f"trial-{trial_number:04d}"})
            if isinstance(cb, TensorBoard) and cb.run_name is None
            else cb
            for cb in value
        ]
        if any(new is not old for new, old in zip(renamed, value, strict=True)):
            estimator.set_params(**{name: renamed})


def _network_step(estimator) -> str:
    """The parameter prefix of the skdeep network inside ``estimator`` ('' for itself)."""
    if isinstance(estimator, BaseNetwork):
        return ""
    names = [
        name
        for name, value in estimator.get_params(deep=True).items()
        if isinstance(value, BaseNetwork)
    ]
    if len(names) != 1:
        raise ValueError(
            "pruning=True needs exactly one skdeep network in the estimator, found "
            f"{len(names)} ({names}); prune by hand with OptunaPruning in its callbacks."
        )
    return names[0] + "__"


def _metric_names(scoring) -> list[str] | None:
    if isinstance(scoring, Mapping):
        return list(scoring)
    if isinstance(scoring, (list, tuple, set)):
        return list(scoring)
    return None


def _most_epochs(space: SearchSpace, step: str) -> int | None:
    """The largest ``max_epochs`` the space can draw (None when it is not searched)."""
    dim = space.dimensions.get(f"{step}max_epochs")
    if dim is None:
        return None
    return int(max(dim.choices)) if dim.kind == "categorical" else int(dim.high)


@dataclass
class _Objective:
    """Callable that cross-validates one candidate per trial; see :func:`make_objective`."""

    estimator: Any
    space: SearchSpace
    X: Any
    y: Any
    cv: Any
    scoring: Any
    metric: str
    groups: Any
    fit_params: dict | None
    pruning: bool
    monitor: str
    epochs_per_fold: int | None
    n_jobs: int | None
    error_score: Number | str

    def __call__(self, trial) -> float:
        optuna = require("optuna")
        estimator = clone(self.estimator).set_params(**self.space.suggest(trial))
        _name_tensorboard_runs(estimator, trial.number)
        if self.pruning:
            step = _network_step(estimator)
            existing = estimator.get_params()[f"{step}callbacks"] or []
            pruning = OptunaPruning(
                trial, monitor=self.monitor, epochs_per_fold=self.epochs_per_fold
            )
            estimator.set_params(**{f"{step}callbacks": [*existing, pruning]})
        try:
            # Errors are raised here and handled below, so that a pruned fold stops the
            # trial instead of being recorded as a failed fit.
            scores = cross_validate(
                estimator,
                self.X,
                self.y,
                groups=self.groups,
                cv=self.cv,
                scoring=self.scoring,
                params=self.fit_params,
                n_jobs=free_workers(self.n_jobs),
                error_score="raise",
            )
        except optuna.TrialPruned:
            raise
        except Exception as error:
            if self.error_score == "raise":
                raise
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            return float(self.error_score)
        for key, values in scores.items():
            name = key.replace("test_", "") if key.startswith("test_") else None
            if name is not None:
                for fold, value in enumerate(values):
                    trial.set_user_attr(f"split{fold}_test_{name}", float(value))
            trial.set_user_attr(f"mean_{key}", float(np.mean(values)))
            trial.set_user_attr(f"std_{key}", float(np.std(values)))
        return trial.user_attrs[f"mean_test_{self.metric}"]


def make_objective(
    estimator,
    space: SearchSpace | Mapping[str, Any],
    X,
    y=None,
    *,
    cv=3,
    scoring=None,
    metric: str | None = None,
    groups=None,
    fit_params: dict | None = None,
    pruning: bool = False,
    monitor: str = "valid_loss",
    n_jobs: int | None = None,
    error_score: Number | str = np.nan,
) -> Callable[[Any], float]:
    """Return an Optuna objective: draw parameters from ``space``, cross-validate, score.

    Each trial clones ``estimator``, sets the parameters that ``space.suggest(trial)`` draws,
    runs :func:`~sklearn.model_selection.cross_validate` and returns the mean test score. It
    stores the scores as the trial's user attributes under scikit-learn's names
    (``mean_test_score``, ``std_test_score``, ``split0_test_score``, ``mean_fit_time`` ...),
    as ``OptunaSearchCV`` does, so :func:`~skdeep.search.results_frame` reads both alike.

    Parameters
    ----------
    estimator : estimator or Pipeline
    space : SearchSpace or mapping
        Parameter names as ``estimator.set_params`` takes them.
    X, y : array-like
    cv : int, cross-validation generator or iterable, default=3
        Fixed once, so that every trial sees the same folds.
    scoring : str, callable, list or dict, default=None
        As in :func:`~sklearn.model_selection.cross_validate`.
    metric : str or None, default=None
        With several metrics, the one returned to Optuna (default: the first).
    groups : array-like, default=None
    fit_params : dict, default=None
        Passed to ``fit``.
    pruning : bool, default=False
        Add :class:`OptunaPruning` to the callbacks of the skdeep network in ``estimator``:
        each epoch of each fold reports ``monitor`` and the study's pruner may stop the trial.
        The folds then run one after another; run several trials at once instead. When
        ``space`` searches ``max_epochs``, each fold gets as many steps as its largest value.
    monitor : str, default="valid_loss"
        The history column that pruning reports.
    n_jobs : int or None, default=None
        Folds fitted in parallel when ``pruning`` is off; on this machine's cores, no more
        than the processes running when a trial starts leave free
        (:func:`skdeep.utils.threads.free_workers`).
    error_score : "raise" or float, default=np.nan
        Returned when a fit fails (the error is kept in the trial's ``"error"`` attribute);
        Optuna marks a trial that returns NaN as failed and goes on.

    Returns
    -------
    callable
        ``objective(trial) -> float`` for ``study.optimize``.

    Examples
    --------
    >>> import optuna
    >>> from sklearn.datasets import load_iris
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> objective = make_objective(
    ...     MLPClassifier(max_epochs=2, device="cpu", random_state=0),
    ...     {"learning_rate": ("log", 1e-3, 1e-1), "hidden_layer_sizes": [(8,), (16,)]},
    ...     X, y, cv=2)
    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(objective, n_trials=1)
    >>> sorted(study.best_trial.params)
    ['hidden_layer_sizes', 'learning_rate']
    >>> sorted(study.best_trial.user_attrs)[:3]
    ['mean_fit_time', 'mean_score_time', 'mean_test_score']
    """
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    names = _metric_names(scoring)
    if names is None:
        if metric not in (None, "score"):
            raise ValueError(f"metric={metric!r} names a metric, but scoring gives a single one.")
        metric = "score"
    elif metric is None:
        metric = names[0]
    elif metric not in names:
        raise ValueError(f"metric={metric!r} is not one of the scoring names {names}.")
    if pruning:
        _network_step(estimator)
        if n_jobs not in (None, 1):
            raise ValueError(
                "pruning=True fits the folds one after another in this process; leave n_jobs "
                "at None and run several trials at once (study.optimize(n_jobs=...) or several "
                "processes on one storage) instead."
            )
    if not (error_score == "raise" or isinstance(error_score, Number)):
        raise ValueError(f"error_score must be 'raise' or a number, got {error_score!r}.")
    cv = check_cv(cv, y, classifier=is_classifier(estimator))
    return _Objective(
        estimator,
        space,
        X,
        y,
        cv,
        scoring,
        metric,
        groups,
        fit_params,
        pruning,
        monitor,
        _most_epochs(space, _network_step(estimator) if pruning else ""),
        n_jobs,
        error_score,
    )
