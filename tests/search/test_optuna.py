"""Optuna on skdeep estimators: OptunaSearchCV, pruning fold by fold, objectives, results."""

import io
import pickle
import sqlite3
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier
from skdeep.search import (
    OptunaPruning,
    SearchProgress,
    SearchSpace,
    make_objective,
    open_study,
    parameter_importance,
    plot_parallel_coordinates,
    plot_scores,
    results_frame,
)

optuna = pytest.importorskip("optuna")
optuna_integration = pytest.importorskip("optuna_integration")

FAST = {"hidden_layer_sizes": (16,), "max_epochs": 3, "batch_size": 64, "device": "cpu"}
SPACE = SearchSpace({"learning_rate": ("log", 1e-3, 1e-1), "hidden_layer_sizes": [(8,), (16,)]})

pytestmark = [
    pytest.mark.usefixtures("quiet_optuna"),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    # OptunaSearchCV reports to optuna.terminator, which Optuna has deprecated.
    pytest.mark.filterwarnings("ignore:`optuna.terminator`:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Choices for a categorical distribution:UserWarning"),
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360].astype(np.float32) / 16, y[:360]


def _study(pruner=None, seed=0):
    return optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner
    )


def test_optuna_search_cv_prunes_through_partial_fit(digits):
    X, y = digits
    labels = np.array([f"digit {d}" for d in range(10)])[y]  # classes= must reach partial_fit
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    search = optuna_integration.OptunaSearchCV(
        MLPClassifier(random_state=0, **FAST),
        SPACE.to_optuna(),
        cv=2,
        enable_pruning=True,
        max_iter=FAST["max_epochs"],  # one partial_fit call is one epoch
        n_trials=8,
        study=study,
    ).fit(X, labels)
    frame = results_frame(search)
    assert set(frame["status"]) == {"complete", "pruned"}
    pruned = frame[frame["status"] == "pruned"]
    # Pruned after the warm-up step, at one step per epoch (the last included).
    assert pruned["n_steps"].between(2, FAST["max_epochs"]).all()
    complete = frame[frame["status"] == "complete"]
    assert (complete["n_steps"] == FAST["max_epochs"]).all()
    best = complete.loc[complete["value"].idxmax()]
    assert search.best_params_["learning_rate"] == best["learning_rate"]
    assert tuple(search.best_params_["hidden_layer_sizes"]) == best["hidden_layer_sizes"]
    assert best["hidden_layer_sizes"] in [(8,), (16,)]
    assert set(search.best_estimator_.classes_) == set(labels)
    assert len(search.best_estimator_.history_) == FAST["max_epochs"]


def test_optuna_search_cv_stops_at_its_timeout(digits):
    X, y = digits
    search = optuna_integration.OptunaSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 1}),
        SPACE.to_optuna(),
        cv=2,
        n_trials=None,
        timeout=1.0,
        refit=False,
        random_state=0,
    )
    start = time.perf_counter()
    search.fit(X, y)
    assert time.perf_counter() - start < 10
    assert search.n_trials_ >= 1
    assert (results_frame(search)["status"] == "complete").all()


def test_pruning_callback_reports_each_fold_at_its_own_steps(digits):
    X, y = digits
    study = _study(optuna.pruners.NopPruner())
    trial = study.ask()
    clf = MLPClassifier(random_state=0, callbacks=[OptunaPruning(trial)], **FAST)
    folds = cross_validate(clf, X, y, cv=3, return_estimator=True)["estimator"]
    epochs = FAST["max_epochs"]
    expected = {
        fold * epochs + epoch: -folds[fold].history_[epoch, "valid_loss"]  # maximised study
        for fold in range(3)
        for epoch in range(epochs)
    }
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == pytest.approx(expected)


def test_the_pruning_message_counts_folds_and_epochs_from_1_as_the_history(digits):
    X, y = digits
    study = _study(optuna.pruners.ThresholdPruner(lower=0.0, n_warmup_steps=1))
    clf = MLPClassifier(random_state=0, callbacks=[OptunaPruning(study.ask())], **FAST)
    with pytest.raises(optuna.TrialPruned, match=r"^Pruned at fold 1, epoch 2 \(valid_loss="):
        clf.fit(X, y)
    assert len(clf.net_.history) == 2


def test_tensorboard_runs_of_a_study_are_named_by_trial(digits, tmp_path):
    pytest.importorskip("tensorboard")
    from skdeep.callbacks import TensorBoard

    X, y = digits
    clf = MLPClassifier(random_state=0, callbacks=[TensorBoard(tmp_path, hparams=False)], **FAST)
    study = _study(optuna.pruners.NopPruner())
    study.optimize(make_objective(clf, SPACE, X, y, cv=2), n_trials=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trial-0000", "trial-0000-2", "trial-0001", "trial-0001-2"
    ]  # fmt: skip


