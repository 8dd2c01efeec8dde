"""The scorers read the right numbers, by name, in pipelines and multi-metric searches."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics import get_scorer as sklearn_get_scorer
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier, MLPRegressor
from skdeep.scorers import (
    SCORERS,
    fit_seconds,
    get_scorer,
    get_scorers,
    make_params_penalized_scorer,
)

FAST = {"hidden_layer_sizes": (8,), "device": "cpu", "random_state": 0, "max_epochs": 4}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return make_pipeline(StandardScaler(), MLPClassifier(**FAST)).fit(X, y)


def test_history_scorers_read_the_best_epoch_without_predicting(fitted, data, monkeypatch):
    X, y = data
    network = fitted[-1]
    monkeypatch.setattr(type(fitted), "predict", lambda *a: pytest.fail("predicted"))
    assert get_scorer("best_valid_loss")(fitted, X, y) == -min(network.history_[:, "valid_loss"])
    assert get_scorer("neg_best_valid_loss")(fitted, X, y) == -min(
        network.history_[:, "valid_loss"]
    )
    assert get_scorer("best_valid_accuracy")(fitted, X, y) == max(network.history_[:, "valid_acc"])


def test_accuracy_per_second(fitted, data):
    X, y = data
    seconds = sum(fitted[-1].history_[:, "epoch_time"])
    assert fit_seconds(fitted) == pytest.approx(seconds)
    expected = accuracy_score(y, fitted.predict(X)) / seconds
    assert get_scorer("accuracy_per_second")(fitted, X, y) == pytest.approx(expected)


def test_params_penalized_scorer(fitted, data):
    X, y = data
    scorer = make_params_penalized_scorer("balanced_accuracy", per_million_params=1000.0)
    n_params = fitted[-1].count_params()
    assert n_params == 5 * 8 + 8 + 8 * 3 + 3
    base = get_scorer("balanced_accuracy")(fitted, X, y)
    assert scorer(fitted, X, y) == pytest.approx(base - 1000.0 * n_params / 1e6)
    assert "per_million_params=1000.0" in repr(scorer)


def test_history_scorers_explain_what_they_need(data):
    X, y = data
    no_valid = MLPClassifier(**{**FAST, "max_epochs": 1}, validation_fraction=0).fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction > 0"):
        get_scorer("best_valid_loss")(no_valid, X, y)
    regressor = MLPRegressor(**{**FAST, "max_epochs": 1}).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="only for classifiers"):
        get_scorer("best_valid_accuracy")(regressor, X, y)
    with pytest.raises(TypeError, match="no fitted skdeep network"):
        get_scorer("best_valid_loss")(LogisticRegression().fit(X, y), X, y)


def test_names_resolve_to_skdeep_then_scikit_learn():
    assert set(SCORERS) == {
        "best_valid_loss",
        "neg_best_valid_loss",
        "best_valid_accuracy",
        "accuracy_per_second",
    }
    assert get_scorer("best_valid_loss") is not SCORERS["best_valid_loss"]  # a copy
    assert repr(get_scorer("f1_macro")) == repr(sklearn_get_scorer("f1_macro"))
    scorer = get_scorer("accuracy")
    assert get_scorer(scorer) is scorer
    with pytest.raises(ValueError, match="neither a skdeep scorer"):
        get_scorer("best_train_loss")


def test_scorers_pickle_for_parallel_searches(fitted, data):
    X, y = data
    for scorer in [
        *get_scorers(list(SCORERS)).values(),
        make_params_penalized_scorer(per_million_params=1.0),
    ]:
        copy = pickle.loads(pickle.dumps(scorer))
        if "per_second" not in repr(scorer):
            assert copy(fitted, X, y) == scorer(fitted, X, y)


@pytest.mark.parametrize("refit", ["best_valid_accuracy", "best_valid_loss"])
def test_multi_metric_grid_search_refits_on_a_history_score(data, refit):
    X, y = data
    scoring = get_scorers(["accuracy", "best_valid_loss", "best_valid_accuracy"])
    scoring["penalized"] = make_params_penalized_scorer(per_million_params=10.0)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(**FAST)),
        {"mlpclassifier__hidden_layer_sizes": [(2,), (16,)]},
        scoring=scoring,
        refit=refit,
        cv=2,
        error_score="raise",
    )
    search.fit(X, y)
    results = search.cv_results_
    for name in scoring:
        assert np.isfinite(results[f"mean_test_{name}"]).all()
    assert search.best_index_ == np.argmax(results[f"mean_test_{refit}"])
    assert (
        search.best_estimator_[-1].hidden_layer_sizes
        == results["params"][search.best_index_]["mlpclassifier__hidden_layer_sizes"]
    )
    assert search.best_score_ == results[f"mean_test_{refit}"][search.best_index_]
    # Validation losses are positive, so their negation is what a search maximises.
    assert (results["mean_test_best_valid_loss"] < 0).all()


def test_history_scorer_in_cross_validate_reads_each_fold_network(data):
    X, y = data
    result = cross_validate(
        MLPClassifier(**FAST),
        X,
        y,
        cv=2,
        scoring=get_scorers("best_valid_loss"),
        return_estimator=True,
    )
    for score, estimator in zip(result["test_best_valid_loss"], result["estimator"], strict=True):
        assert score == -min(estimator.history_[:, "valid_loss"])
