"""skdeep tune: options, files, the budget, the test rows kept out of the search, resume."""

import contextlib
import dataclasses
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import QuantileTransformer, StandardScaler

pytest.importorskip("optuna")
pytest.importorskip("matplotlib")
pytest.importorskip("tensorboard")

import optuna  # noqa: E402

from skdeep import MLPClassifier
from skdeep.cli import main
from skdeep.search.tuning import (
    DATA_KINDS,
    KIND_SPACES,
    MODEL_SPACES,
    load_tune_data,
    parse_budget,
    tune,
)
from skdeep.search.tuning import _budget as tune_budget
from skdeep.search.tuning import _run as tune_module
from skdeep.search.tuning._study import open_tune_study
from skdeep.search.tuning._trial import Objective


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--budget", "ten minutes"], "--budget must be a positive duration"),
        (["--budget", "0s"], "--budget must be a positive duration"),
        (["--trials", "0"], "--trials"),
        (["--model", "rnn"], "--model must be one of"),
        (["--model", "cnn", "--dataset", "california"], "--model cnn needs images"),
        (["--dataset", "table.csv"], "--dataset table.csv: no such file"),
        (["--dataset", "imagenet"], "--dataset 'imagenet': unknown dataset"),
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


def _run_tune(argv, out, capsys):
    code = main(["tune", *argv, "--trials", "1", "--epochs", "1", "--out", str(out), "--quiet"])
    return code, capsys.readouterr().err


def test_a_sqlite_file_of_another_application_is_refused_untouched(tmp_path, capsys):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    connection.close()
    before = foreign.read_bytes()
    code, err = _run_tune(["--storage", str(foreign)], tmp_path / "run", capsys)
    assert code == 2
    assert f"--storage {foreign} is a SQLite database of another application" in err
    assert "customers" in err and len(err.strip().splitlines()) == 1
    assert foreign.read_bytes() == before
    assert not (tmp_path / "run").exists()


def test_a_corrupt_study_file_is_refused_and_leaves_nothing_behind(tmp_path, capsys):
    corrupt = tmp_path / "study.db"
    corrupt.write_bytes(b"not a database, " * 100)
    code, err = _run_tune(["--storage", str(corrupt)], tmp_path / "run", capsys)
    assert code == 2
    assert f"--storage {corrupt} is not a readable SQLite database" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    # A tune folder whose own study.db is corrupt: refused by name, nothing changed.
    run = tmp_path / "resumed"
    run.mkdir()
    config = {"dataset": "digits", "model": "mlp", "target": None, "max_samples": None}
    (run / "tune.json").write_text(json.dumps({**config, "random_state": 0}))
    (run / "study.db").write_bytes(corrupt.read_bytes())
    code, err = _run_tune([], run, capsys)
    assert code == 2 and f"{run / 'study.db'} is not a readable SQLite database" in err
    assert sorted(p.name for p in run.iterdir()) == ["study.db", "tune.json"]


def test_a_failure_before_the_study_opens_leaves_no_tune_folder(tmp_path, monkeypatch):
    def no_study(*args, **kwargs):
        raise ValueError("no study")

    monkeypatch.setattr(tune_module, "open_tune_study", no_study)
    with pytest.raises(ValueError, match="no study"):
        tune("digits", budget=None, n_trials=1, out=tmp_path / "run", progress="quiet")
    assert not (tmp_path / "run").exists()


def test_a_database_server_without_its_driver_names_the_package(tmp_path, capsys):
    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg is installed")
    url = "postgresql://user:secret@localhost/optuna"
    code, err = _run_tune(["--storage", url], tmp_path / "run", capsys)
    assert code == 2
    assert "needs the database driver 'psycopg'" in err and "skdeep[postgres]" in err
    assert "secret" not in err
    assert not (tmp_path / "run").exists()


