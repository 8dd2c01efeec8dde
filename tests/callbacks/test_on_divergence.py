"""on_divergence: a diverging fit raises (default), stops with its history, or goes on."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from skdeep import MLPClassifier
from skdeep.callbacks import TrainingDivergedError, TrainingDivergedWarning


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


def extreme(**params):
    """The course's question 9: an extreme learning rate on a deep MLP."""
    return MLPClassifier(
        hidden_layer_sizes=(128,) * 3, learning_rate=1.0, max_epochs=5, random_state=0, **params
    )


def test_the_default_raises_as_before(digits):
    with pytest.raises(TrainingDivergedError, match="Training diverged"):
        extreme().fit(*digits)


def test_stop_keeps_the_history_and_finite_weights_and_warns(digits):
    with pytest.warns(TrainingDivergedWarning, match="on_divergence='stop'"):
        clf = extreme(on_divergence="stop").fit(*digits)
    assert clf.diverged_
    rows = clf.history_frame()
    assert rows["diverged"].iloc[-1] == True  # noqa: E712 (a pandas object column)
    assert len(rows) < 5  # it stopped
    weights = torch.cat([p.detach().ravel() for p in clf.net_.module_.parameters()])
    assert torch.isfinite(weights).all()
    proba = clf.predict_proba(digits[0])
    assert np.isfinite(proba).all()
    pytest.importorskip("matplotlib")
    figure = clf.plot_history(metrics=["loss", "acc"])  # what the student wanted to look at
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "acc"]


class BreakWeightsAfter(Callback):
    """Keeps the weights at the end of ``epoch``, then makes one of them NaN."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            self.kept_ = {k: v.clone() for k, v in net.module_.state_dict().items()}
            with torch.no_grad():
                next(net.module_.parameters()).view(-1)[0] = float("nan")


def test_stop_restores_the_weights_of_the_last_finite_epoch(digits):
    breaker = BreakWeightsAfter(2)
    clf = MLPClassifier(max_epochs=6, on_divergence="stop", callbacks=[breaker], random_state=0)
    with pytest.warns(TrainingDivergedWarning):
        clf.fit(*digits)
    assert len(clf.history_) == 3  # the NaN weight made epoch 3's loss NaN
    kept = dict(clf.net_.callbacks_)["BreakWeightsAfter"].kept_  # the fit's copy of it
    after = clf.net_.module_.state_dict()
    assert all(torch.equal(kept[k], after[k]) for k in kept)


def test_continue_trains_every_epoch_and_warns_once(digits):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = extreme(on_divergence="continue").fit(*digits)
    diverged = [w for w in caught if issubclass(w.category, TrainingDivergedWarning)]
    assert len(diverged) == 1 and "Training goes on" in str(diverged[0].message)
    assert len(clf.history_) == 5 and clf.diverged_
    assert clf.history_frame()["diverged"].notna().sum() == 1


def test_a_fit_that_does_not_diverge_says_so(digits):
    assert not MLPClassifier(max_epochs=2, random_state=0).fit(*digits).diverged_


def test_an_unknown_choice_is_refused_before_training(digits):
    with pytest.raises(ValueError, match="'on_divergence' parameter of MLPClassifier"):
        MLPClassifier(on_divergence="ignore").fit(*digits)
