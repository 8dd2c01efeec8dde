"""Bad input is refused before training with a clear error; fits are repeatable and thread-safe.

The specific cases complement ``test_estimators.py`` (which covers bad hyper-parameters, the
single class, non-numeric columns, CNN ``input_shape`` and CUDA on a machine without it); the
property-based test then throws random shapes, dtypes, values and labels at every estimator.
"""

import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.utils.multiclass import type_of_target

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor
from skdeep.callbacks import TrainingDivergedError

TINY = {"max_epochs": 1, "batch_size": 4, "device": "cpu", "random_state": 0}
TINY_MLP = {**TINY, "hidden_layer_sizes": (3,)}
TINY_CNN = {**TINY, "filters": (2,), "kernel_sizes": (3,), "dense_units": (3,)}
FAST = {"max_epochs": 5, "hidden_layer_sizes": (16,), "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


def assert_refused_before_training(estimator, X, y, message, error=ValueError):
    with pytest.raises(error, match=message):
        estimator.fit(X, y)
    assert not hasattr(estimator, "net_"), "the error came after training had started"


# -- specific bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_in_X_are_refused_at_fit_and_predict(blobs, bad):
    X, y = blobs
    X_bad = X.copy()
    X_bad[7, 2] = bad
    message = "Input X contains (NaN|infinity)"
    assert_refused_before_training(MLPClassifier(**FAST), X_bad, y, message)
    assert_refused_before_training(CNNClassifier(**TINY_CNN), X_bad, y, message)
    fitted = MLPRegressor(**FAST).fit(X, y.astype(float))
    with pytest.raises(ValueError, match=message):
        fitted.predict(X_bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "hidden, zero_weights",
    [((2,), None), ((2,), "first unit"), ((2,), "every unit"), ((16,), None)],
)
def test_predict_refuses_a_bad_value_in_any_batch(bad, hidden, zero_weights):
    # (2,) narrows the 6 features: the check reads one unit of the first layer's output, one
    # whose weights are all non-zero (all the units when there is none); (16,) the batch.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2500, 6)).astype(np.float32)
    fitted = MLPClassifier(hidden_layer_sizes=hidden, max_epochs=1, random_state=0).fit(
        X[:100], np.arange(100) % 2
    )
    weight = fitted.net_.module_[0].weight
    with torch.no_grad():
        if zero_weights == "first unit":
            weight[0, 5] = 0.0
        elif zero_weights == "every unit":
            weight[:, 5] = 0.0
    X_bad = X.copy()
    X_bad[2100, 5] = bad  # in predict's third batch of 1,024 rows
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        fitted.predict(X_bad)
    assert not fitted.net_.module_[0]._forward_hooks
    assert fitted.predict(X).shape == (2500,)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_in_y_are_refused(blobs, bad):
    X, y = blobs
    y_bad = y.astype(float)
    y_bad[3] = bad
    assert_refused_before_training(MLPRegressor(**FAST), X, y_bad, "Input y contains")
    assert_refused_before_training(MLPClassifier(**FAST), X, y_bad, "Input y contains")


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_values_beyond_float32_are_refused(blobs):
    X, y = blobs
    huge = X.astype(np.float64)
    huge[0, 0] = 1e300
    assert_refused_before_training(MLPClassifier(**FAST), huge, y, "too large for dtype")
    assert_refused_before_training(
        MLPRegressor(**FAST), X, np.full(len(y), 1e300), r"beyond float32's range"
    )


def test_missing_regression_targets_given_as_none_are_refused(blobs):
    X, y = blobs
    targets = y.astype(object)
    targets[5] = None
    assert_refused_before_training(MLPRegressor(**FAST), X, targets, r"missing values \(None\)")


def test_text_regression_targets_are_refused(blobs):
    X, y = blobs
    labels = np.array(["low", "mid", "high"])[y]
    assert_refused_before_training(
        MLPRegressor(**FAST), X, labels, "needs numeric targets, but y has dtype <U4"
    )


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((200,), "Expected 2D array, got 1D array"),
        ((200, 3, 2), "Found array with dim 3"),
        ((0, 6), r"0 sample\(s\)"),
        ((200, 0), r"0 feature\(s\)"),
    ],
)
def test_wrong_dimensions_and_empty_arrays_are_refused(shape, message):
    X = np.zeros(shape, dtype=np.float32)
    y = np.arange(shape[0]) % 2
    assert_refused_before_training(MLPClassifier(**FAST), X, y, message)


def test_a_dataframe_without_columns_is_refused(blobs):
    X, y = blobs
    frame = pd.DataFrame(X)[[]]
    assert_refused_before_training(MLPClassifier(**FAST), frame, y, "DataFrame without columns")