def test_parse_budget_reads_units_and_sums_them():
    assert parse_budget("1h30m") == 5400.0
    assert parse_budget(" 2m30s ") == 150.0
    assert parse_budget("1.5m") == 90.0
    assert parse_budget(None) is None
    for bad in ("-5m", "10 minutes", "m", "", True, [10]):
        with pytest.raises(ValueError, match="--budget"):
            parse_budget(bad)


def _in_space(model_space, params, kind="images") -> bool:
    """Whether ``params`` is a point of the space: every value in its range, none missing."""
    dimensions = dict(model_space.space.dimensions)
    for space in KIND_SPACES[kind]:
        dimensions.update(space.dimensions)
    layers = params.get("n_layers", 0) if model_space.per_layer is not None else 0
    for layer in range(1, layers + 1):
        for name, dimension in model_space.per_layer.dimensions.items():
            dimensions[f"{name}_{layer}"] = dimension
    if set(dimensions) != set(params):
        return False
    for name, dimension in dimensions.items():
        value = params[name]
        if dimension.choices is not None:
            if value not in dimension.choices:
                return False
        elif not dimension.low <= value <= dimension.high or (
            dimension.kind == "int" and not isinstance(value, int)
        ):
            return False
    return True


@pytest.mark.parametrize("model", ["mlp", "deep-mlp", "cnn"])
def test_first_trials_are_points_of_the_space_and_tables_get_their_own(model):
    model_space = MODEL_SPACES[model]
    assert set(model_space.starts) <= set(DATA_KINDS)
    for kind in model_space.starts:
        start = model_space.start(kind)
        assert start.first_trials
        for params in start.first_trials:
            assert _in_space(model_space, params, kind), params
            # What Optuna replays of an enqueued trial is the trial itself.
            assert model_space.suggest(optuna.trial.FixedTrial(dict(params)), kind) == params
    if model == "cnn":
        assert set(model_space.starts) == {"images"}
        with pytest.raises(ValueError, match="--model cnn takes images data, not regression"):
            model_space.start("regression")
        return
    images = model_space.start("images").first_trials
    for kind in ("classification", "regression"):
        table = model_space.start(kind)
        assert not set(map(str, table.first_trials)) & set(map(str, images))
        assert table.max_epochs > model_space.start("images").max_epochs


