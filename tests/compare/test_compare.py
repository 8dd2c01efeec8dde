"""skdeep.compare: same folds, statistics, preprocessing, and the report on disk."""

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from skdeep import MLPClassifier, baselines
from skdeep.baselines import default_models, find_network, make_preprocessor
from skdeep.compare import (
    ComparisonResult,
    compare,
    corrected_paired_ttest,
    holm_adjust,
    write_comparison_report,
)
from skdeep.compare import _run as compare_module
from skdeep.utils.files import MANIFEST, read_manifest


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def test_every_model_is_scored_on_the_same_folds(digits):
    X, y = digits
    folds = list(KFold(3, shuffle=True, random_state=1).split(X))
    models = {
        "logistic": LogisticRegression(max_iter=500),
        "dummy": DummyClassifier(),
        "mlp": MLPClassifier(max_epochs=3, device="cpu", random_state=0),
    }
    # preprocess=False: each model as given, to be refitted here on the same folds.
    result = compare(models, X, y, cv=folds, progress="quiet", preprocess=False)
    assert set(result.frame.index) == {"logistic", "dummy", "mlp"}
    for name, model in models.items():
        for fold, (train, test) in enumerate(folds):
            expected = model.fit(X[train], y[train]).score(X[test], y[test])
            scores = result.fold_scores
            recorded = scores[(scores["model"] == name) & (scores["fold"] == fold)]
            assert recorded["accuracy"].item() == pytest.approx(expected)
    assert result.frame.index[0] == result.best == "logistic"
    assert (
        result.frame.loc["mlp", "n_params"]
        == MLPClassifier().set_params(hidden_layer_sizes=(100,)).fit(X, y).count_params()
    )
    assert pd.isna(result.frame.loc["logistic", "n_params"])
    assert pd.isna(result.frame.loc["logistic", "p_vs_best"])
    assert result.frame.loc["dummy", "p_vs_best"] < 0.05


def test_only_networks_given_brings_the_baselines(digits):
    X, y = digits
    result = compare([MLPClassifier(max_epochs=2, device="cpu")], X, y, cv=2, progress="quiet")
    assert {
        "MLPClassifier",
        "LogisticRegression",
        "RandomForest",
        "HistGradientBoosting",
        "SVC (RBF)",
        "k-NN",
    } == set(result.frame.index)
    assert list(result.frame.columns[:4]) == [
        "accuracy_mean",
        "accuracy_std",
        "balanced_accuracy_mean",
        "balanced_accuracy_std",
    ]


class Broken(LogisticRegression):
    def fit(self, X, y):
        raise RuntimeError("boom")


def test_regression_defaults_and_a_failing_model_is_recorded():
    X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    y = y * 1000 + 5e5  # the scale of house prices
    models = default_models("regression", X, ["mlp", "ridge"], max_epochs=30, device="cpu")
    models["broken"] = Broken()
    with pytest.warns(FitFailedWarning, match="broken failed on fold 1: RuntimeError: boom"):
        result = compare(models, X, y, cv=3, progress="quiet")
    assert result.task == "regression"
    assert result.scoring == ["r2", "neg_root_mean_squared_error"]
    assert result.frame.loc["broken", "failed_folds"] == 3
    assert result.frame.loc["broken", "error"] == "RuntimeError: boom"
    assert result.failed == ["broken"]
    assert result.frame.index[-1] == "broken"
    assert np.isnan(result.frame.loc["broken", "p_vs_best"])
    assert len(result.notes) == 3
    # Target standardisation lets the network learn a linear target in dollars.
    assert result.frame.loc["MLP", "r2_mean"] > 0.9
    table = result.table(unit="USD")
    assert list(table.columns[:2]) == ["R²", "RMSE (USD)"]
    assert table.loc["broken", "R²"] == "failed: RuntimeError: boom"
    rmse = -result.frame.loc["Ridge", "neg_root_mean_squared_error_mean"]
    assert rmse > 0 and table.loc["Ridge", "RMSE (USD)"].startswith(f"{rmse:,.0f} ± ")