def test_a_cnn_sample_without_values_is_refused():
    X = np.zeros((8, 0, 4, 4))
    assert_refused_before_training(
        CNNClassifier(**TINY_CNN), X, np.arange(8) % 2, r"shape \(0, 4, 4\), which holds no values"
    )


def test_a_different_feature_count_at_predict_is_refused(blobs):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is expecting 6"):
        clf.predict_proba(X[:, :4])
    frame = pd.DataFrame(X, columns=list("abcdef"))
    clf = MLPClassifier(**FAST).fit(frame, y)
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        clf.predict(frame.rename(columns={"a": "z"}))


def test_labels_of_mixed_types_are_refused(blobs):
    X, y = blobs
    mixed = np.array(["zero", 1, 2], dtype=object)[y]
    mixed[0] = "zero"
    assert_refused_before_training(
        MLPClassifier(**FAST), X, mixed, r"labels mix types \['int', 'str'\]"
    )


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf, "heavy"])
def test_invalid_class_weights_are_refused(blobs, weight):
    X, y = blobs
    clf = MLPClassifier(**FAST, class_weight={0: weight})
    assert_refused_before_training(clf, X, y, "class_weight values must be finite numbers >= 0")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("meta", "not a device skdeep trains on"),
        ("cuda:99", "has only .* CUDA GPU|no CUDA GPU"),
    ],
)
def test_unusable_devices_are_refused(blobs, device, message):
    X, y = blobs
    assert_refused_before_training(MLPClassifier(**{**FAST, "device": device}), X, y, message)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_on_a_machine_without_it_is_refused(blobs):
    X, y = blobs
    assert_refused_before_training(MLPClassifier(**{**FAST, "device": "mps"}), X, y, "no MPS")


def test_inputs_far_outside_the_training_range_raise_instead_of_returning_nan(blobs):
    X, y = blobs
    clf = MLPClassifier(**FAST).fit(X, y)
    far = X[:5].copy()
    far[2] = 3e38
    with pytest.raises(ValueError, match=r"NaN or infinite for 1 of 5 rows of X \(first: row 2\)"):
        clf.predict_proba(far)
    reg = MLPRegressor(**FAST).fit(X, y.astype(float))
    with torch.no_grad():
        reg.net_.module_[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="the fit diverged; refit with a lower learning_rate"):
        reg.predict(X)


# -- property-based: random shapes, dtypes, values and labels ---------------------------------

SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, 7e4]
X_KINDS = ["float16", "float32", "float64", "int8", "int64", "bool", "object", "numeric text"]
X_KINDS += ["text", "complex"]


def _as_kind(values: np.ndarray, kind: str) -> np.ndarray:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "numeric text":
            return values.astype(str)
        if kind == "text":
            return np.full(values.shape, "abc")
        if kind == "complex":
            return values + 1j
        if kind == "object":
            return values.astype(object)
        return values.astype(kind)


@st.composite
def feature_arrays(draw, n_rows: int, sample_shape=None, valid: bool = False):
    """Features of any layout, dtype and values; ``valid`` keeps to what a fit accepts."""
    if sample_shape is None:
        ndim = 2 if valid else draw(st.sampled_from([1, 2, 2, 3]))
        sample_shape = tuple(draw(st.integers(1 if valid else 0, 5)) for _ in range(ndim - 1))
    shape = (n_rows, *sample_shape)
    values = draw(npst.arrays(np.float64, shape, elements=st.floats(-5, 5, width=32)))
    special = None if valid else draw(st.sampled_from([None, *SPECIAL_VALUES]))
    if special is not None and values.size:
        values.flat[draw(st.integers(0, values.size - 1))] = special
    kinds = X_KINDS[:-2] if valid else X_KINDS
    return _as_kind(values, draw(st.sampled_from(kinds)))


VALID_LABELS = ["int", "str", "bool", "float"]
LABEL_KINDS = [*VALID_LABELS, "nan", "mixed", "continuous", "2d"]


@st.composite
def label_arrays(draw, n_rows: int, valid: bool = False):
    n = n_rows if valid else max(n_rows + draw(st.sampled_from([0, 0, -1, 1])), 0)
    codes = draw(npst.arrays(np.int64, n, elements=st.integers(0, 2)))
    if valid:
        codes[:2] = [0, 1]
    kind = draw(st.sampled_from(VALID_LABELS if valid else LABEL_KINDS))
    if kind == "str":
        return np.array(["cat", "dog", "emu"])[codes]
    if kind == "bool":
        return codes == 1
    if kind == "float":
        return codes.astype(float)
    if kind == "nan":
        return np.where(codes == 2, np.nan, codes)
    if kind == "mixed":
        return np.array(["cat", 1, 2.5], dtype=object)[codes]
    if kind == "continuous":
        return codes + draw(npst.arrays(np.float64, len(codes), elements=st.floats(0, 1)))
    if kind == "2d":
        return np.column_stack([codes, codes[::-1]])
    return codes


