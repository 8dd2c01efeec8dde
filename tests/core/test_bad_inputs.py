"""A property-based corpus of bad (and good) inputs over all five estimators and their methods.

Each example takes tiny valid data, applies one change from the corpus below to the input of
``fit``, ``partial_fit``, ``predict`` or ``score``, and knows whether that input must be
refused. A refusal must be a ``ValueError`` or ``TypeError`` with a message, raised in skdeep or
scikit-learn (never deep in torch, skorch or numpy), and from ``fit`` or ``partial_fit`` before
any training. An input that must be accepted must give results of the right shape and kind.
Accepting an input marked "refuse" is a silent acceptance, and fails the test.
"""

import traceback
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from skdeep import (
    CNNClassifier,
    MLPClassifier,
    MLPRegressor,
    NeuralNetClassifier,
    NeuralNetRegressor,
)

TINY = {"max_epochs": 1, "batch_size": 4, "device": "cpu", "random_state": 0}
N_FEATURES = 16  # a 4x4 image for the CNN


def _linear(n_features_in, n_outputs):
    return torch.nn.Linear(n_features_in, n_outputs)


ESTIMATORS = {
    "MLPClassifier": lambda: MLPClassifier(hidden_layer_sizes=(3,), **TINY),
    "MLPRegressor": lambda: MLPRegressor(hidden_layer_sizes=(3,), **TINY),
    "CNNClassifier": lambda: CNNClassifier(
        filters=(2,), kernel_sizes=(3,), dense_units=(3,), **TINY
    ),
    "NeuralNetClassifier": lambda: NeuralNetClassifier(_linear, **TINY),
    "NeuralNetRegressor": lambda: NeuralNetRegressor(_linear, **TINY),
}
REGRESSORS = {"MLPRegressor", "NeuralNetRegressor"}


def _valid(rng, name, n_rows):
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    codes = np.arange(n_rows) % 3
    y = codes.astype(np.float64) + rng.normal(size=n_rows) if name in REGRESSORS else codes
    return X, y, None


def _put(X, value):
    X = X.astype(np.float64)
    X[1, 2] = value
    return X


def _with_none(X):
    X = X.astype(object)
    X[0, 3] = None
    return X


def _frame(X, column=None):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    if column is not None:
        frame["f0"] = column
    return frame


