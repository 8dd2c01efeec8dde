"""Progress of long runs: the weighted ETA, and a network's epochs shown while it trains."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.dummy import DummyClassifier

import skdeep.utils.progress as progress_module
from skdeep import MLPClassifier
from skdeep.compare import compare
from skdeep.utils.progress import EpochProgress, Progress


def test_the_eta_weighs_each_group_by_its_measured_unit_time():
    now = [0.0]
    progress = Progress(6, mode="quiet", groups={"network": 3, "linear": 3}, clock=lambda: now[0])
    progress.start("network")
    now[0] = 4.0
    progress.status("epoch 2/8", fraction=0.25)
    # The running unit: 4 s for a quarter, 12 s to go; two more network units, three
    # linear ones, all guessed at this unit's 16 s.
    assert progress.seconds_left() == pytest.approx(12 + 2 * 16 + 3 * 16)
    now[0] = 16.0
    progress.update()
    for _ in range(2):
        progress.start()
        now[0] += 16.0
        progress.update()
    progress.start("linear")
    now[0] += 1.0
    progress.update()
    # Count-based, it would be 2 x 49 / 4 s; weighted: two linear units of 1 s.
    assert progress.seconds_left() == pytest.approx(2.0)


def test_copies_of_the_epoch_callback_report_to_the_same_place():
    seen = []
    callback = EpochProgress(lambda text, fraction: seen.append((text, fraction)), "m: ")
    estimator = clone(MLPClassifier(max_epochs=2, callbacks=[callback]))
    X, y = load_iris(return_X_y=True)
    estimator.fit(X, y)
    assert [fraction for _, fraction in seen] == [0.5, 1.0]
    loss = estimator.history_[-1]["train_loss"]
    assert seen[-1][0] == f"m: epoch 2/2, loss {loss:.4f}"


def test_compare_shows_the_epochs_of_a_network_fold(monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    X, y = load_iris(return_X_y=True)
    out = io.StringIO()
    models = {
        "mlp": MLPClassifier(max_epochs=3, random_state=0),
        "dummy": DummyClassifier(),
    }
    monkeypatch.setattr("sys.stderr", out)
    result = compare(models, X, y, cv=2, progress="lines")
    lines = out.getvalue().splitlines()
    epochs = [line for line in lines if "mlp fold 1: epoch" in line]
    assert [line.split("epoch ")[1].split(",")[0] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert all("loss " in line and "ETA " in line for line in epochs)
    assert sum("dummy fold" in line for line in lines) == 2
    # The estimators given are left as they were.
    assert models["mlp"].callbacks is None
    assert np.isfinite(result.frame.loc["mlp", "accuracy_mean"])


def test_a_bar_shows_the_epochs_too():
    out = io.StringIO()
    tracker = Progress(1, "compare", mode="bar", stream=out)
    callback = EpochProgress(lambda text, fraction: tracker.status(text, fraction), "mlp: ")
    X, y = load_iris(return_X_y=True)
    MLPClassifier(max_epochs=2, callbacks=[callback]).fit(X, y)
    tracker.update("mlp done")
    tracker.close()
    assert "mlp: epoch 2/2, loss" in out.getvalue()
    assert "1/1" in out.getvalue()


def test_the_epochs_expected_of_an_early_stopped_fit_follow_its_best_epoch():
    from types import SimpleNamespace

    from skdeep.callbacks import EarlyStopping
    from skdeep.utils.progress import expected_epochs

    stopping = EarlyStopping(patience=10)
    net = SimpleNamespace(max_epochs=200, callbacks_=[("early_stopping", stopping)])
    stopping.best_epoch_ = 5
    assert expected_epochs(net, 6) == 20  # 2 x 5 + 10
    stopping.best_epoch_ = 150
    assert expected_epochs(net, 151) == 200  # never past max_epochs
    stopping.best_epoch_ = 1
    assert expected_epochs(net, 14) == 14  # never before the epoch it is at
    assert expected_epochs(SimpleNamespace(max_epochs=30, callbacks_=[]), 3) == 30


def test_a_comparisons_eta_is_not_inflated_by_epochs_early_stopping_will_not_run():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    etas, now = [], [0.0]
    progress = Progress(1, mode="quiet", clock=lambda: now[0])
    progress.start()

    def report(text, fraction):
        now[0] += 1.0  # one second an epoch
        progress.status(text, fraction)
        etas.append((len(etas) + 1, progress.seconds_left()))

    clf = MLPClassifier(max_epochs=300, early_stopping=True, n_iter_no_change=3, random_state=0)
    clf.set_params(callbacks=[EpochProgress(report)]).fit(X, y)
    epochs = len(clf.history_)
    assert epochs < 100
    # From the third epoch on, the time left stays within the time the fit had run, plus
    # the patience: it never counts the epochs up to max_epochs that it would not run.
    for epoch, eta in etas[2:]:
        assert eta <= epoch + 3 + 1, (epoch, eta, epochs)
    assert etas[-1][1] < 300 - epochs
