"""label_smoothing: the loss every classifier trains on is torch's smoothed cross-entropy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.utils._param_validation import InvalidParameterError

from skdeep import CNNClassifier, MLPClassifier, MLPRegressor, NeuralNetClassifier
from skdeep.core._classifier import SmoothedBCEWithLogitsLoss


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


def linear(n_features_in, n_outputs):
    return torch.nn.Linear(n_features_in, n_outputs)


COMMON = {"device": "cpu", "random_state": 0, "max_epochs": 2, "validation_fraction": 0.2}
CLASSIFIERS = {
    "mlp": lambda **p: MLPClassifier(hidden_layer_sizes=(16,), **COMMON, **p),
    "cnn": lambda **p: CNNClassifier(
        filters=(4,), kernel_sizes=(3,), dense_units=(8,), **COMMON, **p
    ),
    "custom": lambda **p: NeuralNetClassifier(linear, **COMMON, **p),
}


def validation_rows(clf, y):
    _, valid = clf._validation_indices(np.searchsorted(clf.classes_, y))
    return valid


def outputs(clf, X):
    return clf._outputs(X).double()


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_valid_loss_is_torchs_cross_entropy_with_label_smoothing(digits, kind, smoothing):
    X, y = digits
    clf = CLASSIFIERS[kind](label_smoothing=smoothing).fit(X, y)
    valid = validation_rows(clf, y)
    target = torch.from_numpy(np.searchsorted(clf.classes_, y[valid]))
    expected = F.cross_entropy(outputs(clf, X[valid]), target, label_smoothing=smoothing)
    assert clf.history_[-1, "valid_loss"] == pytest.approx(float(expected), rel=1e-5)
    # ... and not the loss of the other setting.
    other = F.cross_entropy(outputs(clf, X[valid]), target, label_smoothing=0.2 - smoothing)
    assert clf.history_[-1, "valid_loss"] != pytest.approx(float(other), rel=1e-3)


def test_the_per_sample_weighted_loss_is_smoothed(digits):
    X, y = digits
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    clf = MLPClassifier(hidden_layer_sizes=(16,), **COMMON, label_smoothing=0.1)
    clf.fit(X, y, sample_weight=weights)
    logits = torch.randn(6, 10, dtype=torch.float32)
    target = torch.tensor([0, 3, 9, 2, 2, 5])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 0.0, 1.5])
    loss = clf.net_.get_loss(logits, (target, weight))
    expected = (
        F.cross_entropy(logits, target, label_smoothing=0.1, reduction="none") * weight
    ).mean()
    torch.testing.assert_close(loss, expected)


def test_smoothing_makes_the_network_less_confident(digits):
    X, y = digits
    params = {"hidden_layer_sizes": (32,), "device": "cpu", "random_state": 0, "max_epochs": 30}
    sharp = MLPClassifier(**params, learning_rate=0.01).fit(X, y)
    smooth = MLPClassifier(**params, learning_rate=0.01, label_smoothing=0.3).fit(X, y)
    assert smooth.predict_proba(X).max(axis=1).mean() < sharp.predict_proba(X).max(axis=1).mean()
    assert smooth.score(X, y) > 0.9


def test_multilabel_targets_are_smoothed_towards_one_half():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    X = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(16,), **COMMON, label_smoothing=0.2).fit(X, Y)
    assert isinstance(clf.net_.criterion_, SmoothedBCEWithLogitsLoss)
    _, valid = clf._validation_indices(Y)
    target = torch.from_numpy(Y[valid]).double() * 0.8 + 0.1
    expected = F.binary_cross_entropy_with_logits(outputs(clf, X[valid]), target)
    assert clf.history_[-1, "valid_loss"] == pytest.approx(float(expected), rel=1e-5)


def test_a_binary_label_is_smoothed_as_a_two_class_softmax_would_be():
    logit = torch.tensor([[0.7], [-1.3]])
    target = torch.tensor([[1.0], [0.0]])
    smoothed = SmoothedBCEWithLogitsLoss(0.3, reduction="none")(logit, target)
    # Two logits (0, z) have softmax probabilities (1 - sigmoid(z), sigmoid(z)).
    two_class = torch.cat([torch.zeros_like(logit), logit], dim=1)
    expected = F.cross_entropy(
        two_class, target[:, 0].long(), label_smoothing=0.3, reduction="none"
    )
    torch.testing.assert_close(smoothed[:, 0], expected)


def test_no_smoothing_keeps_the_plain_losses(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), **COMMON).fit(X, y)
    assert clf.label_smoothing == 0.0 and clf.net_.criterion_.label_smoothing == 0.0
    X_ml, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    multilabel = MLPClassifier(hidden_layer_sizes=(4,), **COMMON).fit(X_ml, Y)
    assert type(multilabel.net_.criterion_) is torch.nn.BCEWithLogitsLoss


@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, "0.1"])
def test_label_smoothing_outside_zero_to_one_is_refused(digits, value):
    X, y = digits
    clf = MLPClassifier(**COMMON, label_smoothing=value)
    with pytest.raises(InvalidParameterError, match="label_smoothing"):
        clf.fit(X, y)


def test_regressors_have_no_label_smoothing():
    assert "label_smoothing" not in MLPRegressor().get_params()
    with pytest.raises(TypeError):
        MLPRegressor(label_smoothing=0.1)