def test_out_of_space_points_are_told_apart():
    """The check above can fail: a width out of range, a missing or an unknown parameter."""
    params = dict(MODEL_SPACES["mlp"].start("images").first_trials[0])
    assert _in_space(MODEL_SPACES["mlp"], params)
    assert not _in_space(MODEL_SPACES["mlp"], {**params, "width": 4096})
    assert not _in_space(MODEL_SPACES["mlp"], {**params, "lr_schedule": None})
    assert not _in_space(MODEL_SPACES["mlp"], {**params, "n_layers": 2})
    del params["l2"]
    assert not _in_space(MODEL_SPACES["mlp"], params)


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
    # The first trials are the enqueued strong configurations, in order; the fourth waits.
    first = MODEL_SPACES["mlp"].start("images").first_trials
    started = [t for t in result.study.trials if t.state.name != "WAITING"]
    assert summary["n_trials"] == 3 == len(started)
    assert [t.params for t in started] == [dict(p) for p in first[:3]]
    best = max(
        (t for t in result.study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value
    )
    assert summary["best_params"] == best.params
    assert summary["valid_accuracy"] == pytest.approx(best.value)
    # The test accuracy is the refitted estimator's, on the dataset's held-out rows.
    data = load_tune_data("digits")
    expected = float(np.mean(result.refitted.predict(data.X_test) == data.y_test))
    assert summary["test_accuracy"] == pytest.approx(expected)
    assert (
        len(result.refitted.history_)
        == summary["refit_epochs"]
        == best.user_attrs["best_epoch"]
    )
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].tolist() == [0, 1, 2]
    assert {"state", "width", "learning_rate", "score", "epochs", "seconds"} <= set(trials)
    assert trials["epochs"].tolist() == [t.user_attrs["epochs"] for t in started]
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

    def recorded(name):
        original = getattr(MLPClassifier, name)

        def method(self, X, *args, **kwargs):
            seen.append((name, set(np.round(np.asarray(X)[:, -1] * 1e4).astype(int))))
            return original(self, X, *args, **kwargs)

        return method

    monkeypatch.setattr(tune_module, "load_tune_data", load_with_ids)
    for name in ("fit", "predict", "predict_proba"):
        monkeypatch.setattr(MLPClassifier, name, recorded(name))
    # The id column makes the rows 65 values, no longer 8x8 images: leave out the first
    # trial, which augments images.
    mlp = MODEL_SPACES["mlp"]
    images = mlp.starts["images"]
    starts = {"images": dataclasses.replace(images, first_trials=images.first_trials[1:])}
    monkeypatch.setitem(MODEL_SPACES, "mlp", dataclasses.replace(mlp, starts=starts))
    result = tune(
        "digits", budget=None, n_trials=3, max_epochs=2, out=tmp_path / "r", progress="quiet"
    )
    n_train, n_test = result.summary["n_train"], result.summary["n_test"]
    train_ids, test_ids = set(range(n_train)), set(range(n_train, n_train + n_test))
    assert result.summary["n_complete"] == 3 and result.ensemble is not None
    looks = [name for name, ids in seen if ids & test_ids]
    # The test rows are looked at last: the refit's prediction, and each ensemble member's
    # probabilities (its prediction), nothing else ever.
    assert looks == ["predict", "predict_proba", "predict_proba", "predict_proba"]
    assert all(ids == test_ids for _, ids in seen[-len(looks) :])
    before = seen[: -len(looks)]
    for _, ids in before:
        assert ids <= train_ids
    fits = [ids for name, ids in before if name == "fit"]
    assert len(fits) == 3 + 1 and fits[-1] == train_ids  # three trials, and the refit on all


class _EpochClock:
    """A fake clock on which every epoch of every fit lasts one second, and nothing else
    takes any time: what the budget decides no longer depends on the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def one_second_epochs(monkeypatch):
    """tune's budget reads a clock on which every trained epoch lasts one second."""
    clock = _EpochClock()
    monkeypatch.setattr(
        tune_module, "Budget", lambda seconds: tune_budget.Budget(seconds, clock=clock)
    )
    end_epoch = tune_budget.BudgetStop.on_epoch_end

    def one_second_epoch(self, net, **kwargs):
        clock.now += 1.0
        end_epoch(self, net, **kwargs)

    monkeypatch.setattr(tune_budget.BudgetStop, "on_epoch_end", one_second_epoch)
    return clock


def test_the_budget_stops_a_trial_between_epochs_and_leaves_time_for_the_refit(
    tmp_path, monkeypatch, one_second_epochs
):
    # No early stopping in practice: only the budget (or 200 epochs) can end a trial.
    images = MODEL_SPACES["mlp"].start("images")
    patient = dataclasses.replace(
        MODEL_SPACES["mlp"], starts={"images": dataclasses.replace(images, patience=1000)}
    )
    monkeypatch.setitem(MODEL_SPACES, "mlp", patient)
    budget = 30.0
    result = tune(
        "digits", budget=budget, n_trials=50, max_epochs=200, out=tmp_path / "r",
        progress="quiet",
    )  # fmt: skip
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    trials = [t for t in result.study.trials if t.state.name != "WAITING"]
    first = trials[0]
    assert first.user_attrs["stopped_by"] == "budget"
    assert first.state.name == "COMPLETE"  # scored as trained so far
    # It stopped at the first epoch after which one more epoch and its own refit (its epochs
    # scaled to the refit's rows, plus the margin) would overrun the budget.
    factor = summary["n_train"] / (summary["n_fit"] * (1 - tune_module.EARLY_STOPPING_FRACTION))
    margin = 1.0 + 0.02 * budget

    def overruns(epochs):
        return budget - epochs < 1.0 + 1.1 * factor * epochs + margin

    stop = next(epochs for epochs in range(1, 200) if overruns(epochs))
    assert first.user_attrs["epochs"] == stop
    assert all(t.user_attrs["stopped_by"] == "budget" for t in trials)
    # The refit got the epochs its trial peaked at, uncut, and all of it fit in the budget:
    # on this clock the run lasted exactly its epochs.
    assert summary["refit_epochs"] == summary["refit_epochs_planned"]
    assert (
        summary["refit_epochs"]
        == result.study.trials[summary["best_trial"]].user_attrs["best_epoch"]
    )
    assert not summary["refit_stopped_by_budget"]
    trained = sum(t.user_attrs["epochs"] for t in trials) + summary["refit_epochs"]
    assert summary["seconds"] == trained <= budget
    assert summary["search_stopped_by"] == "budget" and summary["n_trials"] < 50
    assert result.study.trials[len(trials)].state.name == "WAITING"  # enqueued, never started


