"""``skdeep tune``: a time-boxed Optuna search of one network, refitted and tested once."""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ...datasets import IMAGE_DATASETS
from ...utils.formatting import format_seconds
from ...utils.machine import load_average
from ...utils.optional import require
from ...utils.threads import thread_limit, torch_threads
from ..objective import storage_url
from ._budget import Budget, BudgetStop, parse_budget
from ._data import TuneData, check_dataset, load_tune_data, selection_split
from ._ensemble import TrialEnsemble
from ._spaces import MODEL_SPACES, MODELS, data_kind
from ._study import (
    STUDY_FILE,
    check_storage,
    open_tune_study,
    prepare_out,
    safe_url,
    undone_on_error,
)
from ._trial import (
    EARLY_STOPPING_FRACTION,
    ENSEMBLE_SIZE,
    make_estimator,
    metric_name,
    score,
)
from ._watch import best_trial, trial_counts
from ._workers import (
    KEPT_FOLDER,
    end_workers,
    load_kept,
    process_search,
    start_workers,
    trial_limit,
    wait_for_workers,
)

# Fewer complete trials than this is not a search; the run says so.
MIN_TRIALS_OF_A_SEARCH = 3


def too_few_trials(study, budget_seconds: float | None, refit_seconds: float) -> str | None:
    """A plain warning when the study holds fewer than a few complete trials; None otherwise.

    It says how large a budget would give about ten trials, from what the trials took.
    """
    complete = sum(trial.state.name == "COMPLETE" for trial in study.trials)
    if complete >= MIN_TRIALS_OF_A_SEARCH:
        return None
    durations = [t.user_attrs["seconds"] for t in study.trials if "seconds" in t.user_attrs]
    per_trial = sum(durations) / len(durations) if durations else refit_seconds
    within = "" if budget_seconds is None else f" in the budget of {format_seconds(budget_seconds)}"
    return (
        f"only {complete} trial{'s' * (complete != 1)} completed{within}: this is not a search, "
        "and the network is not tuned (a classical baseline may well beat it). A budget of "
        f"about {format_seconds(10 * per_trial + refit_seconds)} gives the search some ten trials."
    )


@dataclass
class TuneResult:
    """What :func:`tune` found: the summary written to ``summary.json``, and the objects."""

    summary: dict
    study: Any
    best_estimator: Any
    out: Path
    files: list[Path]
    refitted: Any = None
    ensemble: TrialEnsemble | None = None


def _check_options(
    dataset, model: str, target, n_trials, storage, max_epochs, progress, workers
) -> None:
    """Raise ValueError for a bad option, before anything is loaded or written."""
    if model not in MODELS:
        raise ValueError(f"--model must be one of {list(MODELS)}, got {model!r}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {workers!r}.")
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
    check_dataset(dataset, target)
    if model == "cnn" and dataset not in IMAGE_DATASETS:
        raise ValueError(
            f"--model cnn needs images ({', '.join(IMAGE_DATASETS)}); {dataset!r} is a table: "
            "use --model mlp or deep-mlp."
        )
    if progress not in ("auto", "lines", "quiet"):
        raise ValueError(f"progress must be 'auto', 'lines' or 'quiet', got {progress!r}.")


def _ensemble(data: TuneData, kept: list, selection, metric: str, best_value: float):
    """The ensemble of this run's best trials, and its summary; (None, None) under two trials.

    ``kept`` holds ``(value, number, estimator)`` of the best trials of each of the run's
    processes. ``chosen`` says whether the ensemble beats the study's best trial
    (``best_value``) on the selection rows, where every trial was scored; the test rows take
    no part.
    """
    kept = sorted(kept, key=lambda member: (-member[0], member[1]))[:ENSEMBLE_SIZE]
    if len(kept) < 2:
        return None, None
    _, trials, estimators = zip(*kept, strict=True)
    ensemble = TrialEnsemble(estimators, trials, data.task)
    valid = score(data.task, ensemble, *selection)
    summary = {"trials": list(trials), f"valid_{metric}": valid, "chosen": valid > best_value}
    return ensemble, summary