def test_pruning_callback_reports_as_is_when_directions_agree(digits):
    X, y = digits
    trial = optuna.create_study(direction="minimize").ask()
    clf = MLPClassifier(random_state=0, callbacks=[OptunaPruning(trial)], **FAST).fit(X, y)
    reported = trial.storage.get_trial(trial._trial_id).intermediate_values
    assert reported == pytest.approx({e: clf.history_[e, "valid_loss"] for e in range(3)})


def test_pruning_callback_keeps_the_fold_of_a_warm_start(digits):
    X, y = digits
    trial = _study(optuna.pruners.NopPruner()).ask()
    pruning = OptunaPruning(trial, epochs_per_fold=4)
    clf = MLPClassifier(warm_start=True, callbacks=[pruning], **{**FAST, "max_epochs": 2})
    clf.fit(X, y).fit(X, y)  # one fit continued: one fold, epochs 0 to 3
    assert sorted(trial.storage.get_trial(trial._trial_id).intermediate_values) == [0, 1, 2, 3]
    clf.set_params(warm_start=False).fit(X, y)  # from scratch: the next fold
    assert max(trial.storage.get_trial(trial._trial_id).intermediate_values) == 5


def test_pruning_callback_is_shared_by_clones_and_not_pickled():
    trial = _study().ask()
    callback = OptunaPruning(trial, monitor="valid_acc")
    twin = clone(callback)
    assert twin.trial is trial and twin.monitor == "valid_acc"
    assert twin._folds is callback._folds
    assert pickle.loads(pickle.dumps(callback)).trial is None


def test_pruning_callback_names_a_missing_metric(digits):
    X, y = digits
    trial = _study().ask()
    clf = MLPClassifier(validation_fraction=0.0, callbacks=[OptunaPruning(trial)], **FAST)
    with pytest.raises(ValueError, match="validation_fraction > 0"):
        clf.fit(X, y)


def test_objective_prunes_a_pipeline_and_records_scores(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0, **FAST))
    # Always prunes after 2 epochs of the first fold: -valid_loss is below 0.
    study = _study(optuna.pruners.ThresholdPruner(lower=0.0, n_warmup_steps=1))
    objective = make_objective(pipe, SPACE.with_prefix("mlpclassifier"), X, y, cv=2, pruning=True)
    study.optimize(objective, n_trials=2)
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    assert [sorted(t.intermediate_values) for t in study.trials] == [[0, 1], [0, 1]]
    # The estimator given stays as it was: the callback went into a clone.
    assert pipe[-1].callbacks is None


def test_objective_gives_each_fold_the_largest_searched_epochs(digits):
    X, y = digits
    study = _study(optuna.pruners.NopPruner())
    study.enqueue_trial({"learning_rate": 0.01, "max_epochs": 2})
    space = {"learning_rate": ("log", 1e-3, 1e-1), "max_epochs": ("int", 2, 4)}
    objective = make_objective(MLPClassifier(**FAST), space, X, y, cv=2, pruning=True)
    study.optimize(objective, n_trials=1)
    # 2 epochs trained per fold, 4 steps reserved per fold.
    assert sorted(study.trials[0].intermediate_values) == [0, 1, 4, 5]


def test_objective_without_pruning_stores_sklearn_named_scores(digits):
    X, y = digits
    study = _study()
    objective = make_objective(
        MLPClassifier(random_state=0, **FAST),
        SPACE,
        X,
        y,
        cv=3,
        scoring=["accuracy", "f1_macro"],
        metric="f1_macro",
    )
    study.optimize(objective, n_trials=3)
    trial = study.best_trial
    folds = [trial.user_attrs[f"split{i}_test_f1_macro"] for i in range(3)]
    assert trial.value == pytest.approx(np.mean(folds))
    assert trial.user_attrs["mean_test_f1_macro"] == trial.value
    frame = results_frame(study)
    assert {"mean_test_accuracy", "std_test_f1_macro", "mean_fit_time"} <= set(frame)
    assert frame.attrs["score"] == "value"
    assert frame.loc[frame["value"].idxmax(), "trial"] == trial.number
    assert frame["hidden_layer_sizes"].isin([(8,), (16,)]).all()