# (name, methods it applies to, change(X, y, w, estimator name) -> (X, y, w), refuse?) where
# refuse is True, False, or a set of the estimators that must refuse it.
X_CHANGES = [
    ("NaN in X", lambda X, y, w, n: (_put(X, np.nan), y, w), True),
    ("inf in X", lambda X, y, w, n: (_put(X, -np.inf), y, w), True),
    ("beyond float32", lambda X, y, w, n: (_put(X, 1e39), y, w), True),
    ("complex X", lambda X, y, w, n: (X + 1j, y, w), True),
    ("text X", lambda X, y, w, n: (np.full(X.shape, "abc"), y, w), True),
    ("None in X", lambda X, y, w, n: (_with_none(X), y, w), True),  # a None is missing
    ("1-D X", lambda X, y, w, n: (X[:, 0], y, w), True),
    ("5-D X", lambda X, y, w, n: (X.reshape(len(X), 1, 1, 4, 4), y, w), True),
    (
        "3-D X",
        lambda X, y, w, n: (X.reshape(len(X), 4, 4), y, w),
        set(ESTIMATORS) - {"CNNClassifier"},
    ),
    ("no rows", lambda X, y, w, n: (X[:0], y[:0], w), True),
    ("no columns", lambda X, y, w, n: (X[:, :0], y, w), True),
    ("sparse X", lambda X, y, w, n: (scipy.sparse.csr_matrix(X), y, w), True),
    ("text column", lambda X, y, w, n: (_frame(X, ["a"] * len(X)), y, w), True),
    ("category column", lambda X, y, w, n: (_frame(X, pd.Categorical(["a"] * len(X))), y, w), True),
    # Inputs that must be accepted, as scikit-learn accepts them.
    ("int X", lambda X, y, w, n: (X.astype(np.int64), y, w), False),
    ("bool X", lambda X, y, w, n: (X > 0, y, w), False),
    ("float16 X", lambda X, y, w, n: (X.astype(np.float16), y, w), False),
    ("object numbers", lambda X, y, w, n: (X.astype(object), y, w), False),
    ("numeric text", lambda X, y, w, n: (X.astype(str), y, w), False),
    ("DataFrame", lambda X, y, w, n: (_frame(X), y, w), False),
    ("object DataFrame", lambda X, y, w, n: (_frame(X.astype(object)), y, w), False),
    ("nested lists", lambda X, y, w, n: (X.tolist(), y, w), False),
]
Y_CHANGES = [
    ("y too short", lambda X, y, w, n: (X, y[:-1], w), True),
    ("y too long", lambda X, y, w, n: (X, np.append(y, y[:1]), w), True),
    ("NaN in y", lambda X, y, w, n: (X, np.where(np.arange(len(y)) == 1, np.nan, y), w), True),
    ("inf in y", lambda X, y, w, n: (X, np.where(np.arange(len(y)) == 1, np.inf, y), w), True),
    ("None in y", lambda X, y, w, n: (X, np.where(np.arange(len(y)) == 1, None, y), w), True),
    (
        "one class",
        lambda X, y, w, n: (X, np.zeros(len(y)) if n not in REGRESSORS else y, w),
        set(ESTIMATORS) - REGRESSORS,
    ),
    (
        "continuous y",
        lambda X, y, w, n: (X, np.linspace(0, 1, len(y)), w),
        set(ESTIMATORS) - REGRESSORS,
    ),
    (
        "text y",
        lambda X, y, w, n: (X, np.array(["a", "b", "c"])[np.arange(len(y)) % 3], w),
        REGRESSORS,
    ),
    (
        "mixed labels",
        lambda X, y, w, n: (X, np.array(["a", 1, 2.5], dtype=object)[np.arange(len(y)) % 3], w),
        True,
    ),
    ("y of 3-D", lambda X, y, w, n: (X, np.zeros((len(y), 2, 2)), w), True),
    # Accepted.
    (
        "string labels",
        lambda X, y, w, n: (X, y if n in REGRESSORS else np.array(["cat", "dog", "emu"])[y], w),
        False,
    ),
    ("y as a list", lambda X, y, w, n: (X, list(y), w), False),
    (
        "two targets",
        lambda X, y, w, n: (X, np.column_stack([y, -y]) if n in REGRESSORS else y, w),
        False,
    ),
]

W_CHANGES = [
    ("negative weight", lambda X, y, w, n: (X, y, -np.ones(len(y))), True),
    ("NaN weight", lambda X, y, w, n: (X, y, np.where(np.arange(len(y)) == 1, np.nan, 1.0)), True),
    ("weights too short", lambda X, y, w, n: (X, y, np.ones(len(y) - 1)), True),
    ("zero weights", lambda X, y, w, n: (X, y, np.zeros(len(y))), True),
    ("2-D weights", lambda X, y, w, n: (X, y, np.ones((len(y), 2))), True),
    ("weights", lambda X, y, w, n: (X, y, np.linspace(0.5, 2, len(y))), False),
    ("weights as a list", lambda X, y, w, n: (X, y, [1.0] * len(y)), False),
]

# At predict and score, on a fitted estimator.
PREDICT_CHANGES = [
    ("other feature count", lambda X, y, w, n: (X[:, :-1], y, w), True),
    ("NaN at predict", lambda X, y, w, n: (_put(X, np.nan), y, w), True),
    ("text at predict", lambda X, y, w, n: (np.full(X.shape, "abc"), y, w), True),
    ("1-D at predict", lambda X, y, w, n: (X[0], y, w), True),
    ("no rows at predict", lambda X, y, w, n: (X[:0], y[:0], w), True),
    ("5-D at predict", lambda X, y, w, n: (X.reshape(len(X), 1, 1, 4, 4), y, w), True),
    ("lists at predict", lambda X, y, w, n: (X.tolist(), y, w), False),
    ("int at predict", lambda X, y, w, n: (X.astype(np.int64), y, w), False),
]
SCORE_CHANGES = [
    *PREDICT_CHANGES,
    ("y too short at score", lambda X, y, w, n: (X, y[:-1], w), True),
]

CORPUS = {
    "fit": X_CHANGES + Y_CHANGES + W_CHANGES,
    "partial_fit": X_CHANGES + Y_CHANGES + W_CHANGES,
    "predict": PREDICT_CHANGES,
    "score": SCORE_CHANGES,
}


def _must_refuse(refuse, name: str) -> bool:
    return refuse if isinstance(refuse, bool) else name in refuse