@st.composite
def fit_and_predict_data(draw):
    """Training data (half the time of an acceptable kind, else anything) and data to predict."""
    valid = draw(st.booleans())
    n_rows = draw(st.sampled_from([4, 12] if valid else [0, 1, 2, 3, 12]))
    X = draw(feature_arrays(n_rows, valid=valid))
    y = draw(label_arrays(n_rows, valid=valid))
    # Half the time new rows of the same layout, otherwise anything at all.
    same_layout = draw(st.booleans()) and X.ndim > 1
    X_new = draw(
        feature_arrays(
            draw(st.integers(0, 4)), X.shape[1:] if same_layout else None, valid=same_layout
        )
    )
    return X, y, X_new


def innermost_module(error: BaseException) -> str:
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__", "?")


# Bad input, or a fit that diverged on extreme values and said so.
CLEAR_ERRORS = (ValueError, TypeError, TrainingDivergedError)


def assert_clear_error(error: BaseException) -> None:
    where = innermost_module(error)
    detail = "".join(traceback.format_exception(error))
    assert isinstance(error, CLEAR_ERRORS), f"not a clear error:\n{detail}"
    assert where.split(".")[0] in ("skdeep", "sklearn"), f"raised inside {where}:\n{detail}"
    assert str(error), f"an error without a message:\n{detail}"


def assert_correct_multilabel_classifier(clf, X, y) -> None:
    y = np.asarray(y)
    np.testing.assert_array_equal(clf.classes_, np.arange(y.shape[1]))
    predicted = clf.predict(X)
    proba = clf.predict_proba(X)
    assert predicted.shape == proba.shape == (len(X), y.shape[1])  # X may be new rows
    assert np.isin(predicted, (0, 1)).all()
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(predicted.dtype))


def assert_correct_classifier(clf, X, y) -> None:
    if np.ndim(y) == 2 and type_of_target(y) == "multilabel-indicator":
        return assert_correct_multilabel_classifier(clf, X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(np.asarray(y).ravel()))
    predicted = clf.predict(X)
    proba = clf.predict_proba(X)
    assert predicted.shape == (len(X),)
    assert predicted.dtype == clf.classes_.dtype
    assert np.isin(predicted, clf.classes_).all()
    assert proba.shape == (len(X), len(clf.classes_))
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])


def assert_correct_regressor(reg, X, y) -> None:
    predicted = reg.predict(X)
    y = np.asarray(y)
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    assert predicted.shape == ((len(X),) if n_outputs == 1 else (len(X), n_outputs))
    assert np.isfinite(predicted).all()


def clear_error_of(action) -> BaseException | None:
    """Run ``action``: None when it succeeds, its error when that is a clear one."""
    try:
        action()
    except AssertionError:
        raise
    except Exception as error:  # noqa: BLE001 - every error is inspected
        assert_clear_error(error)
        return error
    return None


def check_every_outcome(make_estimator, data) -> str:
    """Fit and predict; every step either works correctly or fails with a clear error."""
    X, y, X_new = data
    estimator = make_estimator()
    check = (
        assert_correct_regressor
        if isinstance(estimator, MLPRegressor)
        else assert_correct_classifier
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = clear_error_of(lambda: estimator.fit(X, y))
        if error is not None:
            if not isinstance(error, TrainingDivergedError):
                assert not hasattr(estimator, "net_"), f"refused after training began: {error}"
            return "refused"
        refused_own_data = clear_error_of(lambda: check(estimator, X, y))
        clear_error_of(lambda: check(estimator, X_new, y))
    return "fitted, refused its own data" if refused_own_data else "fitted"


ESTIMATOR_FACTORIES = {
    "MLPClassifier": lambda: MLPClassifier(**TINY_MLP),
    "MLPRegressor": lambda: MLPRegressor(**TINY_MLP),
    "CNNClassifier": lambda: CNNClassifier(**TINY_CNN),
}


@pytest.mark.parametrize("name", ESTIMATOR_FACTORIES)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=fit_and_predict_data())
def test_any_input_gives_a_correct_fit_or_a_clear_error(name, data):
    event(check_every_outcome(ESTIMATOR_FACTORIES[name], data))


def test_the_outcome_check_passes_good_fits_and_catches_torch_errors(blobs, monkeypatch):
    X, y = blobs
    data = (X[:12], y[:12], X[12:15])
    for make in ESTIMATOR_FACTORIES.values():
        assert check_every_outcome(make, data) == "fitted"
    # Errors that escape validation and surface from torch must fail the check: a RuntimeError
    # (a shape the module cannot take) ...
    with monkeypatch.context() as patch:
        patch.setattr(MLPClassifier, "_sample_shape", lambda self: (self.n_features_in_ + 1,))
        with pytest.raises(AssertionError, match="not a clear error"):
            check_every_outcome(ESTIMATOR_FACTORIES["MLPClassifier"], data)
    # ... and a ValueError raised inside torch (a dropout rate torch refuses).
    monkeypatch.setattr(MLPClassifier, "_build_module", lambda self, n: torch.nn.Dropout(p=1.5))
    with pytest.raises(AssertionError, match="raised inside torch"):
        check_every_outcome(ESTIMATOR_FACTORIES["MLPClassifier"], data)


