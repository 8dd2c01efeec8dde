"""scikit-learn's searches on skdeep estimators: grid, random, halving, threads, results."""

import io
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
from joblib import effective_n_jobs
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import accuracy_score
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    ParameterSampler,
    RandomizedSearchCV,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

import skdeep.utils.threads as threads
from skdeep import MLPClassifier
from skdeep.search import (
    SearchSpace,
    fit_with_progress,
    parameter_importance,
    plot_importance,
    plot_parallel_coordinates,
    plot_scores,
    results_frame,
)

FAST = {"hidden_layer_sizes": (16,), "max_epochs": 3, "batch_size": 64, "device": "cpu"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360].astype(np.float32), y[:360]


@pytest.fixture(scope="module")
def grid_search(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0, **FAST))
    space = SearchSpace(
        {"learning_rate": ("log", 1e-3, 1e-1), "hidden_layer_sizes": [(8,), (32,)]}
    ).with_prefix("mlpclassifier")
    search = GridSearchCV(pipe, space.to_grid(3), cv=2)
    return search.fit(X, y)


def test_grid_search_in_a_pipeline_finds_the_best_candidate(grid_search, digits):
    results = grid_search.cv_results_
    scores = results["mean_test_score"]
    assert len(scores) == 6
    assert grid_search.best_params_ == results["params"][int(np.argmax(scores))]
    assert grid_search.best_score_ == scores.max()
    # A network trained 3 epochs with learning rate 0.1 beats one with 0.001 by far.
    assert grid_search.best_params_["mlpclassifier__learning_rate"] > 1e-3
    assert grid_search.best_score_ > 0.6
    best = grid_search.best_estimator_[-1]
    assert best.learning_rate == grid_search.best_params_["mlpclassifier__learning_rate"]
    assert best.history_ is not None and len(best.history_) == 3


def test_randomized_search_draws_from_scipy_distributions(digits):
    X, y = digits
    space = SearchSpace({"learning_rate": ("log", 1e-3, 1e-1), "batch_size": ("int", 16, 128)})
    search = RandomizedSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 2}),
        space.to_sklearn(),
        n_iter=4,
        cv=2,
        random_state=0,
    ).fit(X, y)
    params = results_frame(search)
    assert params["learning_rate"].between(1e-3, 1e-1).all()
    assert params["batch_size"].between(16, 128).all()
    assert params["learning_rate"].nunique() == 4
    assert search.best_params_ in search.cv_results_["params"]
    # The candidates are the draws of the given distributions.
    drawn = ParameterSampler(space.to_sklearn(), n_iter=4, random_state=0)
    assert [c["learning_rate"] for c in drawn] == params["learning_rate"].tolist()


def _torch_threads(estimator, X, y):

    return torch.get_num_threads()


