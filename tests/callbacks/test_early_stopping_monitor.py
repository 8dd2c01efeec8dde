"""early_stopping_monitor: which column early stopping watches, its direction, refusals."""

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback, EpochScoring

from skdeep import MLPClassifier, MLPRegressor, NeuralNetClassifier
from skdeep.callbacks import EarlyStopping

FAST = {"hidden_layer_sizes": (8,), "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def noisy(data):
    X, y = data
    rng = np.random.RandomState(0)
    return X, np.where(rng.rand(len(y)) < 0.4, rng.randint(0, 3, len(y)), y)  # easy to overfit


class WeightSnapshots(Callback):
    """Keep a copy of the module's weights at the end of every epoch."""

    def initialize(self):
        self.weights_ = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_[net.history[-1]["epoch"]] = copy.deepcopy(net.module_.state_dict())


class Sequence(Callback):
    """Record ``values[epoch - 1]`` as the history column ``name``."""

    def __init__(self, name, values):
        self.name = name
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.name, self.values[len(net.history) - 1])


class FixedScores(EpochScoring):
    """A skorch scoring callback whose scores the test sets."""

    values = [0.1, 0.3, 0.2, 0.5, 0.4, 0.45, 0.3, 0.9, 0.9, 0.9]

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.name, self.values[len(net.history) - 1])


def callback(estimator, name):
    return dict(estimator.net_.callbacks_)[name]


def best_epoch(values, tol, higher_is_better):
    """The epoch (from 1) early stopping calls best: the first to beat the best by > tol."""
    best, epoch = -math.inf, 0
    for index, value in enumerate(values, start=1):
        value = value if higher_is_better else -value
        if value > best + tol:
            best, epoch = value, index
    return epoch


OVERFITTING = {
    "hidden_layer_sizes": (64,),
    "device": "cpu",
    "random_state": 1,
    "learning_rate": 0.03,
    "max_epochs": 60,
    "validation_fraction": 0.3,
    "early_stopping": True,
    "n_iter_no_change": 4,
    "tol": 1e-3,
}


def test_valid_acc_stops_upwards_and_restores_the_best_accuracy_weights(noisy):
    X, y = noisy
    clf = MLPClassifier(
        **OVERFITTING,
        early_stopping_monitor="valid_acc",
        callbacks=[("snapshots", WeightSnapshots())],
    ).fit(X, y)
    accuracies = clf.history_[:, "valid_acc"]
    best = best_epoch(accuracies, 1e-3, higher_is_better=True)
    assert len(accuracies) == best + 4 < 60
    assert callback(clf, "early_stopping").best_epoch_ == best
    # Here the accuracy peaks later than the loss bottoms out: stopping on the loss would
    # have kept other weights.
    assert best != best_epoch(clf.history_[:, "valid_loss"], 1e-3, higher_is_better=False)
    restored = clf.net_.module_.state_dict()
    for name, tensor in callback(clf, "snapshots").weights_[best].items():
        torch.testing.assert_close(restored[name], tensor, rtol=0, atol=0)
    # The restored weights score the best epoch's validation accuracy.
    y_encoded = np.searchsorted(clf.classes_, y)
    _, valid = clf._validation_indices(y_encoded)
    assert np.mean(clf.predict(X[valid]) == y[valid]) == pytest.approx(accuracies[best - 1])


def test_the_default_monitor_is_valid_loss(noisy):
    X, y = noisy
    clf = MLPClassifier(**OVERFITTING).fit(X, y)
    assert callback(clf, "early_stopping").monitor == "valid_loss"
    best = best_epoch(clf.history_[:, "valid_loss"], 1e-3, higher_is_better=False)
    assert len(clf.history_) == best + 4


def test_a_scoring_callbacks_column_goes_the_way_the_callback_says(data):
    X, y = data
    # "valid_mcc" names no score word: read from its name alone it would be a loss.
    scorer = FixedScores("matthews_corrcoef", lower_is_better=False, name="valid_mcc")
    clf = MLPClassifier(
        **FAST,
        max_epochs=10,
        early_stopping=True,
        early_stopping_monitor="valid_mcc",
        n_iter_no_change=3,
        callbacks=[scorer],
    ).fit(X, y)
    stopping = callback(clf, "early_stopping")
    assert stopping.mode == "max" and not stopping.lower_is_better
    assert stopping.best_epoch_ == 4 and len(clf.history_) == 7