def test_a_one_cycle_trial_is_sized_to_the_budget_and_ends_its_cycle(
    tmp_path, monkeypatch, one_second_epochs
):
    # The pilot's estimate is what this clock makes an epoch last.
    monkeypatch.setattr(Objective, "_pilot_epoch_seconds", lambda self, p: 1.0)
    images = MODEL_SPACES["mlp"].start("images")
    patient = dataclasses.replace(
        MODEL_SPACES["mlp"], starts={"images": dataclasses.replace(images, patience=1000)}
    )
    monkeypatch.setitem(MODEL_SPACES, "mlp", patient)
    budget = 30.0
    result = tune("digits", budget=budget, n_trials=1, out=tmp_path / "r", progress="quiet")
    first = result.study.trials[0]
    assert first.params["lr_schedule"] == "one_cycle"
    summary = result.summary
    factor = summary["n_train"] / (summary["n_fit"] * (1 - tune_module.EARLY_STOPPING_FRACTION))
    margin = 1.0 + 0.02 * budget
    affordable = int((budget - margin) / (1.0 + 1.1 * factor))
    assert affordable < images.schedule_epochs
    assert first.user_attrs["epochs_planned"] == first.user_attrs["epochs"] == affordable
    table = pd.read_csv(tmp_path / "r" / "trials.csv")
    assert table.loc[0, "epochs_planned"] == affordable
    assert table.loc[0, "pilot_seconds_per_epoch"] == 1.0
    assert "worker" not in table  # one process
    assert first.user_attrs["stopped_by"] == "max_epochs"  # its whole cycle, not cut
    assert summary["refit_epochs"] == summary["refit_epochs_planned"]
    assert not summary["refit_stopped_by_budget"]


def test_the_pilot_estimates_an_epoch_and_a_failing_pilot_leaves_the_epochs(monkeypatch):
    data = load_tune_data("digits")
    objective = Objective(
        data,
        MODEL_SPACES["mlp"],
        (data.X_train, data.y_train),
        (data.X_test, data.y_test),
        tune_budget.Budget(60.0),
        start=MODEL_SPACES["mlp"].start("images"),
        max_epochs=None,
        device="cpu",
        random_state=0,
        refit_factor=1.0,
    )
    params = MODEL_SPACES["mlp"].start("images").first_trials[0]
    assert 0 < objective._pilot_epoch_seconds(params) < 60
    assert objective._pilot_epoch_seconds({**params, "learning_rate": -1.0}) is None


