"""skdeep tune: options, files, the budget, the test rows kept out of the search, resume."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("optuna")
pytest.importorskip("matplotlib")
pytest.importorskip("tensorboard")

import optuna  # noqa: E402

from skdeep import MLPClassifier  # noqa: E402
from skdeep.cli import main  # noqa: E402
from skdeep.search import tune  # noqa: E402
from skdeep.search.tune_budget import parse_budget  # noqa: E402
from skdeep.search.tune_data import load_tune_data  # noqa: E402
from skdeep.search.tune_spaces import MODEL_SPACES  # noqa: E402

# The function shadows its module as an attribute of skdeep.search; the module itself:
tune_module = sys.modules["skdeep.search.tune"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--budget", "ten minutes"], "--budget must be a positive duration"),
        (["--budget", "0s"], "--budget must be a positive duration"),
        (["--trials", "0"], "--trials"),
        (["--model", "rnn"], "--model must be one of"),
        (["--model", "cnn", "--dataset", "california"], "--model cnn needs images"),
        (["--dataset", "table.csv"], "needs --target"),
        (["--dataset", "imagenet"], "Unknown dataset 'imagenet'"),
        (["--storage", "://nowhere"], "--storage is not a database URL"),
    ],
)
def test_bad_options_exit_non_zero_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    try:
        code = main(["tune", *argv, "--out", str(out), "--quiet"])
    except SystemExit as exit:  # argparse's own checks of --trials, --epochs ...
        code = exit.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_parse_budget_reads_units_and_sums_them():
    assert parse_budget("1h30m") == 5400.0
    assert parse_budget(" 2m30s ") == 150.0
    assert parse_budget("1.5m") == 90.0
    assert parse_budget(None) is None
    for bad in ("-5m", "10 minutes", "m", "", True, [10]):
        with pytest.raises(ValueError, match="--budget"):
            parse_budget(bad)


def test_tune_writes_its_files_and_scores_the_refit_once(tmp_path):
    out = tmp_path / "run"
    result = tune(
        "digits",
        "mlp",
        budget=None,
        n_trials=3,
        max_epochs=2,  # the pruner waits 2 epochs: every trial completes
        out=out,
        progress="quiet",
        command="skdeep tune --trials 3",
    )
    summary = json.loads((out / "summary.json").read_text())
    for key in ("best_params", "test_accuracy", "n_trials", "n_pruned", "seconds"):
        assert key in summary
    assert summary["n_trials"] == 3 == len(result.study.trials)
    # The first trial is the enqueued course configuration.
    assert result.study.trials[0].params["width"] == 1685
    assert result.study.trials[0].params["batch_size"] == 100
    best = max(
        (t for t in result.study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value
    )
    assert summary["best_params"] == best.params
    assert summary["valid_accuracy"] == pytest.approx(best.value)
    # The test accuracy is the refitted estimator's, on the dataset's held-out rows.
    data = load_tune_data("digits")
    expected = float(np.mean(result.best_estimator.predict(data.X_test) == data.y_test))
    assert summary["test_accuracy"] == pytest.approx(expected)
    assert (
        len(result.best_estimator.history_)
        == summary["refit_epochs"]
        == best.user_attrs["best_epoch"]
    )
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].tolist() == [0, 1, 2]
    assert {"state", "width", "learning_rate", "score", "epochs", "seconds"} <= set(trials)
    assert trials["epochs"].tolist() == [t.user_attrs["epochs"] for t in result.study.trials]
    for figure in ("history.png", "importance.png", "correlations.png", "parallel.png"):
        assert (out / figure).stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert f"**{summary['test_accuracy']:.4f}**" in report
    assert "Command: `skdeep tune --trials 3`" in report
    events = list((out / "tensorboard").glob("trial-*/**/events.out.tfevents.*"))
    assert {path.parent.name for path in events} >= {"trial-0000", "trial-0001", "trial-0002"}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = EventAccumulator(str(out / "tensorboard" / "trial-0000")).Reload()
    assert "_hparams_/session_start_info" in run.PluginTagToContent("hparams")
    assert "hparam/valid_accuracy" in run.Tags()["scalars"]


def test_the_search_never_sees_the_test_rows(tmp_path, monkeypatch):
    """Every row gets a unique id column; the fits and predictions record which ids they see."""
    original_load = tune_module.load_tune_data

    def load_with_ids(*args, **kwargs):
        data = original_load(*args, **kwargs)
        n_train = len(data.y_train)
        ids = np.arange(n_train + len(data.y_test), dtype=np.float32)[:, None] * 1e-4
        data.X_train = np.hstack([data.X_train, ids[:n_train]])
        data.X_test = np.hstack([data.X_test, ids[n_train:]])
        return data

    seen = []
    original_fit, original_predict = MLPClassifier.fit, MLPClassifier.predict

    def fit(self, X, y, **kwargs):
        seen.append(("fit", set(np.round(np.asarray(X)[:, -1] * 1e4).astype(int))))
        return original_fit(self, X, y, **kwargs)

    def predict(self, X):
        seen.append(("predict", set(np.round(np.asarray(X)[:, -1] * 1e4).astype(int))))
        return original_predict(self, X)

    monkeypatch.setattr(tune_module, "load_tune_data", load_with_ids)
    monkeypatch.setattr(MLPClassifier, "fit", fit)
    monkeypatch.setattr(MLPClassifier, "predict", predict)
    result = tune(
        "digits", budget=None, n_trials=3, max_epochs=2, out=tmp_path / "r", progress="quiet"
    )
    n_train, n_test = result.summary["n_train"], result.summary["n_test"]
    train_ids, test_ids = set(range(n_train)), set(range(n_train, n_train + n_test))
    *search, (refit_kind, refit_ids), (test_kind, scored_ids) = seen
    assert len(search) == 2 * 3  # a fit and a validation predict per trial
    for _, ids in search:
        assert ids <= train_ids and not ids & test_ids
    assert (refit_kind, refit_ids) == ("fit", train_ids)  # all training rows, nothing else
    assert (test_kind, scored_ids) == ("predict", test_ids)  # the one look at the test rows


def test_the_budget_stops_a_trial_between_epochs_and_leaves_time_for_the_refit(
    tmp_path, monkeypatch
):
    # No early stopping in practice and endless epochs: only the budget can end the trial.
    patient = dataclasses.replace(MODEL_SPACES["mlp"], patience=100_000)
    monkeypatch.setitem(MODEL_SPACES, "mlp", patient)
    budget = 6.0
    start = time.monotonic()
    result = tune(
        "digits",
        budget=budget,
        n_trials=50,
        max_epochs=100_000,
        out=tmp_path / "r",
        progress="quiet",
    )
    elapsed = time.monotonic() - start
    first = result.study.trials[0]
    assert first.user_attrs["stopped_by"] == "budget"
    assert first.state.name == "COMPLETE"  # scored as trained so far
    assert result.summary["n_trials"] == 1  # no time was left to start another
    assert result.study.trials[1].state.name == "WAITING"  # the second enqueued one
    summary = result.summary
    assert summary["refit_epochs"] == first.user_attrs["best_epoch"]
    assert not summary["refit_stopped_by_budget"]
    # Generous margin for a loaded machine: epochs last well under a second here.
    assert summary["search_seconds"] + summary["refit_seconds"] < budget + 3
    assert elapsed < budget + 30  # data, study and report included


def _finished(storage: str) -> list:
    try:
        study = optuna.load_study(study_name="tune-digits-mlp", storage=storage)
    except Exception:  # not created yet
        return []
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


def test_a_killed_run_resumes_and_adds_trials(tmp_path, capsys):
    out = tmp_path / "run"
    storage = f"sqlite:///{out / 'study.db'}"
    argv = ["tune", "--dataset", "digits", "--out", str(out), "--epochs", "3", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "skdeep.cli", *argv, "--budget", "10m"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while len(_finished(storage)) < 2:
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no two trials finished in time"
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = {t.number: t.value for t in _finished(storage)}
    assert not (out / "summary.json").exists()  # killed before its report

    assert main([*argv, "--trials", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    after = {t.number: t.value for t in _finished(storage)}
    assert {n: after[n] for n in before} == before  # the killed run's trials are kept
    assert len(after) == len(before) + 2
    assert summary["resumed"] and summary["trials_this_run"] == 2
    assert summary["n_trials"] == len(pd.read_csv(out / "trials.csv"))

    # The folder holds a run of another model: refused, not mixed.
    capsys.readouterr()
    assert main(["tune", "--model", "deep-mlp", "--out", str(out), "--trials", "1"]) == 2
    assert "holds a tune run" in capsys.readouterr().err


def test_a_csv_regression_is_scored_by_r2_beside_hist_gradient_boosting(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    frame["colour"] = rng.choice(["red", "blue", None], size=300)
    frame["price"] = 1e5 * (3 * frame["x1"] - frame["x2"] + (frame["colour"] == "red"))
    csv = tmp_path / "houses.csv"
    frame.to_csv(csv, index=False)
    result = tune(
        str(csv),
        "deep-mlp",
        target="price",
        budget=None,
        n_trials=2,
        max_epochs=2,
        out=tmp_path / "r",
        progress="quiet",
    )
    summary = result.summary
    assert "test_accuracy" not in summary
    data = load_tune_data(str(csv), target="price")
    from sklearn.metrics import r2_score

    expected = r2_score(data.y_test, result.best_estimator.predict(data.X_test))
    assert summary["test_r2"] == pytest.approx(expected)
    assert summary["n_test"] == 60 and summary["baseline"]["model"] == "HistGradientBoosting"
    widths = summary["best_estimator_params"]["hidden_layer_sizes"]
    assert len(widths) == summary["best_params"]["n_layers"]