def test_parallel_workers_do_not_oversubscribe_the_cores(digits):
    # Every fit scores torch's thread count in the worker that ran it.
    X, y = digits
    search = GridSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 1}),
        {"learning_rate": [1e-3, 1e-2]},
        cv=2,
        n_jobs=2,
        scoring={"accuracy": "accuracy", "threads": _torch_threads},
        refit="accuracy",
    ).fit(X, y)
    threads = np.concatenate(
        [search.cv_results_[f"split{i}_test_threads"] for i in range(2)]
    )  # fmt: skip
    assert threads.max() <= max(1, (os.cpu_count() or 1) // 2)


@pytest.mark.parametrize("kind", ["grid", "random"])
def test_successive_halving_gives_later_candidates_more_epochs(digits, kind):
    X, y = digits
    trained = []  # epochs of every fitted model, in order (n_jobs=1 runs in this process)

    def accuracy_recording_epochs(estimator, X, y):
        trained.append(len(estimator.history_))
        return accuracy_score(y, estimator.predict(X))

    grid = {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2]}
    common = dict(
        resource="max_epochs", min_resources=1, max_resources=4, factor=2, cv=2,
        scoring=accuracy_recording_epochs, random_state=0, return_train_score=False,
    )  # fmt: skip
    estimator = MLPClassifier(random_state=0, **FAST)
    if kind == "grid":
        search = HalvingGridSearchCV(estimator, grid, **common)
    else:
        search = HalvingRandomSearchCV(estimator, grid, n_candidates=4, **common)
    search.fit(X, y)
    frame = results_frame(search)
    assert frame["n_resources"].tolist() == [1] * 4 + [2] * 2 + [4]
    assert (frame["max_epochs"] == frame["n_resources"]).all()
    # Each candidate of iteration i was fitted (on both folds) with 2**i epochs.
    assert trained == [e for e in frame["n_resources"] for _ in range(2)]
    last = frame[frame["iter"] == 2]
    assert search.best_params_["max_epochs"] == 4
    assert search.best_params_["learning_rate"] == last["learning_rate"].item()
    assert len(search.best_estimator_.history_) == 4


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_results_frame_marks_failed_fits_and_writes_csv(digits, tmp_path):
    X, y = digits
    search = GridSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 1}),
        {"hidden_layer_sizes": [(8,), (0,)]},
        cv=2,
        error_score=np.nan,
    )
    with pytest.warns(FitFailedWarning, match="fits failed"):
        search.fit(X, y)
    frame = results_frame(search)
    assert frame["status"].tolist() == ["complete", "failed"]
    assert frame["hidden_layer_sizes"].tolist() == [(8,), (0,)]
    frame.to_csv(tmp_path / "results.csv", index=False)
    written = pd.read_csv(tmp_path / "results.csv")
    assert written["status"].tolist() == ["complete", "failed"]
    assert written.columns.tolist() == frame.columns.tolist()


def test_results_frame_has_one_score_column_per_metric(grid_search, digits):
    X, y = digits
    search = GridSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 1}),
        {"learning_rate": [1e-3, 1e-2]},
        cv=2,
        scoring=["accuracy", "f1_macro"],
        refit="f1_macro",
    ).fit(X, y)
    frame = results_frame(search)
    for metric in ("accuracy", "f1_macro"):
        np.testing.assert_array_equal(
            frame[f"mean_test_{metric}"], search.cv_results_[f"mean_test_{metric}"]
        )
        assert f"std_test_{metric}" in frame
    assert frame.attrs["score"] == "mean_test_f1_macro"
    assert frame.attrs["params"] == ["learning_rate"]
    assert "mean_fit_time" in frame


def test_fit_with_progress_prints_lines_and_changes_nothing(grid_search, digits):
    X, y = digits
    out = io.StringIO()
    search = GridSearchCV(grid_search.estimator, grid_search.param_grid, cv=2)
    fit_with_progress(search, X, y, mode="lines", stream=out)
    lines = out.getvalue().splitlines()
    assert [line.split(" candidates")[0] for line in lines] == [
        f"search: {i}/6" for i in range(1, 7)
    ]
    best_so_far = np.maximum.accumulate(search.cv_results_["mean_test_score"])
    for line, best in zip(lines, best_so_far, strict=True):
        assert f"best {best:.4g}" in line and "ETA" in line
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], grid_search.cv_results_["mean_test_score"]
    )
    assert "_run_search" not in vars(search)


def _process_id(estimator, X, y) -> float:
    return float(os.getpid())


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: one worker whatever n_jobs")
def test_beside_busy_processes_fit_with_progress_starts_no_more_workers_than_cores_free(
    digits, monkeypatch
):
    X, y = digits
    monkeypatch.setattr(threads, "busy_cores", lambda samples=5: 64.0)  # every core taken
    search = GridSearchCV(
        MLPClassifier(random_state=0, **{**FAST, "max_epochs": 1}),
        {"learning_rate": [1e-3, 1e-2]},
        cv=2,
        n_jobs=-1,
        scoring={"accuracy": "accuracy", "process": _process_id},
        refit="accuracy",
    )
    out = io.StringIO()
    fit_with_progress(search, X, y, mode="lines", stream=out)
    results = search.cv_results_
    processes = np.concatenate([results[f"split{i}_test_process"] for i in range(2)])
    assert set(processes) == {os.getpid()}  # every fit in this process: one worker
    assert search.n_jobs == -1
    assert out.getvalue().splitlines()[0] == (
        f"search: n_jobs=-1 runs 1 of its {effective_n_jobs(-1)} workers: other processes keep "
        "the other cores busy."
    )