def test_the_pilot_keeps_its_warnings_to_itself(tmp_path):
    # Its few rows are fewer than a quantile scaler's 1,000 quantiles, which it would warn of.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=3000), "x2": rng.normal(size=3000)})
    frame["y"] = frame["x1"] - frame["x2"]
    frame.to_csv(tmp_path / "table.csv", index=False)
    data = load_tune_data(str(tmp_path / "table.csv"), target="y")
    start = MODEL_SPACES["mlp"].start("regression")
    objective = Objective(
        data, MODEL_SPACES["mlp"], (data.X_train, data.y_train), (data.X_test, data.y_test),
        tune_budget.Budget(60.0), start=start, max_epochs=None, device="cpu", random_state=0,
        refit_factor=1.0,
    )  # fmt: skip
    params = {**start.first_trials[0], "scaling": "quantile", "batch_size": 32}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert objective._pilot_epoch_seconds(params) > 0


def test_the_refit_trains_the_epochs_its_trial_needed_not_max_epochs(tmp_path, monkeypatch):
    # A high learning rate and a patience of 2: the trial's validation loss bottoms out early.
    images = MODEL_SPACES["mlp"].start("images")
    first = {**images.first_trials[0], "width": 256, "learning_rate": 1e-2, "dropout": 0.0}
    fast = dataclasses.replace(
        MODEL_SPACES["mlp"],
        starts={"images": dataclasses.replace(images, first_trials=(first,), patience=2)},
    )
    monkeypatch.setitem(MODEL_SPACES, "mlp", fast)
    result = tune(
        "digits", budget=None, n_trials=1, max_epochs=60, out=tmp_path / "r", progress="quiet"
    )
    trial = result.study.trials[0]
    assert trial.params == first
    assert trial.user_attrs["stopped_by"] == "early_stopping"
    assert trial.user_attrs["best_epoch"] == trial.user_attrs["epochs"] - 2 < 60
    history = result.refitted.history_
    assert len(history) == result.summary["refit_epochs"] == trial.user_attrs["best_epoch"]
    assert "valid_loss" not in history[-1]  # the refit trains on every training row


def _finished(storage: str) -> list:
    try:
        study = optuna.load_study(study_name="tune-digits-mlp", storage=storage)
    except Exception:  # not created yet
        return []
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


def _count_finished_read_only(database) -> int:
    # Polled while the run writes: a read-only connection never creates the file or its
    # tables, which optuna.load_study would, racing the run that is creating them.
    if not database.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            query = "SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')"
            return db.execute(query).fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_a_killed_run_resumes_and_adds_trials(tmp_path, capsys):
    out = tmp_path / "run"
    storage = f"sqlite:///{out / 'study.db'}"
    argv = ["tune", "--dataset", "digits", "--out", str(out), "--epochs", "3", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "skdeep.cli", *argv, "--budget", "10m"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 240
            while _count_finished_read_only(out / "study.db") < 2:
                if process.poll() is not None:
                    pytest.fail(f"the run ended before it was killed:\n{errors.read_text()}")
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

    expected = r2_score(data.y_test, result.refitted.predict(data.X_test))
    assert summary["test_r2"] == pytest.approx(expected)
    assert summary["n_test"] == 60 and summary["baseline"]["model"] == "HistGradientBoosting"
    widths = summary["best_estimator_params"]["hidden_layer_sizes"]
    assert len(widths) == summary["best_params"]["n_layers"]
    # The refit scales the numbers as the best trial did (the first trials try both ways).
    scaler = result.refitted.regressor_["preprocess"].named_transformers_["numeric"][-1]
    expected = {"quantile": QuantileTransformer, "standard": StandardScaler}
    assert type(scaler) is expected[summary["best_params"]["scaling"]]
    # A table starts from the first trials of tables, not from MNIST's.
    first = MODEL_SPACES["deep-mlp"].start("regression").first_trials
    started = [t.params for t in result.study.trials if t.state.name != "WAITING"]
    assert started == [dict(p) for p in first[:2]]
    assert result.study.trials[0].params != MODEL_SPACES["deep-mlp"].start("images").first_trials[0]


def test_a_csv_classification_starts_from_the_first_trials_of_tables(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    frame["label"] = np.where(frame["x1"] + frame["x2"] > 0, "yes", "no")
    csv = tmp_path / "people.csv"
    frame.to_csv(csv, index=False)
    result = tune(
        str(csv), "mlp", target="label", budget=None, n_trials=1, max_epochs=2,
        out=tmp_path / "r", progress="quiet",
    )  # fmt: skip
    first = MODEL_SPACES["mlp"].start("classification").first_trials[0]
    assert result.study.trials[0].params == dict(first)
    assert first["width"] != MODEL_SPACES["mlp"].start("images").first_trials[0]["width"]
    assert 0.0 <= result.summary["test_accuracy"] <= 1.0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
@pytest.mark.parametrize("kind", ["images", "regression"])
def test_the_pruner_waits_the_warmup_epochs_of_the_data(tmp_path, kind):
    start = MODEL_SPACES["mlp"].start(kind)
    study = open_tune_study("warmup", f"sqlite:///{tmp_path / 'study.db'}", {}, start, 0)
    good = {epoch: 1.0 for epoch in range(40)}
    for _ in range(3):  # more finished trials than the pruner's startup count
        study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values=good))
    pruned_at = None
    trial = study.ask()
    for epoch in range(40):
        trial.report(0.0, epoch)  # far below the others at every epoch
        if trial.should_prune():
            pruned_at = epoch
            break
    assert pruned_at == start.warmup_epochs
    assert MODEL_SPACES["mlp"].start("regression").warmup_epochs >= 20