def test_a_real_scoring_callback_can_be_monitored(data):
    X, y = data
    f1 = EpochScoring("f1_macro", lower_is_better=False, name="valid_f1")
    clf = MLPClassifier(
        **FAST,
        max_epochs=30,
        early_stopping=True,
        early_stopping_monitor="valid_f1",
        n_iter_no_change=2,
        callbacks=[f1],
    ).fit(X, y)
    scores = clf.history_[:, "valid_f1"]
    assert len(scores) == best_epoch(scores, 1e-4, higher_is_better=True) + 2


def test_a_custom_callbacks_column_direction_is_read_from_its_name(data):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        max_epochs=10,
        early_stopping=True,
        early_stopping_monitor="fake_loss",
        n_iter_no_change=2,
        callbacks=[Sequence("fake_loss", [1.0, 0.5, 0.7, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])],
    ).fit(X, y)
    assert len(clf.history_) == 4  # best at epoch 2 (downwards), then 2 misses


def test_train_loss_needs_no_validation_split(data):
    X, y = data
    clf = MLPRegressor(
        **FAST,
        max_epochs=200,
        validation_fraction=0,
        early_stopping=True,
        early_stopping_monitor="train_loss",
        n_iter_no_change=2,
        tol=0.5,
    ).fit(X, y.astype(np.float32))
    losses = clf.history_[:, "train_loss"]
    assert "valid_loss" not in clf.history_[-1]
    assert len(losses) == best_epoch(losses, 0.5, higher_is_better=False) + 2 < 200


@pytest.mark.parametrize(
    ("estimator", "params", "match"),
    [
        (
            MLPClassifier,
            {"early_stopping_monitor": "valid_f1"},
            "early_stopping_monitor='valid_f1'",
        ),
        (MLPRegressor, {"early_stopping_monitor": "valid_acc"}, "records .'train_loss', 'valid_l"),
        (
            MLPClassifier,
            {"early_stopping_monitor": "valid_acc", "validation_fraction": 0},
            "stops on 'valid_acc', but validation_fraction=0",
        ),
    ],
)
def test_monitors_that_nothing_records_are_refused_before_training(data, estimator, params, match):
    X, y = data
    clf = estimator(**FAST, early_stopping=True, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_a_monitor_left_unrecorded_by_the_callbacks_fails_at_the_first_epoch(data):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        early_stopping=True,
        early_stopping_monitor="valid_f1",
        callbacks=[Sequence("fake_loss", [1.0] * 100)],
    )
    with pytest.raises(ValueError, match="monitors 'valid_f1', but epoch 1 .* has no such column"):
        clf.fit(X, y)


def test_the_monitor_plays_no_part_without_early_stopping(data):
    X, y = data
    clf = MLPClassifier(**FAST, max_epochs=2, early_stopping_monitor="anything").fit(X, y)
    assert len(clf.history_) == 2


def test_a_monitor_must_be_a_string(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="early_stopping_monitor"):
        MLPClassifier(**FAST, early_stopping=True, early_stopping_monitor=3).fit(X, y)


def test_custom_module_classifiers_take_it(data):
    X, y = data
    clf = NeuralNetClassifier(
        lambda n_in, n_out: torch.nn.Linear(n_in, n_out),
        device="cpu",
        random_state=0,
        max_epochs=40,
        early_stopping=True,
        early_stopping_monitor="valid_acc",
        n_iter_no_change=2,
    ).fit(X, y)
    accuracies = clf.history_[:, "valid_acc"]
    assert len(accuracies) == best_epoch(accuracies, 1e-4, higher_is_better=True) + 2


def test_early_stopping_callback_mode():
    assert EarlyStopping("valid_loss", mode="max").lower_is_better is False
    assert EarlyStopping("valid_acc", mode="min").lower_is_better is True
    assert EarlyStopping("valid_acc").lower_is_better is False
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up").initialize()
