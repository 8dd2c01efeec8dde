"""Optuna studies in a SQLite file: shared by two processes, resumed after a SIGKILL."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skdeep import MLPClassifier
from skdeep.search import SearchSpace, make_objective, open_study, optimize_study, results_frame

optuna = pytest.importorskip("optuna")
optuna_integration = pytest.importorskip("optuna_integration")

pytestmark = [
    pytest.mark.usefixtures("quiet_optuna"),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:`optuna.terminator`:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Choices for a categorical distribution:UserWarning"),
]

SETUP = """
import os, sys, warnings
warnings.simplefilter("ignore")
import numpy as np, optuna, torch
from sklearn.datasets import load_digits
from skdeep import MLPClassifier
from skdeep.search import SearchSpace, make_objective, open_study
torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)
X, y = load_digits(return_X_y=True)
X, y = X[:360].astype(np.float32) / 16, y[:360]
SPACE = SearchSpace({"learning_rate": ("log", 1e-3, 1e-1), "hidden_layer_sizes": [(8,), (16,)]})
ESTIMATOR = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=64, device="cpu")
"""

WORKER = """
study = open_study("shared", sys.argv[1], heartbeat_interval=None)
objective = make_objective(ESTIMATOR, SPACE, X, y, cv=2)

def tagged(trial):
    trial.set_user_attr("pid", os.getpid())
    return objective(trial)

study.optimize(tagged, n_trials=3)
"""

ENDLESS_SEARCH = """
from optuna_integration import OptunaSearchCV
study = open_study("resumable", sys.argv[1], heartbeat_interval=1)
search = OptunaSearchCV(ESTIMATOR, SPACE.to_optuna(), cv=2, n_trials=1000, study=study, refit=False)
search.fit(X, y)
"""


def _python(tmp_path: Path, name: str, body: str, *args: str) -> subprocess.Popen:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(SETUP) + textwrap.dedent(body))
    env = dict(os.environ)
    root = str(Path(__file__).parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH")] if p)
    return subprocess.Popen([sys.executable, str(script), *args], env=env)


# The same data, space and estimator as the scripts' SETUP.
SPACE = SearchSpace({"learning_rate": ("log", 1e-3, 1e-1), "hidden_layer_sizes": [(8,), (16,)]})
ESTIMATOR = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360].astype(np.float32) / 16, y[:360]


def test_two_processes_optimise_one_sqlite_study(tmp_path, digits):
    # This process is one worker, a subprocess the other.
    X, y = digits
    db = tmp_path / "shared.db"
    study = open_study("shared", db, heartbeat_interval=None)  # created before the race
    worker = _python(tmp_path, "worker", WORKER, str(db))
    try:
        _wait_for(lambda: len(study.get_trials(deepcopy=False)) >= 1, worker)
        objective = make_objective(ESTIMATOR, SPACE, X, y, cv=2)

        def tagged(trial):
            trial.set_user_attr("pid", os.getpid())
            return objective(trial)

        study.optimize(tagged, n_trials=3)
        assert worker.wait(timeout=300) == 0
    finally:
        worker.kill()
    study = open_study("shared", db)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    assert sorted(t.number for t in study.trials) == list(range(6))
    pids = [t.user_attrs["pid"] for t in study.trials]
    assert pids.count(os.getpid()) == 3 and pids.count(worker.pid) == 3
    assert results_frame(study)["mean_test_score"].notna().all()


def _wait_for(condition, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, "the subprocess ended early"
        assert time.monotonic() < deadline, "the subprocess made no progress"
        time.sleep(0.25)


def _has_finished_and_beating_trials(db: Path) -> bool:
    # Optuna only fails a dead trial whose heartbeat went stale; one killed before its first
    # heartbeat stays RUNNING for ever. So kill while a running trial has beaten at least once.
    with sqlite3.connect(db, timeout=60) as connection:
        states = dict(connection.execute("SELECT state, COUNT(*) FROM trials GROUP BY state"))
        beating = connection.execute(
            "SELECT COUNT(*) FROM trials JOIN trial_heartbeats USING (trial_id) "
            "WHERE state = 'RUNNING'"
        ).fetchone()[0]
    return states.get("COMPLETE", 0) >= 2 and beating > 0


def test_a_killed_study_resumes_with_its_finished_trials(tmp_path, digits):
    db = tmp_path / "resumable.db"
    study = open_study("resumable", db, heartbeat_interval=1)  # this process watches it
    process = _python(tmp_path, "search", ENDLESS_SEARCH, str(db))
    try:
        _wait_for(lambda: _has_finished_and_beating_trials(db), process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    before = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert len(before) >= 2
    time.sleep(5)  # well past the 2 s grace period: the killed trial counts as dead

    X, y = digits
    study = open_study("resumable", db, heartbeat_interval=1)
    target = len(before) + 2
    search = optuna_integration.OptunaSearchCV(
        ESTIMATOR,
        SPACE.to_optuna(),
        cv=2,
        n_trials=None,
        study=study,
        callbacks=[
            optuna.study.MaxTrialsCallback(target, states=(optuna.trial.TrialState.COMPLETE,))
        ],
    ).fit(X, y)
    frame = results_frame(search)
    complete = frame[frame["status"] == "complete"]
    assert len(complete) == target
    kept = complete.set_index("trial")["value"]
    assert {number: kept[number] for number in before} == before
    # The trial the kill interrupted was found dead and marked failed, not left running.
    assert frame["status"].value_counts().get("failed") == 1
    assert "running" not in set(frame["status"])
    assert search.best_score_ == complete["value"].max()


def test_a_trial_dead_before_its_first_heartbeat_is_marked_failed(tmp_path):
    db = tmp_path / "dead.db"
    study = open_study("dead", db, heartbeat_interval=1)
    # study.ask() creates a RUNNING trial that never beats, as a process killed while it was
    # creating its trial leaves it.
    trial = study.ask()
    assert open_study("dead", db, heartbeat_interval=1).trials[0].state.name == "RUNNING"
    time.sleep(2.5)  # past the grace period of twice the 1 s interval
    reopened = open_study("dead", db, heartbeat_interval=1)
    assert [t.state.name for t in reopened.trials] == ["FAIL"]
    assert trial.number == reopened.trials[0].number
    # Optuna's own rule alone keeps it running: it fails only trials whose beats went stale.
    other = open_study("other", db, heartbeat_interval=None)
    other.ask()
    time.sleep(0.1)
    optuna.storages.fail_stale_trials(open_study("other", db, heartbeat_interval=None))
    assert [t.state.name for t in other.trials] == ["RUNNING"]


def test_rerunning_a_finished_study_adds_no_trials(tmp_path):
    db = tmp_path / "rerun.db"

    def objective(trial):
        return trial.suggest_float("x", 0, 1)

    for _ in range(3):
        optimize_study(open_study("rerun", db, heartbeat_interval=1), objective, n_trials=4)
    study = open_study("rerun", db, heartbeat_interval=1)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    # A failed trial is run again; the study still ends with n_trials that count.
    failing = open_study("failing", db, heartbeat_interval=1)
    failing.tell(failing.ask(), state=optuna.trial.TrialState.FAIL)
    optimize_study(failing, objective, n_trials=2)
    assert [t.state.name for t in failing.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        optimize_study(failing, objective, n_trials=0)