def test_help_offers_only_what_tune_does(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    help_text = capsys.readouterr().out
    assert "--force" not in help_text
    assert "--download" in help_text
    assert "skdeep-out/tune-DATASET-MODEL-TIME" in "".join(help_text.split())


def test_progress_goes_to_stderr_and_the_result_to_stdout(tmp_path, capsys):
    argv = ["tune", "--trials", "1", "--epochs", "1", "--max-samples", "300", "--out", "r"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main(argv) == 0
    captured = capsys.readouterr()
    assert "trial 0:" in captured.err
    assert "trial 0:" not in captured.out
    assert "test accuracy of the best" in captured.out


def test_the_figures_name_the_score_they_show(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from skdeep.search.tuning import _report

    titles = {}
    save = _report._save

    def recording_save(figure, path):
        titles[path.name] = figure.get_suptitle() or figure.axes[0].get_title()
        save(figure, path)

    monkeypatch.setattr(_report, "_save", recording_save)
    tune("digits", "mlp", budget=None, n_trials=3, max_epochs=2, out=tmp_path, progress="quiet")
    assert titles["scores.png"].startswith("validation accuracy against each parameter")
    assert titles["parallel.png"] == "best 3 candidates by validation accuracy"


def test_too_few_trials_are_called_so_in_the_terminal_and_the_report(tmp_path, capsys):
    argv = ["tune", "--trials", "2", "--epochs", "2", "--max-samples", "300", "--out", "r"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert "skdeep tune: warning: only 2 trials completed: this is not a search" in err
    assert "A budget of about " in err
    report = (tmp_path / "r" / "report.md").read_text()
    assert "**Too short**: only 2 trials completed" in report
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["warning"].startswith("only 2 trials completed")
    # A third trial makes it a search: no warning.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main([*argv[:2], "1", *argv[3:]]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_ensemble_averages_the_runs_best_trials_as_trained_and_is_chosen_on_selection_rows(
    tmp_path,
):
    result = tune(
        "digits", budget=None, n_trials=4, max_epochs=2, out=tmp_path / "r", progress="quiet"
    )
    complete = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    top = sorted(complete, key=lambda t: (-t.value, t.number))[:3]
    ensemble, summary = result.ensemble, result.summary["ensemble"]
    assert ensemble.trials == summary["trials"] == [t.number for t in top]
    # Each member is its trial's network as trained (two epochs, fitting rows), not refitted.
    data = load_tune_data("digits")
    assert all(len(member.history_) == 2 for member in ensemble.estimators)
    probabilities = np.mean([m.predict_proba(data.X_test) for m in ensemble.estimators], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(data.X_test), probabilities)
    test_accuracy = float(np.mean(ensemble.predict(data.X_test) == data.y_test))
    assert summary["test_accuracy"] == pytest.approx(test_accuracy)
    chosen = summary["valid_accuracy"] > max(t.value for t in complete)
    assert summary["chosen"] is chosen
    assert result.summary["best_estimator"] == ("ensemble" if chosen else "refit")
    assert result.best_estimator is (ensemble if chosen else result.refitted)
    assert f"**{summary['test_accuracy']:.4f}**" in (tmp_path / "r" / "report.md").read_text()


def test_kind_spaces_reach_the_estimator_and_sized_schedules_train_their_epochs():
    from skdeep.core import AUGMENTATION_PRESETS
    from skdeep.search.tuning._spaces import augmentation

    assert augmentation(1.0) == AUGMENTATION_PRESETS["standard"]
    mlp = MODEL_SPACES["mlp"]
    params = mlp.start("classification").first_trials[0]
    assert params["lr_schedule"] == "one_cycle" and params["numeric_embedding"] != "none"
    network = mlp.estimator_params({**params, "numeric_embedding": "none"})
    assert network["numeric_embedding"] is None and "scaling" not in network
    assert network["label_smoothing"] == 0.05 and network["early_stopping_monitor"] == "valid_acc"
    images = MODEL_SPACES["cnn"].start("images")
    recipe = MODEL_SPACES["cnn"].estimator_params(images.first_trials[0])
    assert recipe["augmentation"] == AUGMENTATION_PRESETS["standard"]
    assert images.epochs(images.first_trials[0]) == images.schedule_epochs == 6
    assert images.epochs(images.first_trials[1]) == images.max_epochs
    assert images.epochs(images.first_trials[0], max_epochs=3) == 3
    # Regression has no classes: nothing to smooth, no accuracy to watch.
    regression = mlp.start("regression").first_trials[0]
    assert "label_smoothing" not in regression and "augmentation_strength" not in regression


def test_two_workers_share_one_sqlite_study_and_no_trial_is_lost_or_counted_twice(
    tmp_path, monkeypatch
):
    # This process's trials wait for worker 1's first, so that both train trials.
    original = Objective.__call__

    def after_worker_1_started(self, trial):
        deadline = time.monotonic() + 180
        while not any(
            t.user_attrs.get("worker") == 1 for t in trial.study.get_trials(deepcopy=False)
        ):
            assert time.monotonic() < deadline, "worker 1 never started a trial"
            time.sleep(0.2)
        return original(self, trial)

    monkeypatch.setattr(Objective, "__call__", after_worker_1_started)
    out = tmp_path / "r"
    result = tune(
        "digits", budget=None, n_trials=6, max_epochs=2, workers=2, out=out, progress="quiet"
    )
    summary = result.summary
    assert summary["workers"] == 2 and summary["worker_exit_codes"] == [0]
    trials = [t for t in result.study.trials if t.state.name != "WAITING"]
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED", "FAIL"}
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers)
    # Together the workers stop at 6 trials (one more when both start the 6th at once).
    assert 6 <= len(trials) <= 7
    assert summary["n_trials"] == summary["trials_this_run"] == len(trials)
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == len(trials)
    assert {t.user_attrs["worker"] for t in trials} == set(table["worker"]) == {0, 1}
    # The ensemble is the 3 best trials of both processes, the worker's loaded from kept/.
    complete = sorted(
        (t for t in trials if t.state.name == "COMPLETE"), key=lambda t: (-t.value, t.number)
    )
    assert summary["ensemble"]["trials"] == [t.number for t in complete[:3]]
    assert not (out / "kept").exists()