def _baseline(data: TuneData, random_state: int) -> dict | None:
    """HistGradientBoosting on the same split, for tables (a reference, not a candidate)."""
    if data.images:
        return None
    from ...baselines import default_models

    start = time.perf_counter()
    ((name, model),) = default_models(
        data.task, data.X_train, ["hist_gradient_boosting"], random_state=random_state
    ).items()
    model.fit(data.X_train, data.y_train)
    return {
        "model": name,
        f"test_{metric_name(data.task)}": score(data.task, model, data.X_test, data.y_test),
        "seconds": time.perf_counter() - start,
    }


def tune(
    dataset: str = "digits",
    model: str = "mlp",
    *,
    budget="10m",
    n_trials: int | None = None,
    storage: str | None = None,
    out=None,
    target: str | None = None,
    data_home=None,
    download: bool = False,
    max_samples: int | None = None,
    max_epochs: int | None = None,
    device: str = "auto",
    random_state: int = 0,
    progress: str = "auto",
    stream: TextIO | None = None,
    command: str | None = None,
    workers: int = 1,
) -> TuneResult:
    """Search the hyper-parameters of one network within a wall-time budget; test the best once.

    The training rows are split once into fitting rows (90 %) and selection rows (10 %).
    Each trial trains on the fitting rows (early stopping and the pruner watch 10 % of them)
    and is scored on the selection rows. The first trials are the model's documented strong
    configurations for the kind of data (images, a table of classes or of numbers), then
    Optuna's TPE; the median pruner stops poor trials by epoch. When the budget runs out, the
    best trial is refitted on all the training rows for the epochs its early stopping kept,
    and scored once on the test rows, which nothing before has seen. So is the ensemble of the
    run's three best trials (the mean of their probabilities or predictions, each network as
    its trial trained it); ``best_estimator`` is the better of the two on the selection rows.

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
    data_home : path or None, default=None
        The folder of the dataset files (``SKDEEP_DATA`` when None).
    download : bool, default=False
        Fetch the missing files of MNIST, Fashion-MNIST or California housing into it.
    max_samples : int or None, default=None
        Train (search and refit) on a random subset of the training rows.
    max_epochs : int or None, default=None
        Epochs per trial; None takes the model's for the data: 40 for the MLPs and 20 for
        the CNN on images, 150 on tables, and for a one-cycle or cosine schedule (sized to
        its epochs) 30, 6 and 60, or fewer when a pilot fit says the budget holds fewer.
    device : str, default="auto"
    random_state : int, default=0
        Seeds the splits, the networks and the sampler.
    progress : {"auto", "lines", "quiet"}, default="auto"
        A line per finished trial, or nothing.
    stream : file-like, default=sys.stderr
        Where the progress lines go (the results are returned, and written to ``out``).
    command : str or None, default=None
        The command line, for the report.
    workers : int, default=1
        Processes that train trials at once, this one included, each with an equal share of
        the cores, on the same storage (:mod:`~skdeep.search.tuning._workers`). With
        ``n_trials``, they stop together once the study holds that many more trials.

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
    from ._report import write_report

    seconds = parse_budget(budget)
    if seconds is None and n_trials is None:
        raise ValueError("Give a --budget, a number of --trials, or both.")
    _check_options(dataset, model, target, n_trials, storage, max_epochs, progress, workers)
    stream = sys.stderr if stream is None else stream
    quiet = progress == "quiet"
    config = {
        "dataset": dataset,
        "model": model,
        "target": target,
        "max_samples": max_samples,
        "random_state": random_state,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out or f"skdeep-out/tune-{Path(dataset).stem}-{model}-{stamp}")
    url = storage_url(storage) if storage is not None else storage_url(out / STUDY_FILE)
    check_storage(url, "--storage" if storage is not None else "--out's study file")
    existed = out.exists()
    resumed = prepare_out(out, config)
    load_before = load_average()
    budget_clock = Budget(seconds)

    # Until the study is open, an error leaves nothing behind that passes for a tune run.
    with undone_on_error(out, created=None if resumed else not existed):
        data = load_tune_data(
            dataset,
            target=target,
            data_home=data_home,
            download=download,
            max_samples=max_samples,
            random_state=random_state,
        )
        model_space = MODEL_SPACES[model]
        starting = model_space.start(data_kind(data.images, data.task))
        X_fit, X_valid, y_fit, y_valid = selection_split(data, random_state)
        refit_factor = len(data.y_train) / (len(y_fit) * (1 - EARLY_STOPPING_FRACTION))

        study_name = f"tune-{Path(dataset).stem}-{model}"
        study = open_tune_study(study_name, url, config, starting, random_state)
    metric = metric_name(data.task)
    watch, objective = process_search(
        data,
        model_space,
        starting,
        (X_fit, X_valid, y_fit, y_valid),
        budget_clock,
        study,
        out=out,
        stream=stream,
        quiet=quiet,
        refit_factor=refit_factor,
        max_epochs=max_epochs,
        device=device,
        random_state=random_state,
        worker=0 if workers > 1 else None,
    )
    if not quiet:
        for line in data.description:
            print(line, file=stream)
        left = "" if seconds is None else f", budget {format_seconds(seconds)}"
        print(
            f"{'resuming' if resumed else 'starting'} study {study_name} "
            f"({trial_counts(study)['n_trials']} trials so far{left}); writing to {out}/",
            file=stream,
            flush=True,
        )
    search_start = time.perf_counter()
    trials_before = trial_counts(study)["n_trials"]
    processes, threads = [], None
    if workers > 1:
        threads = max(1, thread_limit() // workers)
        spec = {
            **{key: config[key] for key in ("dataset", "model", "target", "max_samples")},
            "config": config,
            "random_state": random_state,
            "data_home": None if data_home is None else str(data_home),
            "max_epochs": max_epochs,
            "device": device,
            "url": url,
            "study_name": study_name,
            "deadline": None if seconds is None else budget_clock.end,
            "max_trials": None if n_trials is None else trials_before + n_trials,
            "refit_factor": refit_factor,
            "out": str(out),
            "quiet": quiet,
        }
        processes = start_workers(spec, workers, threads)
        if not quiet:
            print(f"{workers} workers of {threads} threads each", file=stream, flush=True)
    # No Optuna timeout: the watch stops the study on the budget's own clock.
    try:
        if budget_clock.left() - budget_clock.reserve > 0:
            with torch_threads(threads):
                if workers > 1:
                    limit = trial_limit(spec["max_trials"])
                    study.optimize(objective, callbacks=[watch, *limit], catch=())
                else:
                    study.optimize(objective, n_trials=n_trials, callbacks=[watch], catch=())
        else:
            watch.stopped = True
    except BaseException:
        end_workers(processes)
        raise
    worker_codes = wait_for_workers(processes)
    for index, code in enumerate(worker_codes, start=1):
        if code != 0:  # its trials are in the study; its error went to stderr
            warnings.warn(f"tune worker {index} ended with exit code {code}", stacklevel=2)
    search_seconds = time.perf_counter() - search_start
    kept = [*objective.kept, *load_kept(out / KEPT_FOLDER)]

    best = best_trial(study)
    if best is None:
        raise ValueError(
            f"No trial completed in the study {study_name!r} (see {out}/trials.csv once "
            "written); give a larger --budget or more --trials."
        )
    refit_epochs = int(best.user_attrs.get("best_epoch", starting.epochs(best.params, max_epochs)))
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
    # Chosen on the selection rows, before the test rows are looked at.
    ensemble, ensemble_summary = _ensemble(data, kept, (X_valid, y_valid), metric, best.value)
    chosen = "ensemble" if ensemble_summary and ensemble_summary["chosen"] else "refit"
    # The one look at the test rows.
    test_score = score(data.task, final, data.X_test, data.y_test)
    if ensemble is not None:
        ensemble_summary[f"test_{metric}"] = score(data.task, ensemble, data.X_test, data.y_test)
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
        "ensemble": ensemble_summary,
        "best_estimator": chosen,
        **trial_counts(study),
        "trials_this_run": trial_counts(study)["n_trials"] - trials_before,
        "workers": workers,
        "worker_exit_codes": worker_codes,
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
        "storage": safe_url(url),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "baseline": baseline,
        "warning": too_few_trials(study, seconds, refit_seconds),
    }
    files = write_report(
        study, summary, out, description=data.description, command=command, metric=metric
    )
    best_estimator = ensemble if chosen == "ensemble" else final
    return TuneResult(summary, study, best_estimator, out, files, refitted=final, ensemble=ensemble)
