"""``skdeep tune``: a time-boxed Optuna search of one network, refitted and tested once."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ._deps import require
from .objective import open_study, storage_url
from .progress import _seconds
from .pruning import OptunaPruning
from .tune_budget import Budget, BudgetStop, parse_budget
from .tune_data import IMAGE_DATASETS, TuneData, check_dataset, load_tune_data
from .tune_spaces import MODEL_SPACES, MODELS, ModelSpace, data_kind

# The share of the training rows that selects among the trials (the rest trains them).
VALIDATION_SIZE = 0.1
# The share of a trial's training rows that its early stopping and the pruner watch.
EARLY_STOPPING_FRACTION = 0.1
CONFIG_FILE = "tune.json"
STUDY_FILE = "study.db"


@dataclass
class TuneResult:
    """What :func:`tune` found: the summary written to ``summary.json``, and the objects."""

    summary: dict
    study: Any
    best_estimator: Any
    out: Path
    files: list[Path]


def _check_options(model: str, n_trials, storage, max_epochs) -> None:
    if model not in MODELS:
        raise ValueError(f"--model must be one of {list(MODELS)}, got {model!r}.")
    for name, value in (("--trials", n_trials), ("max_epochs", max_epochs)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if storage is not None:
        url = storage_url(storage)
        sqlalchemy = require("sqlalchemy")
        try:
            sqlalchemy.engine.make_url(url)
        except sqlalchemy.exc.ArgumentError as error:
            raise ValueError(f"--storage is not a database URL or file path: {error}") from None


def _config(dataset, model, target, max_samples, random_state) -> dict:
    return {
        "dataset": dataset,
        "model": model,
        "target": target,
        "max_samples": max_samples,
        "random_state": random_state,
    }


def _prepare_out(out: Path, config: dict, force: bool) -> bool:
    """Create ``out`` or reopen the tune run it holds; return whether it is resumed.

    A tune folder is resumed, never replaced; any other folder must be empty or missing (the
    root, the home and the current folder are refused, as for every skdeep report).
    """
    from .._files import check_output_dir

    marker = out / CONFIG_FILE
    if out.is_dir() and marker.exists():
        if force:
            raise FileExistsError(
                f"{out} holds a tune run, which is resumed, never replaced: rerun without "
                "--force to add trials to it, or choose another --out."
            )
        previous = json.loads(marker.read_text())
        if previous != config:
            raise ValueError(
                f"{out} holds a tune run of {previous}, not of {config}; choose another --out."
            )
        return True
    if force and out.is_dir() and any(out.iterdir()):
        raise FileExistsError(
            f"{out} is not empty and holds no tune run; skdeep tune writes only into an empty "
            "or new folder: choose another --out."
        )
    out = check_output_dir(out, force=False)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(config, indent=2))
    return False


def _network_class(model: str, task: str):
    from ..estimators import CNNClassifier, MLPClassifier, MLPRegressor

    if model == "cnn":
        return CNNClassifier
    return MLPClassifier if task == "classification" else MLPRegressor


def make_estimator(
    data: TuneData,
    model_space: ModelSpace,
    params: dict,
    *,
    max_epochs: int,
    patience: int,
    validating: bool,
    callbacks: list,
    device: str,
    random_state: int,
):
    """The estimator of one trial (``validating``) or of the refit, with its preprocessing."""
    from ..baselines import make_preprocessor

    network = _network_class(model_space.name, data.task)(
        **model_space.estimator_params(params),
        max_epochs=max_epochs,
        early_stopping=validating,
        n_iter_no_change=patience,
        validation_fraction=EARLY_STOPPING_FRACTION if validating else 0.0,
        callbacks=callbacks,
        device=device,
        random_state=random_state,
    )
    if data.images:
        return network  # pixels already in [0, 1]
    preprocessing = make_preprocessor(data.X_train, scale=True)
    if preprocessing != "passthrough":
        preprocessing = clone(preprocessing)
    estimator = Pipeline([("preprocess", preprocessing), ("model", network)])
    if data.task == "regression":
        # Networks learn badly on targets in the hundreds of thousands: standardise them.
        estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return estimator


def _score(task: str, estimator, X, y) -> float:
    predicted = estimator.predict(X)
    if task == "classification":
        return float(accuracy_score(y, predicted))
    return float(r2_score(y, predicted))


def _best_epoch(estimator) -> int:
    from ..compare import find_network

    history = find_network(estimator).history_
    best = [row["epoch"] for row in history if row.get("valid_loss_best")]
    return int(best[-1]) if best else len(history)


class _Objective:
    """One trial: draw, train on the fitting rows with pruning and the budget, score on the
    selection rows."""

    def __init__(
        self,
        data,
        model_space,
        X_fit,
        y_fit,
        X_valid,
        y_valid,
        budget,
        *,
        max_epochs,
        patience,
        device,
        random_state,
        refit_factor,
    ):
        self.data = data
        self.model_space = model_space
        self.X_fit, self.y_fit = X_fit, y_fit
        self.X_valid, self.y_valid = X_valid, y_valid
        self.budget = budget
        self.max_epochs = max_epochs
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.refit_factor = refit_factor
        self.monitor = "valid_acc" if data.task == "classification" else "valid_loss"

    def __call__(self, trial) -> float:
        optuna = require("optuna")
        params = self.model_space.suggest(trial)
        record: dict = {}
        callbacks = [
            BudgetStop(self.budget, self.refit_factor, record),
            OptunaPruning(trial, monitor=self.monitor, epochs_per_fold=self.max_epochs),
        ]
        estimator = make_estimator(
            self.data,
            self.model_space,
            params,
            max_epochs=self.max_epochs,
            patience=self.patience,
            validating=True,
            callbacks=callbacks,
            device=self.device,
            random_state=self.random_state,
        )
        start = time.perf_counter()
        stopped_by = None
        try:
            estimator.fit(self.X_fit, self.y_fit)
        except optuna.TrialPruned:
            stopped_by = "pruner"
            raise
        except Exception as error:  # a failed fit is recorded and the search goes on
            stopped_by = "error"
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            return math.nan
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - start)
            trial.set_user_attr("epochs", record.get("epochs", 0))
            trial.set_user_attr("seconds_per_epoch", record.get("seconds_per_epoch"))
            if stopped_by is not None:
                trial.set_user_attr("stopped_by", stopped_by)
        best_epoch = _best_epoch(estimator)
        epochs = record["epochs"]
        if record["stopped_by_budget"]:
            stopped_by = "budget"
        elif epochs < self.max_epochs:
            stopped_by = "early_stopping"
        else:
            stopped_by = "max_epochs"
        trial.set_user_attr("stopped_by", stopped_by)
        trial.set_user_attr("best_epoch", best_epoch)
        return _score(self.data.task, estimator, self.X_valid, self.y_valid)


def _trial_counts(study) -> dict:
    # Enqueued trials that no run has started yet (WAITING) are not counted.
    states = [trial.state.name for trial in study.trials if trial.state.name != "WAITING"]
    return {
        "n_trials": len(states),
        "n_complete": states.count("COMPLETE"),
        "n_pruned": states.count("PRUNED"),
        "n_failed": states.count("FAIL"),
        "n_running": states.count("RUNNING"),
    }


def _complete(study) -> list:
    return [t for t in study.trials if t.state.name == "COMPLETE" and math.isfinite(t.value)]


class _Watch:
    """Optuna callback after each trial: TensorBoard, the reserve for the refit, the stop,
    and a progress line."""

    def __init__(
        self, budget: Budget, refit_factor: float, board_dir: Path, stream, quiet, metric: str
    ) -> None:
        self.budget = budget
        self.refit_factor = refit_factor
        self.board_dir = board_dir
        self.stream = stream
        self.quiet = quiet
        self.metric = metric
        self.added = 0
        self.stopped = False  # by the budget

    def update_reserve(self, study) -> None:
        complete = _complete(study)
        if complete:
            best = max(complete, key=lambda t: t.value)
            self.budget.reserve = self.budget.refit_reserve(_refit_seconds(best, self.refit_factor))

    def __call__(self, study, trial) -> None:
        self.added += 1
        write_hparams(self.board_dir, trial, self.metric)
        self.update_reserve(study)
        complete = _complete(study)
        per_epoch = [
            t.user_attrs["seconds_per_epoch"]
            for t in study.trials
            if t.user_attrs.get("seconds_per_epoch")
        ]
        two_epochs = 2 * float(np.median(per_epoch)) if per_epoch else 0.0
        if self.budget.left() - self.budget.reserve < two_epochs:
            self.stopped = True
            study.stop()
        if self.quiet:
            return
        counts = _trial_counts(study)
        state = trial.state.name.lower()
        detail = f"{self.metric} {trial.value:.4f}" if state == "complete" else state
        epochs = trial.user_attrs.get("epochs")
        best = max(complete, key=lambda t: t.value) if complete else None
        best_text = f"best {best.value:.4f} (trial {best.number})" if best else "no best yet"
        left = self.budget.left()
        left_text = "" if math.isinf(left) else f"; {_seconds(max(left, 0))} left"
        print(
            f"trial {trial.number}: {detail}, {epochs} epochs, "
            f"{trial.user_attrs.get('seconds', 0):.0f} s | {counts['n_trials']} trials "
            f"({self.added} this run), {counts['n_pruned']} pruned, {best_text}{left_text}",
            file=self.stream,
            flush=True,
        )


def _refit_seconds(trial, refit_factor: float) -> float:
    per_epoch = trial.user_attrs.get("seconds_per_epoch") or 0.0
    return refit_factor * per_epoch * trial.user_attrs.get("best_epoch", 1)


def _hparam(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_hparams(board_dir: Path, trial, metric: str) -> None:
    """Write one trial to TensorBoard: its reported values per epoch and its HParams row."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(board_dir / f"trial-{trial.number:04d}")) as writer:
        for step, value in sorted(trial.intermediate_values.items()):
            writer.add_scalar("pruning/reported", value, step)
        hparams = {name: _hparam(value) for name, value in trial.params.items()}
        hparams["state"] = trial.state.name.lower()
        complete = trial.state.name == "COMPLETE" and trial.value is not None
        writer.add_hparams(
            hparams,
            {
                f"hparam/valid_{metric}": float(trial.value) if complete else math.nan,
                "hparam/epochs": float(trial.user_attrs.get("epochs", 0)),
                "hparam/seconds": float(trial.user_attrs.get("seconds", 0.0)),
            },
            run_name=".",
        )


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _baseline(data: TuneData, random_state: int) -> dict | None:
    """HistGradientBoosting on the same split, for tables (a reference, not a candidate)."""
    if data.images:
        return None
    from ..baselines import default_models

    start = time.perf_counter()
    ((name, model),) = default_models(
        data.task, data.X_train, ["hist_gradient_boosting"], random_state=random_state
    ).items()
    model.fit(data.X_train, data.y_train)
    return {
        "model": name,
        f"test_{_metric(data.task)}": _score(data.task, model, data.X_test, data.y_test),
        "seconds": time.perf_counter() - start,
    }