def test_objective_marks_a_failing_fit_failed(digits):
    X, y = digits
    space = {"hidden_layer_sizes": [(0,)]}  # refused by fit
    study = _study()
    study.optimize(make_objective(MLPClassifier(**FAST), space, X, y, cv=2), n_trials=1)
    frame = results_frame(study)
    assert frame["status"].tolist() == ["failed"]
    assert "positive integers" in study.trials[0].user_attrs["error"]
    raising = make_objective(MLPClassifier(**FAST), space, X, y, cv=2, error_score="raise")
    with pytest.raises(ValueError, match="positive integers"):
        raising(optuna.trial.FixedTrial({"hidden_layer_sizes": [0]}))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric": "recall"}, "not one of the scoring names"),
        ({"scoring": "accuracy", "metric": "f1"}, "single one"),
        ({"pruning": True, "n_jobs": 2}, "one after another"),
        ({"error_score": "ignore"}, "error_score"),
    ],
)
def test_objective_refuses_bad_settings_before_training(digits, kwargs, match):
    X, y = digits
    kwargs = {"scoring": ["accuracy", "f1_macro"], **kwargs}
    with pytest.raises(ValueError, match=match):
        make_objective(MLPClassifier(**FAST), SPACE, X, y, **kwargs)


def test_objective_pruning_needs_a_network():
    with pytest.raises(ValueError, match="exactly one skdeep network"):
        make_objective(StandardScaler(), {"with_mean": [True]}, np.zeros((4, 2)), pruning=True)


def test_open_study_reopens_a_sqlite_study_with_its_trials(tmp_path):
    path = tmp_path / "studies.db"
    study = open_study("s", path)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    again = open_study("s", path)
    assert [t.value for t in again.trials] == [t.value for t in study.trials]
    with sqlite3.connect(path) as connection:  # write-ahead log: no fsync per commit
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with pytest.raises(ValueError, match="set to maximize"):
        open_study("s", path, direction="minimize")


def test_search_progress_follows_a_study_as_a_callback():
    out = io.StringIO()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1),
        n_trials=3,
        callbacks=[SearchProgress(3, mode="lines", stream=out)],
    )
    lines = out.getvalue().splitlines()
    best = np.maximum.accumulate([t.value for t in study.trials])
    assert [line.split(" (")[0] for line in lines] == [
        f"search: {i + 1}/3 candidates, best {b:.4g}" for i, b in enumerate(best)
    ]


def test_search_progress_draws_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    with SearchProgress(3, stream=out) as progress:
        progress.update(1, best=0.5)
        progress.update(2, best=0.7)
    assert "3/3" in out.getvalue() and "best=0.7" in out.getvalue()


def test_importance_and_plots_of_a_study(digits):
    pytest.importorskip("matplotlib")
    X, y = digits
    study = _study()
    objective = make_objective(MLPClassifier(random_state=0, **FAST), SPACE, X, y, cv=2)
    study.optimize(objective, n_trials=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importance = parameter_importance(study, method="optuna")
    assert set(importance.index) == {"learning_rate", "hidden_layer_sizes"}
    assert importance.sum() == pytest.approx(1.0)
    figure = plot_scores(study)
    assert [ax.get_xlabel() for ax in figure.axes if ax.get_visible()] == [
        "learning_rate",
        "hidden_layer_sizes",
    ]


def test_plots_of_a_study_whose_choice_is_none(tmp_path):
    """A choice of None (no learning-rate schedule) is a category of its own in every figure."""
    pytest.importorskip("matplotlib")
    distributions = {
        "lr_schedule": optuna.distributions.CategoricalDistribution([None, "exponential"]),
        "width": optuna.distributions.IntDistribution(8, 64, log=True),
    }
    study = optuna.create_study(direction="maximize")
    trials = [(None, 8, 0.9), ("exponential", 16, 0.6), (None, 32, 0.8), ("exponential", 64, 0.5)]
    for schedule, width, value in trials:
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr_schedule": schedule, "width": width},
                distributions=distributions,
                value=value,
            )
        )
    figure = plot_parallel_coordinates(study, top=4)
    ax = figure.axes[0]
    # A line per trial, the None trials included, at the level labelled "None".
    assert len(ax.lines) == 4
    levels = {text.get_text(): text.xy[1] for text in ax.texts if text.xy[0] == 0}
    assert set(levels) == {"None", "exponential"}
    at_schedule = sorted(line.get_ydata()[0] for line in ax.lines)
    assert at_schedule == sorted([levels["None"]] * 2 + [levels["exponential"]] * 2)
    figure.savefig(tmp_path / "parallel.png")
    assert (tmp_path / "parallel.png").stat().st_size > 1000
    # Every end label lies inside the axes, clear of the frame.
    low, high = ax.get_ylim()
    assert low < 0 and high > 1
    scores = plot_scores(study)
    assert len(scores.axes[0].collections[0].get_offsets()) == 4  # None trials not dropped
    assert scores.get_suptitle() == "value against each parameter (4 complete, 0 pruned candidates)"
    # The schedule explains the score fully: None scores 0.8 and 0.9, exponential 0.5 and 0.6.
    importance = parameter_importance(study)
    eta = np.sqrt(4 * 0.15**2 / sum((v - 0.7) ** 2 for *_, v in trials))
    assert importance["lr_schedule"] == pytest.approx(eta)