def test_holm_adjusts_the_p_values_of_the_comparisons_with_the_best(digits):
    p = np.array([0.04, 0.01, np.nan, 0.03, 0.5])
    # By hand: sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1, each at least the one before.
    np.testing.assert_allclose(holm_adjust(p), [0.09, 0.04, np.nan, 0.09, 0.5])
    X, y = digits
    models = {
        "logistic": LogisticRegression(max_iter=500),
        "dummy": DummyClassifier(),
        "prior": DummyClassifier(strategy="prior"),
        "mlp": MLPClassifier(max_epochs=3, device="cpu", random_state=0),
    }
    frame = compare(models, X, y, cv=3, progress="quiet").frame
    np.testing.assert_allclose(frame["p_holm"], holm_adjust(frame["p_vs_best"]))
    assert (frame["p_holm"].dropna() >= frame["p_vs_best"].dropna()).all()


def test_warm_up_fits_each_model_once_on_a_few_rows_for_one_epoch(digits):
    X, y = digits
    fits = []

    class Recording(LogisticRegression):
        def __init__(self, max_epochs=100, max_iter=500):
            super().__init__(max_iter=max_iter)
            self.max_epochs = max_epochs

        def fit(self, X, y):
            fits.append((len(X), self.max_epochs))
            return super().fit(X, y)

    compare({"recording": Recording()}, X, y, cv=3, progress="quiet")
    assert fits[0] == (compare_module.WARM_UP_ROWS, 1)
    assert fits[1:] == [(200, 100)] * 3


def test_skdeep_scorer_names_work_in_compare(digits):
    X, y = digits
    models = {"mlp": MLPClassifier(max_epochs=3, device="cpu", random_state=0)}
    result = compare(
        models, X, y, cv=2, scoring=["best_valid_loss"], baselines=False, progress="quiet"
    )
    assert result.frame.loc["mlp", "best_valid_loss_mean"] < 0
    assert result.table().columns[0] == "best validation loss"
    assert result.table().iloc[0, 0].startswith(f"{-result.frame.iloc[0, 0]:.4f}")
    with pytest.raises(ValueError, match="'nosuch' is neither a skdeep scorer"):
        compare(models, X, y, scoring="nosuch", progress="quiet")


def test_the_figure_has_a_title_the_dataset_and_positive_errors():
    X, y = make_regression(n_samples=80, n_features=3, noise=5.0, random_state=0)
    result = compare({"ridge": Ridge(), "dummy": DummyRegressor()}, X, y, cv=2, progress="quiet")
    result.scoring = ["neg_root_mean_squared_error", "r2"]
    figure = result.plot(title="Houses", dataset="dataset: a table", unit="USD")
    assert figure._suptitle.get_text() == "Houses\ndataset: a table"
    score_ax, time_ax = figure.axes
    assert score_ax.get_xlabel().startswith("RMSE (USD), mean ± std over 2 folds (lower")
    points = score_ax.lines[0].get_xdata()
    assert (np.asarray(points) > 0).all()
    assert time_ax.get_xscale() == "log"
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_corrected_ttest_against_its_formula():
    a = np.array([0.90, 0.92, 0.91, 0.95, 0.93])
    b = np.array([0.88, 0.91, 0.87, 0.93, 0.90])
    diff = a - b
    t, p = corrected_paired_ttest(a, b, test_fraction=0.25)
    expected_t = diff.mean() / np.sqrt((1 / 5 + 0.25) * diff.var(ddof=1))
    assert t == pytest.approx(expected_t)
    from scipy import stats

    assert p == pytest.approx(2 * stats.t.sf(expected_t, 4))
    assert np.isnan(corrected_paired_ttest(a, a, 0.25)[1])


def test_mixed_tables_get_imputation_and_one_hot_encoding():
    frame = pd.DataFrame(
        {
            "rooms": [3.0, np.nan, 5.0, 4.0],
            "city": ["Lyon", "Paris", None, "Lyon"],
        }
    )
    encoded = make_preprocessor(frame).fit_transform(frame)
    assert encoded.shape == (4, 3)
    assert not np.isnan(encoded).any()
    assert make_preprocessor(np.ones((3, 2)), scale=False) == "passthrough"


def test_find_network_unwraps_pipelines_and_target_transformers():
    models = default_models("regression", np.zeros((4, 2)), ["mlp"])
    assert find_network(models["MLP"]).__class__.__name__ == "MLPRegressor"
    assert isinstance(models["MLP"].regressor, Pipeline)


