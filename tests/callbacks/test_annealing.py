"""One-cycle and cosine schedules: every step's rate against torch's schedulers, and resuming."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from skorch.callbacks import Callback

from skdeep import MLPClassifier
from skdeep.callbacks import Checkpoint, CosineDecay, EarlyStopping, OneCycleLR

FAST = {"hidden_layer_sizes": (8,), "device": "cpu", "random_state": 0}
# 120 rows, 12 held out for validation: 108 training rows, 5 batches of 25 (the last of 8).
STEPS_PER_EPOCH = math.ceil(108 / 25)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


def batch_lrs(history):
    return [batch["lr"] for row in history for batch in row["batches"] if "lr" in batch]


def torch_rates(make_scheduler, n_steps, lr):
    """The rate of each of ``n_steps`` optimizer steps under a torch scheduler."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(n_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def torch_one_cycle(total_steps, lr):
    return torch_rates(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=lr, total_steps=total_steps, cycle_momentum=False
        ),
        total_steps,
        lr,
    )


def torch_cosine(total_steps, lr, warmup=0, eta_min=0.0):
    lr_scheduler = torch.optim.lr_scheduler

    def make(optimizer):
        cosine = lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=total_steps - warmup, eta_min=eta_min
        )
        if not warmup:
            return cosine
        linear = lr_scheduler.LinearLR(optimizer, 1 / (warmup + 1), 1.0, total_iters=warmup)
        return lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's deprecation notices
        return torch_rates(make, total_steps, lr)


def fit(X, y, **params):
    return MLPClassifier(**{**FAST, "batch_size": 25, **params}).fit(X, y)