PARAMETER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "relux", "auto", "same", "valid", "balanced", "mse", "sgd", "cosine"]),
    st.tuples(st.integers(-2, 6)),
    st.tuples(st.integers(0, 6), st.integers(0, 6)),
    st.just(()),
    st.lists(st.integers(1, 4), max_size=3),
    st.dictionaries(st.integers(0, 2), st.floats(-1, 3), max_size=2),
)
# Kept valid: the device (tested above) and the epoch count (to stay fast).
FIXED_PARAMETERS = {"device", "max_epochs", "verbose", "callbacks", "random_state"}


@pytest.mark.parametrize("name", ESTIMATOR_FACTORIES)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_hyper_parameters_give_a_correct_fit_or_a_clear_error(name, data):
    make = ESTIMATOR_FACTORIES[name]
    names = sorted(set(make().get_params()) - FIXED_PARAMETERS)
    changes = data.draw(st.dictionaries(st.sampled_from(names), PARAMETER_VALUES, max_size=3))
    X = np.random.RandomState(0).rand(12, 16).astype(np.float32)
    estimator = make().set_params(**changes)
    event(check_every_outcome(lambda: estimator, (X, np.arange(12) % 3, X[:3])))


@pytest.mark.parametrize("name", ["batch_size", "max_epochs", "hidden_layer_sizes"])
def test_booleans_are_not_taken_for_counts(blobs, name):
    X, y = blobs
    value = (True,) if name == "hidden_layer_sizes" else True
    message = "positive integers" if name == "hidden_layer_sizes" else "got the bool True"
    assert_refused_before_training(MLPClassifier(**{**FAST, name: value}), X, y, message)


# -- determinism and threads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPRegressor(**FAST, dropout=0.2, batch_norm=True),
        lambda: CNNClassifier(**TINY_CNN, dropout=0.3, validation_fraction=0.2),
    ],
    ids=["MLPRegressor", "CNNClassifier"],
)
def test_same_random_state_gives_identical_predictions(blobs, make):
    X, y = blobs
    first = make().fit(X, y)
    again = make().fit(X, y)
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    for a, b in zip(first.net_.module_.parameters(), again.net_.module_.parameters(), strict=True):
        assert torch.equal(a, b)
    other = make().set_params(random_state=1).fit(X, y)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            first.net_.module_.parameters(), other.net_.module_.parameters(), strict=True
        )
    )


def test_a_parallel_search_scores_its_candidates_as_a_sequential_one(blobs):
    X, y = blobs
    grid = {"learning_rate": [1e-3, 1e-2]}
    # Dropout draws from torch's generator in every batch: the workers must seed it as well.
    estimator = MLPClassifier(**{**FAST, "max_epochs": 3, "dropout": 0.2})
    results = [
        GridSearchCV(estimator, grid, cv=2, n_jobs=n_jobs).fit(X, y).cv_results_
        for n_jobs in (1, 2)
    ]
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(results[0][key], results[1][key])
    # Not trivially equal: the candidates score differently.
    assert len(set(results[0]["mean_test_score"])) > 1


def test_fits_in_concurrent_threads_are_valid(blobs):
    X, y = blobs
    seeds = [0, 1, 2, 3]

    def fit(seed):
        params = {**FAST, "max_epochs": 10, "learning_rate": 2e-2, "random_state": seed}
        return MLPClassifier(**params).fit(X, y)

    sequential = {seed: fit(seed).score(X, y) for seed in seeds}
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = dict(zip(seeds, pool.map(fit, seeds), strict=True))
    for seed, clf in concurrent.items():
        for parameter in clf.net_.module_.parameters():
            assert torch.isfinite(parameter).all()
        assert len(clf.history_) == 10
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        # Trained as well as alone (though not bitwise alike: the fits share torch's generator),
        # so no fit saw another's weights or data.
        assert clf.score(X, y) > 0.7
        assert clf.score(X, y) == pytest.approx(sequential[seed], abs=0.1)


def test_a_two_valued_matrix_other_than_0_and_1_is_refused_as_a_multilabel_target():
    X = np.zeros((4, 2), dtype=np.float32)
    y = np.array([[0, 2], [2, 0], [0, 2], [2, 0]])
    with pytest.raises(ValueError, match="holds only 0 and 1"):
        MLPClassifier(max_epochs=1).fit(X, y)
