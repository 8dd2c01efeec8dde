"""Parallel trials of ``skdeep tune --workers N``: processes that add trials to the run's study.

The run's own process is worker 0. It starts workers 1 to N-1 with :func:`start_workers`, each
a ``python -m skdeep.search.tuning._workers SPEC`` process with its share of the cores, which
loads the same data, splits it the same way, opens the same Optuna storage and trains trials
until the same budget ends (or the run's ``--trials`` are done). Optuna's RDB storage hands each
trial to one process. Each worker leaves its best trials' networks, as trained, in ``kept/``
for the run's ensemble (:func:`save_kept`, :func:`load_kept`).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from ...utils.files import atomic_write
from ...utils.optional import require

KEPT_FOLDER = "kept"
# The thread variables a worker's libraries read when they start.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def start_workers(spec: dict, workers: int, threads: int) -> list[subprocess.Popen]:
    """Start workers 1 to ``workers - 1``, each limited to ``threads`` threads.

    What an earlier run that ended on an error left in ``kept/`` is removed first: the
    ensemble takes this run's trials only.
    """
    load_kept(Path(spec["out"]) / KEPT_FOLDER)
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, str(threads))}
    command = [sys.executable, "-m", "skdeep.search.tuning._workers"]
    return [
        subprocess.Popen([*command, json.dumps({**spec, "worker": index})], env=env)
        for index in range(1, workers)
    ]


def wait_for_workers(processes: list[subprocess.Popen]) -> list[int]:
    """Wait for the workers to end their trials; return their exit codes."""
    try:
        return [process.wait() for process in processes]
    except BaseException:  # Ctrl-C while waiting
        end_workers(processes)
        raise


def end_workers(processes: list[subprocess.Popen]) -> None:
    """End the workers now: the run itself is ending on an error (Ctrl-C included)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        process.wait()


def save_kept(kept: list, folder: Path) -> None:
    """Write a worker's best trials as trained (``Objective.kept``) into ``folder``."""
    folder.mkdir(exist_ok=True)
    for value, number, estimator in kept:
        with atomic_write(folder / f"trial-{number}.pkl") as file:
            pickle.dump((value, number, estimator), file)


def load_kept(folder: Path) -> list:
    """The trials the workers kept, as ``(value, number, estimator)``; the folder is removed."""
    kept = []
    for path in sorted(folder.glob("trial-*.pkl")):
        with path.open("rb") as file:
            kept.append(pickle.load(file))  # noqa: S301 - written by this run's own workers
        path.unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return kept


def process_search(
    data,
    model_space,
    start,
    rows: tuple,
    budget,
    study,
    *,
    out: Path,
    stream,
    quiet: bool,
    refit_factor: float,
    max_epochs: int | None,
    device: str,
    random_state: int,
    worker: int | None,
):
    """The watch and the objective with which one process of a run adds trials to ``study``.

    ``rows`` is ``X_fit, X_valid, y_fit, y_valid``; ``worker`` is None when the run has one
    process.
    """
    from ._trial import Objective, metric_name
    from ._watch import Watch

    X_fit, X_valid, y_fit, y_valid = rows
    metric = metric_name(data.task)
    prefix = worker_prefix(worker)
    watch = Watch(budget, refit_factor, out / "tensorboard", stream, quiet, metric, prefix)
    watch.update_reserve(study)
    objective = Objective(
        data,
        model_space,
        (X_fit, y_fit),
        (X_valid, y_valid),
        budget,
        start=start,
        max_epochs=max_epochs,
        device=device,
        random_state=random_state,
        refit_factor=refit_factor,
        worker=worker,
    )
    return watch, objective


def run_worker(spec: dict) -> None:
    """Add trials to the run's study until its budget or its trials are done."""
    from ._budget import Budget
    from ._data import load_tune_data, selection_split
    from ._spaces import MODEL_SPACES, data_kind
    from ._study import open_tune_study
    from ._watch import trial_counts

    data = load_tune_data(
        spec["dataset"],
        target=spec["target"],
        data_home=spec["data_home"],
        max_samples=spec["max_samples"],
        random_state=spec["random_state"],
    )
    model_space = MODEL_SPACES[spec["model"]]
    starting = model_space.start(data_kind(data.images, data.task))
    deadline = spec["deadline"]
    budget = Budget(None if deadline is None else deadline - time.monotonic())
    worker = spec["worker"]
    study = open_tune_study(
        spec["study_name"], spec["url"], spec["config"], starting, spec["random_state"], worker
    )
    watch, objective = process_search(
        data,
        model_space,
        starting,
        selection_split(data, spec["random_state"]),
        budget,
        study,
        out=Path(spec["out"]),
        stream=sys.stderr,
        quiet=spec["quiet"],
        refit_factor=spec["refit_factor"],
        max_epochs=spec["max_epochs"],
        device=spec["device"],
        random_state=spec["random_state"],
        worker=worker,
    )
    max_trials = spec["max_trials"]
    started = trial_counts(study)
    room = max_trials is None or started["n_trials"] < max_trials
    if room and budget.left() - budget.reserve > 0:
        study.optimize(objective, callbacks=[watch, *trial_limit(max_trials)], catch=())
    save_kept(objective.kept, Path(spec["out"]) / KEPT_FOLDER)


def worker_prefix(worker: int | None) -> str:
    """What starts the progress lines of a worker's trials ("" without workers)."""
    return "" if worker is None else f"worker {worker}: "


def trial_limit(max_trials: int | None) -> list:
    """The Optuna callback that stops a process once the study holds ``max_trials`` trials,
    those running in other processes included (so that the workers together stop there)."""
    if max_trials is None:
        return []
    optuna = require("optuna")
    state = optuna.trial.TrialState
    states = (state.COMPLETE, state.PRUNED, state.FAIL, state.RUNNING)
    return [optuna.study.MaxTrialsCallback(max_trials, states=states)]


if __name__ == "__main__":
    try:
        run_worker(json.loads(sys.argv[1]))
    except KeyboardInterrupt:  # Ctrl-C reaches every worker: the run itself reports it
        sys.exit(130)