def _small_result(digits) -> ComparisonResult:
    X, y = digits
    return compare(
        {"logistic": LogisticRegression(max_iter=500), "dummy": DummyClassifier()},
        X,
        y,
        cv=3,
        progress="quiet",
    )


REPORT_FILES = {"report.md", "results.csv", "fold_scores.csv", "comparison.png", "results.json"}


def test_report_files_and_refusal_to_overwrite(digits, tmp_path):
    result = _small_result(digits)
    out = tmp_path / "new" / "run"
    files = write_comparison_report(result, out, title="t", description=["d"], command="c")
    assert {f.name for f in files} == REPORT_FILES
    assert all(f.stat().st_size > 0 for f in files)
    assert set(read_manifest(out)) == REPORT_FILES
    assert {p.name for p in out.iterdir()} == REPORT_FILES | {MANIFEST}
    report = (out / "report.md").read_text()
    assert "| logistic" in report and "![comparison](comparison.png)" in report
    assert "| model" in report and "| accuracy" in report and "accuracy_mean" not in report
    assert "Worse than logistic at the 5% level" in report
    assert pd.read_csv(out / "results.csv", index_col="model").index.tolist() == [
        "logistic",
        "dummy",
    ]
    summary = json.loads((out / "results.json").read_text())
    assert summary["best"] == "logistic"
    # The load the times were measured under, as the study and tune reports give it.
    before, after = result.load_average
    assert summary["load_average"] == [before, after] and before >= 0
    assert f"load average (1 min) was {before:.1f} before the runs and {after:.1f} after" in report
    with pytest.raises(FileExistsError, match="not empty.*--force"):
        write_comparison_report(result, out, title="t", description=["d"], command="c")
    # --force replaces the files of the previous report and deletes those it no longer has.
    (out / "report.md").write_text("old")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append("old_figure.png")
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "old_figure.png").write_bytes(b"png")
    write_comparison_report(result, out, title="t2", description=["d"], command="c", force=True)
    assert (out / "report.md").read_text().startswith("# t2")
    assert {p.name for p in out.iterdir()} == REPORT_FILES | {MANIFEST}


def test_a_score_of_the_other_task_is_refused_before_anything_trains(monkeypatch):
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    monkeypatch.setattr(Ridge, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=r"scoring \['accuracy'\] is a classification score, but "
                       r"this target is regression: numbers \(\d+ distinct values\)"):
        compare({"ridge": Ridge()}, X, np.round(y), scoring="accuracy", progress="quiet")
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=r"scoring \['r2'\] is a regression score"):
        compare({"dummy": DummyClassifier()}, X, y, scoring=["accuracy", "r2"], progress="quiet")


def test_no_model_is_best_when_every_model_failed():
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    with pytest.warns(FitFailedWarning):
        result = compare({"a": Broken(), "b": Broken()}, X, y, cv=2, progress="quiet")
    assert result.failed == ["a", "b"]
    assert result.best is None
    assert "(best)" not in result.table().to_string()


