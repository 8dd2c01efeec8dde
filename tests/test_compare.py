"""skdeep.compare: same folds, statistics, preprocessing, and the report on disk."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from skdeep import MLPClassifier, baselines
from skdeep import compare as compare_module
from skdeep.baselines import default_models, make_preprocessor
from skdeep.compare import compare, corrected_paired_ttest, find_network
from skdeep.report import prepare_output_dir, write_comparison_report


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
    result = compare(models, X, y, cv=folds, progress="quiet")
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


def test_regression_defaults_and_a_failing_model_is_recorded():
    X, y = make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    y = y * 1000 + 5e5  # the scale of house prices
    models = default_models("regression", X, ["mlp", "ridge"], max_epochs=30, device="cpu")

    class Broken(LogisticRegression):
        def fit(self, X, y):
            raise RuntimeError("boom")

    models["broken"] = Broken()
    with pytest.warns(FitFailedWarning, match="broken failed on fold 1: RuntimeError: boom"):
        result = compare(models, X, y, cv=3, progress="quiet")
    assert result.task == "regression"
    assert result.scoring == ["r2", "neg_root_mean_squared_error"]
    assert result.frame.loc["broken", "failed_folds"] == 3
    assert result.frame.index[-1] == "broken"
    assert len(result.notes) == 3
    # Target standardisation lets the network learn a linear target in dollars.
    assert result.frame.loc["MLP", "r2_mean"] > 0.9


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


def test_report_files_and_refusal_to_overwrite(digits, tmp_path):
    X, y = digits
    result = compare(
        {"logistic": LogisticRegression(max_iter=500), "dummy": DummyClassifier()},
        X,
        y,
        cv=3,
        progress="quiet",
    )
    out = prepare_output_dir(tmp_path / "run")
    files = write_comparison_report(result, out, title="t", description=["d"], command="c")
    assert {f.name for f in files} == {
        "report.md",
        "results.csv",
        "fold_scores.csv",
        "comparison.png",
        "results.json",
    }
    assert all(f.stat().st_size > 0 for f in files)
    report = (out / "report.md").read_text()
    assert "| logistic" in report and "![comparison](comparison.png)" in report
    assert pd.read_csv(out / "results.csv", index_col="model").index.tolist() == [
        "logistic",
        "dummy",
    ]
    assert json.loads((out / "results.json").read_text())["best"] == "logistic"
    with pytest.raises(FileExistsError, match="not empty.*--force"):
        prepare_output_dir(out)
    prepare_output_dir(out, force=True)
    assert not any(out.iterdir())


def test_baselines_stay_importable_from_compare():
    for name in baselines.__all__:
        assert getattr(compare_module, name) is getattr(baselines, name)