def test_fit_with_progress_counts_halving_iterations(digits):
    X, y = digits
    out = io.StringIO()
    search = HalvingGridSearchCV(
        MLPClassifier(random_state=0, **FAST), {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2]},
        resource="max_epochs", min_resources=1, max_resources=4, factor=2, cv=2,
    )  # fmt: skip
    fit_with_progress(search, X, y, mode="lines", stream=out, chunk_size=4)
    lines = out.getvalue().splitlines()
    assert [line.split(" candidates")[0] for line in lines] == [
        "search: 4/7",
        "search: 6/7",
        "search: 7/7",
    ]


def test_parameter_importance_ranks_the_learning_rate_first(grid_search):
    importance = parameter_importance(grid_search)
    assert set(importance.index) == {
        "mlpclassifier__learning_rate",
        "mlpclassifier__hidden_layer_sizes",
    }
    frame = results_frame(grid_search)
    rho = frame["mlpclassifier__learning_rate"].rank().corr(frame["mean_test_score"].rank())
    assert importance["mlpclassifier__learning_rate"] == pytest.approx(rho)
    assert importance["mlpclassifier__learning_rate"] > 0.5


def test_plots_return_figures(grid_search, tmp_path):
    pytest.importorskip("matplotlib")
    scores = plot_scores(grid_search)
    assert [ax.get_xlabel() for ax in scores.axes if ax.get_visible()] == [
        "mlpclassifier__hidden_layer_sizes",
        "mlpclassifier__learning_rate",
    ]
    assert scores.axes[1].get_xscale() == "log"
    scores.canvas.draw()  # a log axis's labels, minor ones included, are slanted to fit
    labels = scores.axes[1].get_xticklabels(minor=True) + scores.axes[1].get_xticklabels()
    assert {label.get_rotation() for label in labels} == {30.0}
    parallel = plot_parallel_coordinates(grid_search, top=4)
    assert len(parallel.axes[0].lines) == 4
    bars = plot_importance(grid_search)
    assert len(bars.axes[0].patches) == 2
    parallel.savefig(tmp_path / "parallel.png")
    assert (tmp_path / "parallel.png").stat().st_size > 0


def test_a_choice_panel_shows_every_choice_even_those_without_a_complete_candidate():
    pytest.importorskip("matplotlib")
    frame = pd.DataFrame(
        {
            "status": ["complete", "complete", "pruned", "pruned"],
            "schedule": ["exponential", "exponential", "cyclic", "none"],
            "mean_test_score": [0.9, 0.8, np.nan, np.nan],
        }
    )
    frame.attrs.update(params=["schedule"], score="mean_test_score", greater_is_better=True)
    ax = plot_scores(frame).axes[0]
    low, high = ax.get_xlim()
    shown = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert sorted(shown) == ["cyclic", "exponential", "none"]


class _CtrlCAtEpoch(Callback):
    """Presses Ctrl-C (SIGINT to this process) at the end of the second epoch of a fit."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_in_a_grid_search_stops_it_and_scores_no_cut_short_fit(digits, ctrl_c_raises):
    X, y = digits
    clf = MLPClassifier(max_epochs=10, callbacks=[_CtrlCAtEpoch()], random_state=0)
    search = GridSearchCV(clf, {"learning_rate": [1e-3, 1e-2]}, cv=2, error_score=np.nan)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, y)
    assert not hasattr(search, "cv_results_")  # no score of the fit stopped at epoch 2