def _innermost_module(error: BaseException) -> str:
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__", "?")


def _check_clear(error: BaseException) -> None:
    detail = "".join(traceback.format_exception(error))
    assert isinstance(error, (ValueError, TypeError)), f"not a clear error:\n{detail}"
    where = _innermost_module(error).split(".")[0]
    assert where in ("skdeep", "sklearn"), f"raised deep inside {where}:\n{detail}"
    assert str(error).strip(), f"an error without a message:\n{detail}"


def _check_predictions(estimator, name, X, n_rows):
    predicted = estimator.predict(X)
    assert len(predicted) == n_rows
    if name in REGRESSORS:
        assert np.isfinite(predicted).all()
    else:
        assert np.isin(predicted, estimator.classes_).all()
        proba = estimator.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def _declared_classes(y) -> np.ndarray:
    try:
        classes = np.unique(np.asarray(y).ravel())
    except TypeError:  # labels of mixed types: partial_fit must refuse them
        return np.arange(3)
    return np.union1d(classes, np.arange(3)) if classes.dtype.kind in "biuf" else classes


_FITTED: dict = {}


def _fitted(name):
    if name not in _FITTED:
        X, y, _ = _valid(np.random.RandomState(0), name, 12)
        _FITTED[name] = ESTIMATORS[name]().fit(X, y)
    return _FITTED[name]


def _run(name, method, change, seed, n_rows):
    label, apply, refuse = change
    X, y, w = apply(*_valid(np.random.RandomState(seed), name, n_rows), name)
    must_refuse = _must_refuse(refuse, name)
    if method in ("fit", "partial_fit"):
        estimator = ESTIMATORS[name]()
        kwargs = {} if w is None else {"sample_weight": w}
        if method == "partial_fit" and name not in REGRESSORS:
            # Every label the classifier will see, declared on the first call.
            kwargs["classes"] = _declared_classes(y)
            if label == "one class":
                must_refuse = False  # the other classes are declared
        action = lambda: getattr(estimator, method)(X, y, **kwargs)  # noqa: E731
    else:
        estimator = _fitted(name)
        action = (
            (lambda: estimator.predict(X))
            if method == "predict"
            else (lambda: estimator.score(X, y))
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = action()
    except AssertionError:
        raise
    except Exception as error:  # noqa: BLE001 - every error is inspected
        _check_clear(error)
        assert must_refuse, f"{label!r} to {name}.{method} should work, but: {error!r}"
        if method in ("fit", "partial_fit"):
            assert not hasattr(estimator, "history_"), f"refused after training: {error}"
        return "refused"
    assert not must_refuse, f"{name}.{method} silently accepted {label!r}"
    if method in ("fit", "partial_fit"):
        n_predict = len(X) if hasattr(X, "__len__") else X.shape[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_predictions(result, name, X, n_predict)
    elif method == "predict":
        assert len(result) == len(X)
    else:
        assert np.isfinite(result)
    return "accepted"


@st.composite
def cases(draw):
    name = draw(st.sampled_from(sorted(ESTIMATORS)))
    method = draw(st.sampled_from(sorted(CORPUS)))
    change = draw(st.sampled_from(CORPUS[method]))
    return name, method, change, draw(st.integers(0, 2**16)), draw(st.sampled_from([6, 9, 12]))


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(case=cases())
def test_bad_inputs_are_refused_clearly_and_good_ones_accepted(case):
    name, method, change, seed, n_rows = case
    event(f"{method}: {_run(name, method, change, seed, n_rows)}")


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("method", sorted(CORPUS))
def test_every_change_of_the_corpus_once(name, method):
    # The corpus in full, once per estimator and method, beside the random draws above.
    for change in CORPUS[method]:
        _run(name, method, change, seed=0, n_rows=9)


def test_the_checks_catch_silent_acceptance_and_deep_errors(monkeypatch):
    accepted = ("int X", lambda X, y, w, n: (X.astype(np.int64), y, w), True)
    with pytest.raises(AssertionError, match="silently accepted 'int X'"):
        _run("MLPClassifier", "fit", accepted, 0, 9)
    monkeypatch.setattr(MLPClassifier, "_build_module", lambda self, n: torch.nn.Dropout(p=1.5))
    with pytest.raises(AssertionError, match="raised deep inside torch"):
        _run("MLPClassifier", "fit", X_CHANGES[-1], 0, 9)