def _metric(task: str) -> str:
    return "accuracy" if task == "classification" else "r2"


def tune(
    dataset: str = "digits",
    model: str = "mlp",
    *,
    budget="10m",
    n_trials: int | None = None,
    storage: str | None = None,
    out=None,
    target: str | None = None,
    force: bool = False,
    data_home=None,
    max_samples: int | None = None,
    max_epochs: int | None = None,
    device: str = "auto",
    random_state: int = 0,
    progress: str = "auto",
    stream: TextIO | None = None,
    command: str | None = None,
) -> TuneResult:
    """Search the hyper-parameters of one network within a wall-time budget; test the best once.

    The training rows are split once into fitting rows (90 %) and selection rows (10 %).
    Each trial trains on the fitting rows (early stopping and the pruner watch 10 % of them)
    and is scored on the selection rows. The first trials are the model's documented strong
    configurations, then Optuna's TPE; the median pruner stops poor trials by epoch. When the
    budget runs out, the best trial is refitted on all the training rows for as many epochs
    as it peaked at, and scored once on the test rows, which nothing before has seen.

    Parameters
    ----------
    dataset : str, default="digits"
        ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"california"``, ``"adult"`` or a
        ``.csv`` path (with ``target``).
    model : {"mlp", "deep-mlp", "cnn"}, default="mlp"
    budget : str, float or None, default="10m"
        Wall time for the search and the refit: ``"90s"``, ``"10m"``, ``"1h"``, seconds.
        None: only ``n_trials`` bounds the search.
    n_trials : int or None, default=None
        Trials to add in this run (a resumed study keeps its earlier ones).
    storage : str or None, default=None
        An Optuna storage URL or a SQLite file path; None is ``study.db`` in ``out``.
    out : path or None, default=None
        Output folder; None is ``skdeep-out/tune-DATASET-MODEL-TIME``. A folder that holds a
        tune run of the same dataset and model is resumed; another non-empty one is refused.
    target : str or None, default=None
        Target column of a CSV dataset.
    force : bool, default=False
        The command's common ``--force``: a tune folder is never replaced, so it only makes
        the refusal of a non-empty folder say so.
    data_home : path or None, default=None
    max_samples : int or None, default=None
        Train (search and refit) on a random subset of the training rows.
    max_epochs : int or None, default=None
        Epochs per trial; None takes the model's for the data (40 for the MLPs and 20 for
        the CNN on images, 150 on tables).
    device : str, default="auto"
    random_state : int, default=0
        Seeds the splits, the networks and the sampler.
    progress : {"auto", "lines", "quiet"}, default="auto"
        A line per finished trial, or nothing.
    stream : file-like, default=sys.stdout
    command : str or None, default=None
        The command line, for the report.

    Returns
    -------
    TuneResult

    Examples
    --------
    >>> import tempfile
    >>> result = tune("digits", "mlp", budget="20s", n_trials=2, max_epochs=3,
    ...               out=tempfile.mkdtemp(), progress="quiet")  # doctest: +SKIP
    >>> sorted(result.summary)[:3]  # doctest: +SKIP
    ['baseline', 'best_estimator_params', 'best_params']
    """
    optuna = require("optuna")
    from .tune_report import write_report

    seconds = parse_budget(budget)
    if seconds is None and n_trials is None:
        raise ValueError("Give a --budget, a number of --trials, or both.")
    _check_options(model, n_trials, storage, max_epochs)
    check_dataset(dataset, target)
    if model == "cnn" and dataset not in IMAGE_DATASETS:
        raise ValueError(
            f"--model cnn needs images ({', '.join(IMAGE_DATASETS)}); {dataset!r} is a table: "
            "use --model mlp or deep-mlp."
        )
    if progress not in ("auto", "lines", "quiet"):
        raise ValueError(f"progress must be 'auto', 'lines' or 'quiet', got {progress!r}.")
    stream = sys.stdout if stream is None else stream
    quiet = progress == "quiet"
    config = _config(dataset, model, target, max_samples, random_state)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out or f"skdeep-out/tune-{Path(dataset).stem}-{model}-{stamp}")
    resumed = _prepare_out(out, config, force)
    load_before = _load_average()
    budget_clock = Budget(seconds)

    data = load_tune_data(
        dataset,
        target=target,
        data_home=data_home,
        max_samples=max_samples,
        random_state=random_state,
    )
    model_space = MODEL_SPACES[model]
    starting = model_space.start(data_kind(data.images, data.task))
    epochs = max_epochs or starting.max_epochs
    X_fit, X_valid, y_fit, y_valid = train_test_split(
        data.X_train,
        data.y_train,
        test_size=VALIDATION_SIZE,
        random_state=random_state,
        stratify=data.y_train if data.task == "classification" else None,
    )
    n_trial_rows = len(y_fit) * (1 - EARLY_STOPPING_FRACTION)
    refit_factor = len(data.y_train) / n_trial_rows

    study_name = f"tune-{Path(dataset).stem}-{model}"
    url = storage_url(storage) if storage is not None else storage_url(out / STUDY_FILE)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = open_study(
            study_name,
            url,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
            heartbeat_interval=10,
        )
        # Seeded by the trials already there: a resumed study draws new points, not the
        # ones its first run drew.
        study.sampler = optuna.samplers.TPESampler(
            n_startup_trials=4,
            multivariate=True,
            group=True,
            seed=random_state + len(study.trials),
        )
    if study.user_attrs.get("tune", config) != config:
        raise ValueError(
            f"The study {study_name!r} in {url} was made for {study.user_attrs['tune']}, not "
            f"{config}; give another --storage."
        )
    study.set_user_attr("tune", config)
    for params in starting.first_trials:
        study.enqueue_trial(dict(params), skip_if_exists=True)

    metric = _metric(data.task)
    watch = _Watch(budget_clock, refit_factor, out / "tensorboard", stream, quiet, metric)
    watch.update_reserve(study)
    objective = _Objective(
        data,
        model_space,
        X_fit,
        y_fit,
        X_valid,
        y_valid,
        budget_clock,
        max_epochs=epochs,
        patience=starting.patience,
        device=device,
        random_state=random_state,
        refit_factor=refit_factor,
    )
    if not quiet:
        for line in data.description:
            print(line, file=stream)
        left = "" if seconds is None else f", budget {_seconds(seconds)}"
        print(
            f"{'resuming' if resumed else 'starting'} study {study_name} "
            f"({_trial_counts(study)['n_trials']} trials so far{left}); writing to {out}/",
            file=stream,
            flush=True,
        )
    search_start = time.perf_counter()
    # No Optuna timeout: the watch stops the study on the budget's own clock.
    if budget_clock.left() - budget_clock.reserve > 0:
        study.optimize(objective, n_trials=n_trials, callbacks=[watch], catch=())
    else:
        watch.stopped = True
    search_seconds = time.perf_counter() - search_start

    complete = _complete(study)
    if not complete:
        raise ValueError(
            f"No trial completed in the study {study_name!r} (see {out}/trials.csv once "
            "written); give a larger --budget or more --trials."
        )
    best = max(complete, key=lambda t: t.value)
    refit_epochs = int(best.user_attrs.get("best_epoch", epochs))
    refit_record: dict = {}
    final = make_estimator(
        data,
        model_space,
        best.params,
        max_epochs=refit_epochs,
        patience=starting.patience,
        validating=False,
        callbacks=[BudgetStop(budget_clock if seconds else None, None, refit_record)],
        device=device,
        random_state=random_state,
    )
    refit_start = time.perf_counter()
    final.fit(data.X_train, data.y_train)
    refit_seconds = time.perf_counter() - refit_start
    # The one look at the test rows.
    test_score = _score(data.task, final, data.X_test, data.y_test)
    elapsed = budget_clock.elapsed()
    baseline = _baseline(data, random_state)

    summary = {
        "dataset": dataset,
        "model": model,
        "best_trial": best.number,
        "best_params": best.params,
        "best_estimator_params": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in model_space.estimator_params(best.params).items()
        },
        f"valid_{metric}": best.value,
        f"test_{metric}": test_score,
        **_trial_counts(study),
        "trials_this_run": watch.added,
        "search_stopped_by": "budget" if watch.stopped else "trials",
        "seconds": elapsed,
        "budget_seconds": seconds,
        "search_seconds": search_seconds,
        "refit_epochs": refit_record.get("epochs", refit_epochs),
        "refit_epochs_planned": refit_epochs,
        "refit_stopped_by_budget": bool(refit_record.get("stopped_by_budget")),
        "refit_seconds": refit_seconds,
        "n_train": len(data.y_train),
        "n_fit": len(y_fit),
        "n_valid": len(y_valid),
        "n_test": len(data.y_test),
        "resumed": resumed,
        "study_name": study_name,
        "storage": _safe_url(url),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "baseline": baseline,
    }
    files = write_report(
        study, summary, out, description=data.description, command=command, metric=metric
    )
    return TuneResult(summary, study, final, out, files)


def _safe_url(url: str) -> str:
    sqlalchemy = require("sqlalchemy")
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
