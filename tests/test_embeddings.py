"""Numeric feature embeddings of the MLPs: the module, training-row bins, round trips."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skdeep import MLPClassifier, MLPRegressor, load
from skdeep.embeddings import EmbeddingMLP, quantile_bins
from skdeep.modules import penalized_parameters
from skdeep.search.stacked._members import why_not_stackable

pytest.importorskip("rtdl_num_embeddings")

FAST = {"hidden_layer_sizes": (16,), "max_epochs": 3, "device": "cpu", "random_state": 0}
KINDS = ["periodic", "piecewise_linear"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2).astype(np.float32)
    return X, y


def _train_rows(estimator, y) -> np.ndarray:
    return estimator._validation_indices(y)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_embedding_changes_the_module_and_its_parameter_count(table, kind):
    X, y = table
    plain = MLPRegressor(**FAST).fit(X, y)
    embedded = MLPRegressor(numeric_embedding=kind, **FAST).fit(X, y)
    assert isinstance(embedded.net_.module_, EmbeddingMLP)
    n_features, width = X.shape[1], 16
    assert plain.count_params() == n_features * width + width + width + 1
    d = 24 if kind == "periodic" else 12
    mlp = n_features * d * width + width + width + 1
    if kind == "periodic":  # 48 frequencies, then a linear layer per feature over cos and sin
        embedding = n_features * 48 + n_features * (2 * 48 * d + d)
    else:  # a linear embedding plus a linear layer per feature over its bins (no bias)
        n_bins = max(len(edges) - 1 for edges in embedded.embedding_bins_)
        assert n_bins == 48
        embedding = 2 * n_features * d + n_features * n_bins * d
    assert embedded.count_params() == embedding + mlp
    assert embedded.net_.module_.mlp[0].in_features == n_features * d


def test_d_embedding_sets_the_width_of_each_feature(table):
    X, y = table
    reg = MLPRegressor(numeric_embedding="periodic", d_embedding=4, **FAST).fit(X, y)
    assert reg.net_.module_.mlp[0].in_features == X.shape[1] * 4


@pytest.mark.parametrize("estimator_class", [MLPRegressor, MLPClassifier])
def test_bins_come_from_the_training_rows_not_the_validation_rows(table, estimator_class):
    X, y = table
    target = y if estimator_class is MLPRegressor else (y > np.median(y)).astype(int)
    params = {**FAST, "numeric_embedding": "piecewise_linear", "validation_fraction": 0.25}
    first = estimator_class(**params).fit(X, target)
    y_encoded = first._encode_targets(target, first_call=False)
    train, valid = first._validation_indices(y_encoded)
    np.testing.assert_array_equal(
        np.concatenate(first.embedding_bins_), np.concatenate(quantile_bins(X[train], 48))
    )
    # Extreme values in the validation rows only: the bins do not move.
    X_extreme = X.copy()
    X_extreme[valid] = 1e6
    second = estimator_class(**params).fit(X_extreme, target)
    for a, b in zip(first.embedding_bins_, second.embedding_bins_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert max(edges[-1] for edges in second.embedding_bins_) < 1e3
    # Trained on every row, the same values would have moved them.
    everything = estimator_class(**{**params, "validation_fraction": 0.0}).fit(X_extreme, target)
    assert all(edges[-1] == 1e6 for edges in everything.embedding_bins_)


def test_partial_fit_and_warm_start_keep_the_bins_of_the_first_fit(table):
    X, y = table
    reg = MLPRegressor(numeric_embedding="piecewise_linear", warm_start=True, **FAST).fit(X, y)
    bins = [edges.copy() for edges in reg.embedding_bins_]
    reg.partial_fit(X + 100, y)
    reg.fit(X * 10, y)
    for a, b in zip(bins, reg.embedding_bins_, strict=True):
        np.testing.assert_array_equal(a, b)
    # A fresh fit computes them again; without the embedding, it has none.
    reg.set_params(warm_start=False).fit(X + 100, y)
    assert reg.embedding_bins_[0][0] > 90
    reg.set_params(numeric_embedding=None).fit(X, y)
    assert not hasattr(reg, "embedding_bins_")


@pytest.mark.parametrize("kind", KINDS)
def test_clone_pickle_and_save_load_give_identical_predictions(table, kind, tmp_path):
    X, y = table
    reg = MLPRegressor(numeric_embedding=kind, **FAST).fit(X, y)
    expected = reg.predict(X)
    copy = clone(reg)
    assert copy.get_params() == reg.get_params()
    assert not hasattr(copy, "embedding_bins_") and not hasattr(copy, "net_")
    np.testing.assert_array_equal(copy.fit(X, y).predict(X), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), expected)
    restored = load(reg.save(tmp_path / "model.skdeep"))
    np.testing.assert_array_equal(restored.predict(X), expected)
    if kind == "piecewise_linear":
        for a, b in zip(reg.embedding_bins_, restored.embedding_bins_, strict=True):
            assert b.dtype == np.float32
            np.testing.assert_array_equal(a, b)
    # The restored model trains on as the saved one does.
    np.testing.assert_array_equal(
        restored.partial_fit(X, y).predict(X), reg.partial_fit(X, y).predict(X)
    )


def test_a_classifier_round_trips_through_save_and_load(table, tmp_path):
    X, y = table
    clf = MLPClassifier(numeric_embedding="piecewise_linear", **FAST).fit(X, y > 0.5)
    restored = load(clf.save(tmp_path / "clf.skdeep"))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "params, name",
    [
        ({"numeric_embedding": "fourier"}, "numeric_embedding"),
        ({"numeric_embedding": "periodic", "d_embedding": 0}, "d_embedding"),
        ({"numeric_embedding": "piecewise_linear", "n_bins": 1}, "n_bins"),
        ({"numeric_embedding": "periodic", "d_embedding": True}, "d_embedding"),
    ],
)
def test_bad_values_are_refused_before_training_naming_the_parameter(table, params, name):
    X, y = table
    reg = MLPRegressor(**FAST, **params)
    with pytest.raises((InvalidParameterError, ValueError), match=name):
        reg.fit(X, y)
    assert not hasattr(reg, "net_")


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_package_the_error_names_the_extra(table, kind, monkeypatch):
    X, y = table
    monkeypatch.setitem(sys.modules, "rtdl_num_embeddings", None)  # import fails
    reg = MLPRegressor(numeric_embedding=kind, **FAST)
    with pytest.raises(ImportError, match=r"rtdl-num-embeddings.*skdeep\[tables\]"):
        reg.fit(X, y)
    assert not hasattr(reg, "net_")
    MLPRegressor(**FAST).fit(X, y)  # networks without an embedding do not need it


def test_penalties_apply_to_the_mlp_layers_only(table):
    X, y = table
    reg = MLPRegressor(numeric_embedding="periodic", l2=(1e-3, 0.0), **FAST).fit(X, y)
    module = reg.net_.module_
    penalized = penalized_parameters(module)
    assert all(p is q for p, q in zip(penalized, penalized_parameters(module.mlp), strict=True))
    assert len(penalized) == 2
    embedding = {id(p) for p in module.embedding.parameters()}
    assert not embedding & {id(p) for p in penalized}
    with pytest.raises(ValueError, match="2 weight layers"):
        MLPRegressor(numeric_embedding="periodic", l2=(1e-3, 0.0, 0.0), **FAST).fit(X, y)


def test_quantile_bins_handle_constant_columns_few_rows_and_few_values():
    X = np.array([[0.0, 7.0, 0.0], [1.0, 7.0, 1.0], [2.0, 7.0, 1.0], [3.0, 7.0, 0.0]])
    bins = quantile_bins(X, n_bins=48)  # more bins than rows: as many as the rows allow
    np.testing.assert_allclose(bins[0], [0.0, 1.0, 2.0, 3.0], rtol=1e-6)
    assert bins[1].tolist() == [7.0, 8.0]  # constant: one bin
    assert bins[2].tolist() == [0.0, 1.0]  # two values (a one-hot column): one bin
    assert all(edges.dtype == np.float32 for edges in bins)
    assert [e.tolist() for e in quantile_bins(X[:2], 48)] == [[0, 1], [7, 8], [0, 1]]
    assert [e.tolist() for e in quantile_bins(X[:1], 48)] == [[0, 1], [7, 8], [0, 1]]


def test_tiny_tables_with_constant_and_binary_columns_fit(recwarn):
    X = np.array([[0.0, 7.0, 0.0], [1.0, 7.0, 1.0], [2.0, 7.0, 1.0], [3.0, 7.0, 0.0]] * 3)
    y = np.arange(len(X)) % 2
    clf = MLPClassifier(numeric_embedding="piecewise_linear", **FAST).fit(X, y)
    assert clf.predict(X).shape == (len(X),)
    assert not [w for w in recwarn if "bin edges" in str(w.message)]


def test_stacked_search_trains_embedded_networks_alone(table):
    from skdeep.search import StackedSearchCV

    X, y = table
    reg = MLPRegressor(numeric_embedding="periodic", **FAST).fit(X, y)
    assert "numeric_embedding='periodic'" in why_not_stackable(reg)
    assert why_not_stackable(MLPRegressor(**FAST).fit(X, y)) is None
    grid = {"numeric_embedding": [None, "piecewise_linear"], "learning_rate": [1e-3]}
    search = StackedSearchCV(MLPRegressor(**{**FAST, "max_epochs": 1}), grid, cv=2).fit(X, y)
    groups = search.cv_results_["stack_group"].tolist()
    assert groups[0] != -1 and groups[1] == -1  # the embedded one is fitted alone
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_gives_the_predictions(table, kind, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    X, y = table
    reg = MLPRegressor(numeric_embedding=kind, **FAST).fit(X, y)
    path = reg.to_onnx(tmp_path / "reg.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (outputs,) = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(outputs.ravel(), reg.predict(X), rtol=1e-5, atol=1e-5)
