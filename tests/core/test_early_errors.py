"""Bad setups refused before training, and fits that diverge refused while training."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skdeep import CNNClassifier, MLPClassifier, NeuralNetClassifier, NeuralNetRegressor
from skdeep.callbacks import TerminateOnNaN, TrainingDivergedError

FAST = {"max_epochs": 3, "hidden_layer_sizes": (16,), "device": "cpu", "random_state": 0}
TINY_CNN = {"max_epochs": 1, "filters": (2,), "kernel_sizes": (3,), "dense_units": (3,)}
TINY_CNN |= {"device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=60, n_features=6, n_classes=2, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def assert_refused_before_training(estimator, X, y, message, error=ValueError):
    with pytest.raises(error, match=message):
        estimator.fit(X, y)
    assert not hasattr(estimator, "net_"), "the error came after training had started"


# -- CNN shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(60, 1, 1, 8, 8), (60, 1, 1, 1, 8, 8)])
@pytest.mark.parametrize("input_shape", [None, (1, 8, 8)])
def test_a_cnn_refuses_5d_and_6d_images(shape, input_shape):
    X = np.random.RandomState(0).rand(*shape).astype(np.float32)
    cnn = CNNClassifier(**TINY_CNN, input_shape=input_shape)
    assert_refused_before_training(cnn, X, np.arange(60) % 2, f"X has {len(shape)} dimensions")


@pytest.mark.parametrize("input_shape", [(8.5, 8), (True, 8, 8), (8, 8.0), ("8", 8)])
def test_a_cnn_refuses_input_shapes_that_are_not_integers(input_shape):
    X = np.random.RandomState(0).rand(60, 64).astype(np.float32)
    cnn = CNNClassifier(**TINY_CNN, input_shape=input_shape)
    message = r"input_shape must be .* of positive integers, got " + re.escape(repr(input_shape))
    assert_refused_before_training(cnn, X, np.arange(60) % 2, message)


def test_a_cnn_refuses_images_whose_layout_predict_would_refuse():
    # 64 values per sample, but laid out (4, 16): not the declared (8, 8) images.
    X = np.random.RandomState(0).rand(60, 4, 16).astype(np.float32)
    cnn = CNNClassifier(**TINY_CNN, input_shape=(8, 8))
    assert_refused_before_training(cnn, X, np.arange(60) % 2, r"\(4, 16\), which is not input")
    # Flat rows are reshaped into the declared images, at fit as at predict.
    flat = X.reshape(60, 64)
    fitted = CNNClassifier(**TINY_CNN, input_shape=(8, 8)).fit(flat, np.arange(60) % 2)
    assert fitted.input_shape_ == (1, 8, 8)
    assert fitted.predict(flat[:3]).shape == (3,)


# -- options that need rows or objects they do not get ------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        ({"early_stopping": True}, "early_stopping=True monitors"),
        ({"lr_schedule": "plateau"}, "lr_schedule='plateau' monitors"),
    ],
)
def test_a_validation_split_without_rows_is_refused_when_an_option_needs_it(blobs, option, message):
    X, y = blobs
    # 0.01 of 60 samples rounds to 0 validation rows.
    clf = MLPClassifier(**FAST, validation_fraction=0.01, **option)
    full = message + r".*validation_fraction=0.01 of 60 samples holds out no row.*0.0167"
    assert_refused_before_training(clf, X, y, full)
    # Without such an option, the fit trains on every row.
    assert len(MLPClassifier(**FAST, validation_fraction=0.01).fit(X, y).history_) == 3


@pytest.mark.parametrize("entry", [object(), ("name", object()), "early_stopping"])
def test_callbacks_that_are_not_skorch_callbacks_are_refused(blobs, entry):
    X, y = blobs
    clf = MLPClassifier(**FAST, callbacks=[entry])
    assert_refused_before_training(clf, X, y, r"callbacks\[0\] is of type", TypeError)


def test_callback_classes_and_named_callbacks_are_accepted(blobs):
    X, y = blobs

    class Count(Callback):
        epochs = 0

        def on_epoch_end(self, net, **kwargs):
            type(self).epochs += 1

    MLPClassifier(**FAST, callbacks=[Count, ("count", Count())]).fit(X, y)
    assert Count.epochs == 6  # two callbacks, three epochs


@pytest.mark.parametrize("estimator", [NeuralNetClassifier, NeuralNetRegressor])
def test_a_custom_module_that_cannot_take_the_samples_is_a_clear_error(estimator):
    X = np.random.RandomState(0).rand(20, 3, 4).astype(np.float32)
    y = np.arange(20) % 2
    net = estimator(lambda n_in, n_out: torch.nn.Linear(n_in, n_out), max_epochs=1, device="cpu")
    message = r"The module cannot take samples of shape \(3, 4\).*mat1 and mat2.*nn.Flatten"
    assert_refused_before_training(net, X, y, message)


def test_a_dataframe_of_numbers_in_object_columns_fits_as_the_numpy_array(blobs):
    X, y = blobs
    frame = pd.DataFrame(X.astype(object), columns=[f"f{i}" for i in range(X.shape[1])])
    assert all(pd.api.types.is_object_dtype(d) for d in frame.dtypes)
    from_frame = MLPClassifier(**FAST).fit(frame, y)
    from_array = MLPClassifier(**FAST).fit(X.astype(object), y)
    np.testing.assert_array_equal(from_frame.predict_proba(frame), from_array.predict_proba(X))
    # Text that is not a number is still refused, by name.
    frame["f0"] = ["a"] * len(frame)
    message = r"X has non-numeric columns \['f0'\]"
    assert_refused_before_training(MLPClassifier(**FAST), frame, y, message)


# -- divergence ---------------------------------------------------------------------------------


def test_a_classifier_whose_loss_explodes_raises(digits):
    X, y = digits
    clf = MLPClassifier(optimizer="sgd", learning_rate=1e3, max_epochs=3, device="cpu")
    with pytest.raises(TrainingDivergedError, match=r"grew to .* more than 100 times .* epoch 1"):
        clf.fit(X, y)  # raw pixels, 0 to 16: the loss reaches about 1e18 in epoch 1


def test_a_healthy_fit_stays_well_below_the_bound(digits):
    X, y = digits
    clf = MLPClassifier(**FAST).fit(X / 16, y)
    start = clf.net_.callbacks_[[n for n, _ in clf.net_.callbacks_].index("terminate_on_nan")]
    guard = start[1]
    # The starting point is the first batch's loss, at least ln(10) for 10 classes.
    assert guard.start_loss_ >= np.log(10)
    first_batch = clf.history_[0, "batches", 0, "train_loss"]
    assert guard.start_loss_ == pytest.approx(max(first_batch, np.log(10)))
    assert max(clf.history_[:, "train_loss"]) < guard.start_loss_


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_an_exploding_candidate_fails_in_a_grid_search(digits):
    X, y = digits
    clf = MLPClassifier(optimizer="sgd", max_epochs=2, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn's "fits failed"
        search = GridSearchCV(clf, {"learning_rate": [1e3, 1e-2]}, cv=2).fit(X[:600], y[:600])
    scores = search.cv_results_["mean_test_score"]
    assert np.isnan(scores[0])  # failed, not scored 0.098
    assert scores[1] > 0.5
    assert search.best_params_ == {"learning_rate": 1e-2}


def test_weights_that_stop_being_finite_raise(blobs):
    X, y = blobs

    class Poison(Callback):
        # After the last batch of epoch 2, when the loss was still finite.
        def on_batch_end(self, net, training=False, **kwargs):
            if training and len(net.history) == 2:
                with torch.no_grad():
                    next(net.module_.parameters())[0, 0] = float("inf")

    clf = MLPClassifier(**FAST, validation_fraction=0.0, batch_size=60, callbacks=[Poison()])
    with pytest.raises(
        TrainingDivergedError, match="the weights became NaN or infinite in epoch 2"
    ):
        clf.fit(X, y)


def test_the_growth_bound_is_a_parameter():
    assert TerminateOnNaN().max_loss_growth == 100.0
    assert TerminateOnNaN(max_loss_growth=10.0).get_params()["max_loss_growth"] == 10.0