def test_a_failed_write_leaves_nothing_behind(digits, tmp_path, monkeypatch):
    result = _small_result(digits)

    def broken_plot(*args, **kwargs):
        raise RuntimeError("no figure")

    monkeypatch.setattr(ComparisonResult, "plot", broken_plot)
    with pytest.raises(RuntimeError, match="no figure"):
        write_comparison_report(
            result, tmp_path / "a" / "b", title="t", description=[], command="c"
        )
    assert list(tmp_path.iterdir()) == []  # neither b nor the a created for it
    # Into a previous report: it stays as it was.
    monkeypatch.undo()
    out = tmp_path / "run"
    write_comparison_report(result, out, title="t", description=[], command="c")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(ComparisonResult, "plot", broken_plot)
    with pytest.raises(RuntimeError):
        write_comparison_report(result, out, title="t2", description=[], command="c", force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_report_where_a_model_failed_says_so(digits, tmp_path):
    X, y = digits
    models = {"logistic": LogisticRegression(max_iter=500), "broken": Broken()}
    with pytest.warns(FitFailedWarning):
        result = compare(models, X, y, cv=2, progress="quiet")
    write_comparison_report(result, tmp_path / "r", title="t", description=[], command="c")
    report = (tmp_path / "r" / "report.md").read_text()
    assert re.search(r"\| broken +\| failed: RuntimeError: boom", report)
    assert "**broken failed** on every fold" in report
    assert "Not shown different" not in report and "Worse than" not in report


def test_names_of_the_previous_release_stay_importable_from_compare():
    import skdeep.compare
    from skdeep.utils import tasks

    for name in baselines.__all__:
        if name not in ("with_network_preprocessing", "NETWORK_RECIPES"):
            assert getattr(skdeep.compare, name) is getattr(baselines, name)
    assert skdeep.compare.infer_task is tasks.infer_task


def _houses(n=120):
    """A small California-housing-like frame: numeric columns in dollars and a text column."""
    rng = np.random.RandomState(0)
    rooms = rng.uniform(1, 10, n)
    ocean = rng.choice(["NEAR BAY", "INLAND", "<1H OCEAN"], n)
    X = pd.DataFrame({"rooms": rooms, "income": rng.uniform(1e4, 1e5, n), "ocean": ocean})
    y = 3e4 * rooms + 1e5 * (ocean == "INLAND") + 2e5
    return X, y


def test_user_networks_get_the_default_networks_preprocessing():
    from skdeep import MLPRegressor

    X, y = _houses()
    network = MLPRegressor(hidden_layer_sizes=(16,), max_epochs=40, device="cpu", random_state=0)
    result = compare([network], X, y, cv=3, baselines=False, progress="quiet")
    assert result.frame.loc["MLPRegressor", "failed_folds"] == 0
    # Unscaled, targets in the hundreds of thousands would give an R² far below 0.
    assert result.frame.loc["MLPRegressor", "r2_mean"] > 0.5
    wrapped = baselines.with_network_preprocessing(network, "regression", X)
    assert wrapped.regressor.named_steps["model"] is network
    assert "ocean" in wrapped.regressor.named_steps["preprocess"].transformers[1][2]
    # Asked not to, compare uses the network as given: the text column fails every fold.
    with pytest.warns(FitFailedWarning, match="non-numeric columns"):
        raw = compare([network], X, y, cv=3, baselines=False, progress="quiet", preprocess=False)
    assert raw.frame.loc["MLPRegressor", "failed_folds"] == 3


def test_pipelines_and_scikit_learn_models_are_left_as_given():
    X, y = _houses()
    ridge = LogisticRegression()
    assert baselines.with_network_preprocessing(ridge, "classification", X) is ridge
    pipe = Pipeline([("model", MLPClassifier())])
    assert baselines.with_network_preprocessing(pipe, "classification", X) is pipe


def test_compare_on_california_housing_in_one_call():
    from skdeep import MLPRegressor
    from skdeep.datasets import load_california_housing

    try:
        X, y = load_california_housing()
    except (FileNotFoundError, OSError) as error:
        pytest.skip(f"California housing is not available: {error}")
    X, y = X.iloc[:1500], y.iloc[:1500]
    network = MLPRegressor(hidden_layer_sizes=(32,), max_epochs=5, device="cpu", random_state=0)
    result = compare([network], X, y, cv=2, baselines=False, progress="quiet")
    assert result.frame.loc["MLPRegressor", "failed_folds"] == 0
    assert result.frame.loc["MLPRegressor", "r2_mean"] > 0.3


class _TimedByThreads(DummyClassifier):
    """A classifier whose fit lasts what ``SECONDS`` says for the threads it runs at."""

    SECONDS: dict = {}

    def fit(self, X, y, sample_weight=None):
        from threadpoolctl import threadpool_info

        openmp = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
        self.threads_ = min(openmp)
        time.sleep(self.SECONDS.get(self.threads_, 0.0) if len(X) > 100 else 0.0)
        return super().fit(X, y, sample_weight)


@pytest.mark.parametrize(("seconds", "expected"), [({2: 0.6, 1: 0.3}, 1), ({2: 0.6, 1: 1.2}, 2)])
def test_a_classical_model_runs_its_folds_at_the_faster_thread_count(
    digits, monkeypatch, seconds, expected
):
    from threadpoolctl import threadpool_limits

    X, y = digits
    monkeypatch.setattr(compare_module, "thread_limit", lambda: 2)
    monkeypatch.setattr(compare_module, "prior_thread_count", lambda limit: limit)  # idle
    monkeypatch.setattr(_TimedByThreads, "SECONDS", seconds)
    with threadpool_limits(limits=2, user_api="openmp"):
        result = compare({"timed": _TimedByThreads()}, X, y, cv=4, progress="quiet")
    # The first fold at the limit, the second at one thread, the rest at the faster of the two.
    assert list(result.fold_scores["threads"]) == [2, 1, expected, expected]


def test_a_quick_classical_model_is_not_timed_at_one_thread(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(compare_module, "thread_limit", lambda: 2)
    monkeypatch.setattr(compare_module, "prior_thread_count", lambda limit: limit)  # idle
    result = compare({"logistic": LogisticRegression(max_iter=50)}, X, y, cv=3, progress="quiet")
    assert list(result.fold_scores["threads"]) == [2, 2, 2]


def test_beside_busy_processes_a_classical_model_starts_at_the_free_cores(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(compare_module, "thread_limit", lambda: 2)
    monkeypatch.setattr(compare_module, "prior_thread_count", lambda limit: 1)  # cores taken
    result = compare({"logistic": LogisticRegression(max_iter=200)}, X[:300], y[:300], cv=2,
                     baselines=False, progress="quiet")  # fmt: skip
    assert set(result.fold_scores["threads"]) == {1}


class _RecordedWorkers(DummyClassifier):
    """A classifier with joblib workers (``n_jobs``) that records the count of each fold's fit."""

    SEEN: list = []

    def __init__(self, n_jobs=None):
        super().__init__()
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        if len(X) > 100:  # a fold, not the warm-up
            self.SEEN.append(self.n_jobs)
        return super().fit(X, y, sample_weight)


@pytest.mark.parametrize(("free", "expected"), [(1, 1), (2, 2)])
def test_a_classical_models_workers_never_exceed_the_free_cores(
    digits, monkeypatch, free, expected
):
    X, y = digits
    monkeypatch.setattr(compare_module, "thread_limit", lambda: 2)
    monkeypatch.setattr(compare_module, "prior_thread_count", lambda limit: free)
    monkeypatch.setattr(_RecordedWorkers, "SEEN", [])
    model = Pipeline([("scale", "passthrough"), ("model", _RecordedWorkers(n_jobs=-1))])
    compare({"forest": model}, X, y, cv=2, baselines=False, progress="quiet")
    assert _RecordedWorkers.SEEN == [expected, expected]
    assert model[-1].n_jobs == -1  # the caller's model is left as it was


def test_a_fixed_thread_count_makes_a_comparison_with_a_cnn_repeat_exactly(digits):
    X, y = digits
    X, y = X[:300], y[:300]

    def run():
        models = default_models("classification", X, ["cnn", "mlp"], max_epochs=3, n_threads=1)
        return compare(models, X, y, cv=2, baselines=False, progress="quiet")

    first, second = run(), run()
    scores = [c for c in first.frame.columns if c.startswith(("accuracy", "balanced", "p_"))]
    pd.testing.assert_frame_equal(first.frame[scores], second.frame[scores])
    pd.testing.assert_frame_equal(first.fold_scores, second.fold_scores)
    assert all(m[-1].n_threads == 1 for m in default_models(
        "classification", X, ["cnn", "mlp"], n_threads=1).values())  # fmt: skip


def test_the_default_networks_train_with_their_recipes_for_the_epochs_asked():
    from skdeep.baselines import NETWORK_RECIPES

    X = np.zeros((10, 64))
    models = default_models("classification", X, ["mlp", "cnn"], max_epochs=7, device="cpu")
    regressor = default_models("regression", X, ["mlp"], device="cpu")["MLP"].regressor[-1]
    networks = {
        "mlp_classification": models["MLP"][-1],
        "cnn_classification": models["CNN"][-1],
        "mlp_regression": regressor,
    }
    for key, network in networks.items():
        params = network.get_params()
        expected = {**NETWORK_RECIPES[key], "device": "cpu", "random_state": 0}
        if key != "mlp_regression":
            expected["max_epochs"] = 7
        assert {name: params[name] for name in expected} == expected, key
        assert params["lr_schedule"] == "one_cycle" and params["validation_fraction"] == 0.0
    assert regressor.max_epochs == NETWORK_RECIPES["mlp_regression"]["max_epochs"]