class StopAt(Callback):
    """End the fit at the end of epoch ``epoch``, as an interruption would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class Sequence(Callback):
    """Record ``values[epoch - 1]`` as the history column ``name``."""

    def __init__(self, name, values):
        self.name = name
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.name, self.values[len(net.history) - 1])


# -- the rates of a fit ------------------------------------------------------------------------


@pytest.mark.parametrize("learning_rate", [0.01, 0.003])
def test_one_cycle_sets_every_step_as_torchs_one_cycle_lr(data, learning_rate):
    X, y = data
    clf = fit(X, y, learning_rate=learning_rate, max_epochs=6, lr_schedule="one_cycle")
    total = 6 * STEPS_PER_EPOCH
    assert sum(clf.history_[:, "train_batch_count"]) == total
    expected = torch_one_cycle(total, learning_rate)
    np.testing.assert_allclose(batch_lrs(clf.history_), expected, rtol=1e-12)
    # The peak is learning_rate, after 30% of the steps; the epoch's lr is its first step's.
    assert max(expected) == pytest.approx(learning_rate)
    assert int(np.argmax(expected)) == round(0.3 * total) - 1
    np.testing.assert_allclose(clf.history_[:, "lr"], expected[::STEPS_PER_EPOCH])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == expected[-1]
    assert clf.net_.optimizer_.param_groups[0]["betas"] == (0.9, 0.999)  # not cycled


def test_one_cycle_settings_are_torchs(data):
    X, y = data
    schedule = OneCycleLR(pct_start=0.5, div_factor=10.0, final_div_factor=100.0)
    clf = fit(X, y, learning_rate=0.02, max_epochs=4, lr_schedule=schedule)
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr=0.02,
            total_steps=4 * STEPS_PER_EPOCH,
            pct_start=0.5,
            div_factor=10.0,
            final_div_factor=100.0,
            cycle_momentum=False,
        ),
        4 * STEPS_PER_EPOCH,
        0.02,
    )
    np.testing.assert_allclose(batch_lrs(clf.history_), expected, rtol=1e-12)
    assert not hasattr(schedule, "total_steps_"), "the estimator's own callback was changed"


def test_cosine_sets_every_step_as_torchs_cosine_annealing_lr(data):
    X, y = data
    clf = fit(X, y, learning_rate=0.01, max_epochs=5, lr_schedule="cosine")
    total = 5 * STEPS_PER_EPOCH
    np.testing.assert_allclose(batch_lrs(clf.history_), torch_cosine(total, 0.01), rtol=1e-12)
    assert clf.history_[0, "lr"] == 0.01


def test_cosine_warm_up_is_torchs_linear_lr_then_cosine(data):
    X, y = data
    schedule = CosineDecay(warmup_fraction=0.25, min_lr=1e-4)
    clf = fit(X, y, learning_rate=0.01, max_epochs=4, lr_schedule=schedule)
    total = 4 * STEPS_PER_EPOCH  # 20 steps, 5 of warm-up
    lrs = batch_lrs(clf.history_)
    np.testing.assert_allclose(lrs, torch_cosine(total, 0.01, 5, 1e-4), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lrs[:6], [0.01 * (t + 1) / 6 for t in range(6)])


def test_the_peak_is_the_batch_size_scaled_rate(data):
    X, y = data
    scaled = {"batch_size": 128, "batch_size_scaling": "sqrt", "validation_fraction": 0}
    clf = fit(X, y, learning_rate=0.01, max_epochs=8, lr_schedule="one_cycle", **scaled)
    np.testing.assert_allclose(batch_lrs(clf.history_), torch_one_cycle(8, 0.02), rtol=1e-12)


# -- early stopping, partial_fit, warm start, checkpoints --------------------------------------


def early_stopped(lr_schedule, warm_start=False):
    # fake_loss improves at epochs 1 and 3 only; with patience 2 the fit stops at epoch 5. A
    # warm start begins counting again: epoch 6 improves, 7 and 8 miss, it stops at epoch 8.
    values = [1.0, 1.5, 0.5, 0.9, 0.8, 0.7, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    return {
        "learning_rate": 0.01,
        "max_epochs": 10,
        "lr_schedule": lr_schedule,
        "warm_start": warm_start,
        "callbacks": [Sequence("fake_loss", values), EarlyStopping("fake_loss", patience=2)],
    }


@pytest.mark.parametrize("name", ["one_cycle", "cosine"])
def test_early_stopping_ends_the_schedule_where_it_stops(data, name):
    X, y = data
    clf = fit(X, y, **early_stopped(name))
    assert len(clf.history_) == 5
    full = {"one_cycle": torch_one_cycle, "cosine": torch_cosine}[name](10 * STEPS_PER_EPOCH, 0.01)
    np.testing.assert_allclose(batch_lrs(clf.history_), full[: 5 * STEPS_PER_EPOCH], rtol=1e-12)


def test_a_warm_start_continues_the_schedule_where_it_stood(data):
    X, y = data
    clf = fit(X, y, **early_stopped("one_cycle", warm_start=True))
    assert len(clf.history_) == 5
    clf.fit(X, y)  # improves at epoch 6, then misses at 7 and 8: 3 more epochs
    assert len(clf.history_) == 8
    full = torch_one_cycle(10 * STEPS_PER_EPOCH, 0.01)
    np.testing.assert_allclose(batch_lrs(clf.history_), full[: 8 * STEPS_PER_EPOCH], rtol=1e-12)


def test_partial_fit_continues_the_schedule_and_then_keeps_its_last_rate(data):
    X, y = data
    clf = MLPClassifier(**FAST, batch_size=25, learning_rate=0.01, max_epochs=3)
    clf.set_params(lr_schedule="one_cycle")
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            clf.partial_fit(X, y, classes=[0, 1, 2])
    expected = torch_one_cycle(3 * STEPS_PER_EPOCH, 0.01)
    np.testing.assert_allclose(batch_lrs(clf.history_), expected, rtol=1e-12)
    with pytest.warns(UserWarning, match="spans max_epochs=3 epochs .15 steps"):
        clf.partial_fit(X, y)
    assert batch_lrs(clf.history_)[-STEPS_PER_EPOCH:] == [expected[-1]] * STEPS_PER_EPOCH
    # the same rates as one fit of max_epochs epochs
    whole = fit(X, y, learning_rate=0.01, max_epochs=3, lr_schedule="one_cycle")
    np.testing.assert_allclose(batch_lrs(whole.history_), expected, rtol=1e-12)


@pytest.mark.parametrize("schedule", ["one_cycle", CosineDecay(warmup_fraction=0.3)])
def test_a_resumed_checkpoint_continues_the_schedule(data, tmp_path, schedule):
    X, y = data
    params = {**FAST, "batch_size": 25, "learning_rate": 0.01, "max_epochs": 6}
    params["lr_schedule"] = schedule
    whole = MLPClassifier(**params).fit(X, y)
    checkpoint = Checkpoint(tmp_path, save_best_only=False, resume=True)
    MLPClassifier(**params, callbacks=[checkpoint, StopAt(3)]).fit(X, y)
    resumed = MLPClassifier(**params, callbacks=[copy.deepcopy(checkpoint)]).fit(X, y)
    assert resumed.history_[:, "epoch"] == [1, 2, 3, 4, 5, 6]
    # The epochs 4 to 6 were trained in the resumed fit, at the rates of the uninterrupted one.
    assert batch_lrs(resumed.history_) == batch_lrs(whole.history_)[3 * STEPS_PER_EPOCH :]
    np.testing.assert_allclose(resumed.history_[:, "lr"], whole.history_[:, "lr"])
    np.testing.assert_allclose(resumed.history_[:, "train_loss"], whole.history_[:, "train_loss"])
    pairs = zip(resumed.net_.module_.parameters(), whole.net_.module_.parameters(), strict=True)
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("schedule", "match"),
    [
        (OneCycleLR(pct_start=1.0), "0 < pct_start < 1"),
        (OneCycleLR(div_factor=0.5), "div_factor >= 1"),
        (CosineDecay(warmup_fraction=1.0), "0 <= warmup_fraction < 1"),
        (CosineDecay(min_lr=-1.0), "min_lr >= 0"),
    ],
)
def test_bad_settings_fail_before_training(data, schedule, match):
    X, y = data
    clf = MLPClassifier(**FAST, lr_schedule=schedule)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "history_")


def test_named_schedules_clone_and_show_their_settings():
    clf = clone(MLPClassifier(lr_schedule=CosineDecay(warmup_fraction=0.1)))
    assert repr(clf.lr_schedule) == "CosineDecay(warmup_fraction=0.1, min_lr=0.0)"
    assert repr(OneCycleLR()) == (
        "OneCycleLR(pct_start=0.3, div_factor=25.0, final_div_factor=10000.0)"
    )
