"""Each callback's effect against its formula or behaviour, alone and through estimator params."""

import copy
import math
import os
import pickle
import sys
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback
from skorch.history import History

from skdeep import MLPClassifier, MLPRegressor
from skdeep.callbacks import (
    BatchSizeScaling,
    Checkpoint,
    CyclicLR,
    EarlyStopping,
    ExponentialDecay,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
    TrainingDivergedError,
    lower_is_better_for,
)
from skdeep.plotting import plot_history
from skdeep.utils.memory import peak_rss_mb

matplotlib.use("Agg")

FAST = {"hidden_layer_sizes": (8,), "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


class Sequence(Callback):
    """Record ``values[epoch - 1]`` as the history column ``name``: a metric the test controls."""

    def __init__(self, name, values):
        self.name = name
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.name, self.values[len(net.history) - 1])


class WeightSnapshots(Callback):
    """Keep a copy of the module's weights at the end of every epoch."""

    def initialize(self):
        self.weights_ = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_[net.history[-1]["epoch"]] = copy.deepcopy(net.module_.state_dict())


class LayerGradNorms(Callback):
    """Measure every training step's per-layer gradient norm directly, for comparison."""

    def initialize(self):
        self.norms_ = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            squares = {}
            for name, p in net.module_.named_parameters():
                layer = name.rpartition(".")[0]
                squares[layer] = squares.get(layer, 0.0) + float(p.grad.norm()) ** 2
            self.norms_.append((net.history[-1]["epoch"], squares))


def callback(estimator, name):
    return dict(estimator.net_.callbacks_)[name]


def batch_lrs(history):
    return [batch["lr"] for row in history for batch in row["batches"] if "lr" in batch]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


# -- learning-rate schedules -------------------------------------------------------------------


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_sets_every_step_by_the_formula(data, staircase):
    X, y = data
    schedule = ExponentialDecay(decay_steps=3, decay_rate=0.5, staircase=staircase)
    clf = MLPClassifier(
        **FAST, learning_rate=0.01, batch_size=25, max_epochs=3, lr_schedule=schedule
    ).fit(X, y)
    lrs = batch_lrs(clf.history_)
    steps = sum(clf.history_[:, "train_batch_count"])
    assert steps == 3 * math.ceil(108 / 25)
    exponents = [s / 3 if not staircase else s // 3 for s in range(steps)]
    np.testing.assert_allclose(lrs, [0.01 * 0.5**e for e in exponents], rtol=1e-12)
    # The epoch's lr column is the rate of its first step; the optimizer holds the last one.
    first_steps = np.cumsum([0, *clf.history_[:-1, "train_batch_count"]])
    np.testing.assert_allclose(clf.history_[:, "lr"], np.array(lrs)[first_steps])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == lrs[-1]
    assert not hasattr(schedule, "step_"), "the estimator's own callback object was changed"


def test_exponential_decay_per_epoch_and_warm_start_continue_the_count(data):
    X, y = data
    clf = MLPClassifier(
        **FAST, learning_rate=0.01, batch_size=54, max_epochs=2, validation_fraction=0.1
    )
    clf.set_params(lr_schedule=ExponentialDecay(decay_steps="epoch", decay_rate=0.5))
    clf.fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)
    assert len(clf.history_) == 4
    # 108 training rows in batches of 54: two steps per epoch, halving per epoch.
    np.testing.assert_allclose(batch_lrs(clf.history_), [0.01 * 0.5 ** (s / 2) for s in range(8)])


def test_cyclic_lr_per_epoch_is_exactly_the_issue_formula(data):
    X, y = data
    base, top = 0.001, 0.01
    clf = MLPClassifier(
        **FAST,
        batch_size=200,
        max_epochs=45,
        validation_fraction=0,
        lr_schedule=CyclicLR(base_lr=base, max_lr=top, step_size=20),
    ).fit(X, y)
    expected = []
    for epoch in range(45):
        cycle = math.floor(1 + epoch / 40)
        expected.append(base + (top - base) * max(0, 1 - abs(epoch / 20 - 2 * cycle + 1)))
    np.testing.assert_allclose(clf.history_[:, "lr"], expected, rtol=1e-12)
    assert clf.history_[20, "lr"] == pytest.approx(top)  # epoch 21: the peak
    assert clf.history_[40, "lr"] == pytest.approx(base)  # epoch 41: a new cycle


@pytest.mark.parametrize(
    ("mode", "scale"),
    [
        ("triangular2", lambda t, cycle: 1 / 2 ** (cycle - 1)),
        ("exp_range", lambda t, cycle: 0.9**t),
    ],
)
def test_cyclic_lr_per_step_modes(data, mode, scale):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        batch_size=10,
        max_epochs=2,
        validation_fraction=0,
        lr_schedule=CyclicLR(0.001, 0.011, step_size=4, mode=mode, unit="batch", gamma=0.9),
    ).fit(X, y)
    lrs = batch_lrs(clf.history_)
    assert len(lrs) == 24
    expected = []
    for t in range(24):
        cycle = math.floor(1 + t / 8)
        x = abs(t / 4 - 2 * cycle + 1)
        expected.append(0.001 + 0.01 * max(0, 1 - x) * scale(t, cycle))
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_reduce_lr_on_plateau_follows_patience_and_floor(data):
    X, y = data
    # Improves until epoch 2, then never again.
    plateau = [1.0, 0.5] + [0.5] * 10
    clf = MLPClassifier(
        **FAST,
        learning_rate=0.01,
        max_epochs=12,
        callbacks=[Sequence("fake_loss", plateau)],
        lr_schedule=ReduceLROnPlateau(monitor="fake_loss", patience=2, min_lr=0.00005),
    ).fit(X, y)
    # More than `patience` bad epochs (3, 4, 5) divide the rate by 10 for epoch 6; 6, 7, 8
    # again for epoch 9; 9, 10, 11 would give 1e-5 for epoch 12, but min_lr holds it at 5e-5.
    expected = [0.01] * 5 + [0.001] * 3 + [0.0001] * 3 + [0.00005]
    np.testing.assert_allclose(clf.history_[:, "lr"], expected, rtol=1e-12)


def test_reduce_lr_on_plateau_reads_a_score_upwards(data):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        learning_rate=0.01,
        max_epochs=4,
        callbacks=[Sequence("fake_acc", [0.5, 0.6, 0.7, 0.8])],
        lr_schedule=ReduceLROnPlateau(monitor="fake_acc", patience=0),
    ).fit(X, y)
    assert clf.history_[:, "lr"] == [0.01] * 4  # a rising accuracy is an improvement


@pytest.mark.parametrize(("rule", "power"), [("sqrt", 0.5), ("linear", 1.0)])
@pytest.mark.parametrize("batch_size", [8, 32, 128])
def test_batch_size_scaling(data, rule, power, batch_size):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        learning_rate=0.002,
        batch_size=batch_size,
        max_epochs=2,
        batch_size_scaling=rule,
    ).fit(X, y)
    expected = 0.002 * (batch_size / 32) ** power
    np.testing.assert_allclose(clf.history_[:, "lr"], [expected] * 2, rtol=1e-12)
    assert BatchSizeScaling(32, rule).factor(batch_size) == pytest.approx(expected / 0.002)


def test_batch_size_scaling_feeds_the_schedule(data):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        learning_rate=0.001,
        batch_size=128,
        max_epochs=3,
        validation_fraction=0,
        batch_size_scaling="sqrt",
        lr_schedule="exponential",
    ).fit(X, y)
    # One step per epoch: 0.96 per epoch from the scaled rate 0.001 * 2.
    np.testing.assert_allclose(clf.history_[:, "lr"], [0.002 * 0.96**e for e in range(3)])


def test_named_cyclic_schedule_spans_a_tenth_to_the_rate(data):
    X, y = data
    clf = MLPClassifier(**FAST, learning_rate=0.01, max_epochs=11, lr_schedule="cyclic").fit(X, y)
    lrs = clf.history_[:, "lr"]
    assert lrs[0] == pytest.approx(0.001) and lrs[5] == pytest.approx(0.01)
    assert lrs[10] == pytest.approx(0.001)


# -- early stopping ----------------------------------------------------------------------------


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_epoch_and_restored_weights(data, restore):
    X, y = data
    # With min_delta=0.05: improvements at epochs 1, 2 and 4; 5, 6, 7 miss; stop at 7.
    values = [1.0, 0.8, 0.78, 0.7, 0.69, 0.68, 0.67, 0.1, 0.1, 0.1]
    clf = MLPClassifier(
        **FAST,
        max_epochs=10,
        callbacks=[
            Sequence("fake_loss", values),
            ("snapshots", WeightSnapshots()),
            EarlyStopping("fake_loss", patience=3, min_delta=0.05, restore_best_weights=restore),
        ],
    ).fit(X, y)
    assert len(clf.history_) == 7
    snapshots = callback(clf, "snapshots").weights_
    assert_same_weights(clf.net_.module_.state_dict(), snapshots[4 if restore else 7])
    assert callback(clf, "EarlyStopping").best_epoch_ == 4


def test_early_stopping_on_a_score_improves_upwards(data):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        max_epochs=10,
        callbacks=[
            Sequence("fake_acc", [0.5, 0.7, 0.6, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]),
            EarlyStopping("fake_acc", patience=2),
        ],
    ).fit(X, y)
    assert len(clf.history_) == 7  # best at epoch 5, then 2 epochs without a higher value


@pytest.mark.parametrize("save_best_only", [False, True])
def test_a_resumed_fit_stops_early_where_an_uninterrupted_one_does(data, tmp_path, save_best_only):
    X, y = data
    rng = np.random.RandomState(0)
    noisy = np.where(rng.rand(len(y)) < 0.4, rng.randint(0, 3, len(y)), y)  # easy to overfit
    params = {
        "hidden_layer_sizes": (64,),
        "device": "cpu",
        "random_state": 0,
        "learning_rate": 0.03,
        "validation_fraction": 0.3,
        "early_stopping": True,
        "n_iter_no_change": 4,
        "tol": 1e-3,
    }
    whole = MLPClassifier(**params, max_epochs=60).fit(X, noisy)
    stop = len(whole.history_)
    assert stop < 60
    checkpoint = Checkpoint(tmp_path, save_best_only=save_best_only, resume=True)
    # Interrupted two epochs before the stop, then resumed with the full budget.
    first = MLPClassifier(**params, max_epochs=stop - 2, callbacks=[checkpoint]).fit(X, noisy)
    resumed = clone(first).set_params(max_epochs=60).fit(X, noisy)
    assert len(resumed.history_) == stop
    np.testing.assert_allclose(resumed.history_[:, "valid_loss"], whole.history_[:, "valid_loss"])
    assert_same_weights(resumed.net_.module_.state_dict(), whole.net_.module_.state_dict())
    # Resumed once more after it stopped: it trains nothing and keeps the best weights.
    again = clone(first).set_params(max_epochs=60).fit(X, noisy)
    if not save_best_only:
        assert len(again.history_) == stop
    assert_same_weights(again.net_.module_.state_dict(), whole.net_.module_.state_dict())


def test_early_stopping_parameter_stops_on_valid_loss(data):
    X, y = data
    rng = np.random.RandomState(0)
    noisy = np.where(rng.rand(len(y)) < 0.4, rng.randint(0, 3, len(y)), y)  # easy to overfit
    clf = MLPClassifier(
        hidden_layer_sizes=(64,),
        device="cpu",
        random_state=0,
        learning_rate=0.03,
        max_epochs=60,
        validation_fraction=0.3,
        early_stopping=True,
        n_iter_no_change=4,
        tol=1e-3,
        callbacks=[("snapshots", WeightSnapshots())],
    ).fit(X, noisy)
    valid = clf.history_[:, "valid_loss"]
    assert len(valid) < 60
    best, best_epoch = math.inf, 0
    for epoch, value in enumerate(valid, start=1):
        if value < best - 1e-3:
            best, best_epoch = value, epoch
    assert len(valid) == best_epoch + 4
    assert_same_weights(
        clf.net_.module_.state_dict(), callback(clf, "snapshots").weights_[best_epoch]
    )


def test_early_stopping_without_validation_is_refused_before_training(data):
    X, y = data
    clf = MLPClassifier(**FAST, early_stopping=True, validation_fraction=0)
    with pytest.raises(ValueError, match="validation_fraction=0 holds no validation data"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_monitoring_a_missing_column_says_why(data):
    X, y = data
    clf = MLPClassifier(
        **FAST, validation_fraction=0, callbacks=[EarlyStopping("valid_acc", patience=2)]
    )
    with pytest.raises(ValueError, match="monitors 'valid_acc'.*validation_fraction > 0"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"lr_schedule": 0.5}, "lr_schedule"),
        ({"batch_size_scaling": "cubic"}, "batch_size_scaling"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"tol": -1.0}, "tol"),
        ({"early_stopping": "yes"}, "early_stopping"),
    ],
)
def test_bad_parameters_are_rejected(data, params, match):
    X, y = data
    with pytest.raises(InvalidParameterError, match=match):
        MLPClassifier(**FAST, **params).fit(X, y)


@pytest.mark.parametrize(
    ("schedule", "match"),
    [
        (CyclicLR(0.1, 0.01, 5), "base_lr <= max_lr"),
        (CyclicLR(0.001, 0.01, 5, mode="sine"), "mode must be one of"),
        (ExponentialDecay(0, 0.5), "decay_steps > 0"),
        (ReduceLROnPlateau(factor=2.0), "0 < factor < 1"),
    ],
)
def test_bad_callback_settings_fail_before_training(data, schedule, match):
    X, y = data
    clf = MLPClassifier(**FAST, lr_schedule=schedule)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_direction_of_monitors_is_read_from_names():
    assert lower_is_better_for("valid_loss") and lower_is_better_for("layer2_loss")
    assert not lower_is_better_for("valid_acc") and not lower_is_better_for("valid_r2")


# -- always on: epoch metrics and divergence ---------------------------------------------------


class TrainingBatchHits(Callback):
    """Record each training batch's correct predictions and size, from its own outputs."""

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            y_true = batch[1][0] if isinstance(batch[1], tuple) else batch[1]
            hits = int((y_pred.argmax(dim=1) == y_true).sum())
            net.history.record_batch("hits", hits)
            net.history.record_batch("size", len(y_true))


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_train_acc_is_the_running_accuracy_of_the_training_batches(data, class_weight):
    X, y = data  # 108 training rows in batches of 20: the last batch holds 8
    clf = MLPClassifier(
        **FAST,
        max_epochs=3,
        batch_size=20,
        dropout=0.5,
        class_weight=class_weight,
        callbacks=[TrainingBatchHits()],
    ).fit(X, y)
    batch_means = []
    for epoch in clf.history_:
        hits = [b["hits"] for b in epoch["batches"] if "hits" in b]
        sizes = [b["size"] for b in epoch["batches"] if "size" in b]
        assert sizes[-1] == 8 and sum(sizes) == 108
        assert epoch["train_acc"] == pytest.approx(sum(hits) / sum(sizes), abs=1e-12)
        batch_means.append(np.mean(np.divide(hits, sizes)))
    # Weighted by batch size: not the mean of the batches' accuracies.
    assert clf.history_[:, "train_acc"] != pytest.approx(batch_means, abs=1e-9)


def test_train_acc_is_not_a_second_pass_over_the_training_rows(data):
    X, y = data
    clf = MLPClassifier(**FAST, max_epochs=1, validation_fraction=0).fit(X, y)
    # With the weights at the end of the epoch, a second pass scores otherwise.
    assert clf.history_[-1, "train_acc"] != pytest.approx(clf.score(X, y), abs=1e-6)


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_skorch_training_scorers_work_on_skdeep_nets(data, class_weight):
    from skorch.callbacks import BatchScoring, EpochScoring

    X, y = data
    clf = MLPClassifier(
        **FAST,
        max_epochs=2,
        class_weight=class_weight,
        callbacks=[
            EpochScoring("accuracy", on_train=True, lower_is_better=False, name="epoch_acc"),
            BatchScoring("accuracy", on_train=True, lower_is_better=False, name="batch_acc"),
            EpochScoring("accuracy", lower_is_better=False, name="skorch_valid_acc"),
        ],
    ).fit(X, y)
    frame = clf.history_frame()
    np.testing.assert_allclose(frame["epoch_acc"], frame["train_acc"], atol=1e-12)
    np.testing.assert_allclose(frame["batch_acc"], frame["train_acc"], atol=1e-12)
    np.testing.assert_allclose(frame["skorch_valid_acc"], frame["valid_acc"], atol=1e-12)


def test_a_regressor_records_no_accuracy():
    X, y = diverging_regression()
    reg = MLPRegressor(**FAST, max_epochs=1).fit(X, np.zeros(len(X)))
    assert not {"train_acc", "valid_acc"} & set(reg.history_frame().columns)


class AllocateOnce(Callback):
    """Hold ``megabytes`` of touched memory during the first epoch of the fit."""

    def __init__(self, megabytes):
        self.megabytes = megabytes

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 1:
            block = np.ones(self.megabytes * 2**20, dtype=np.uint8)
            del block


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is reset on Linux")
def test_peak_rss_is_the_fits_own_after_a_larger_fit(data):
    X, y = data
    large = MLPClassifier(**FAST, max_epochs=1, callbacks=[AllocateOnce(400)]).fit(X, y)
    small = MLPClassifier(**FAST, max_epochs=1).fit(X, y)
    large_peak, small_peak = large.history_[-1, "peak_rss_mb"], small.history_[-1, "peak_rss_mb"]
    assert large_peak - small_peak > 300
    assert dict(large.net_.callbacks_)["epoch_metrics"].rss_reset_


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is reset on Linux")
def test_memory_increase_is_what_the_fit_allocated_even_after_a_larger_fit(data):
    X, y = data
    MLPClassifier(**FAST, max_epochs=1, callbacks=[AllocateOnce(300)]).fit(X, y)
    # The 300 MB freed by the first fit are handed back, not reused unseen by the second.
    second = MLPClassifier(**FAST, max_epochs=1, callbacks=[AllocateOnce(100)]).fit(X, y)
    plain = MLPClassifier(**FAST, max_epochs=1).fit(X, y)
    assert 95 < second.history_[-1, "memory_increase_mb"] < 150
    assert 0 <= plain.history_[-1, "memory_increase_mb"] < 50
    assert second.history_[-1, "memory_increase_mb"] <= second.history_[-1, "peak_rss_mb"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is reset on Linux")
def test_a_16_times_larger_batch_reports_a_larger_memory_increase():
    # Wide rows and a small network: the batches, not the weights, decide the memory.
    X = np.random.RandomState(0).rand(16384, 784).astype(np.float32)
    y = np.arange(16384) % 10

    def increase(batch_size):
        clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=batch_size, max_epochs=1,
                            validation_fraction=0, n_threads=1, random_state=0)  # fmt: skip
        return clf.fit(X, y).history_[-1, "memory_increase_mb"]

    increase(1024)  # one-off allocations of a first fit in this process
    pairs = [(increase(1024), increase(16384)) for _ in range(3)]
    small, large = (float(np.median(sizes)) for sizes in zip(*pairs, strict=True))
    # A 16384 x 784 float32 batch alone is 51 MB, a 1024-row one 3 MB.
    assert large > small + 20, pairs


def test_epoch_metrics_columns(data):
    X, y = data
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), device="cpu", max_epochs=2).fit(X, y)
    frame = clf.history_frame()
    assert [c for c in frame.columns if c.startswith("grad_norm_")] == [
        "grad_norm_0",
        "grad_norm_2",
        "grad_norm_4",
    ]
    assert (frame["epoch_time"] > 0).all() and (frame["epoch_time"] < 60).all()
    assert (frame["lr"] == 0.001).all()
    # The high-water mark since the fit's reset can only have grown since its last epoch, up
    # to the kernel's batching of its per-CPU memory counters (a few pages either way).
    assert 0 < frame["peak_rss_mb"].iloc[-1] <= peak_rss_mb() + 1.0
    assert (frame["peak_rss_mb"].diff().dropna() > -0.1).all()  # 0.1 MB: 25 pages
    assert "peak_cuda_mb" not in frame.columns  # on the CPU


@pytest.mark.parametrize(("batch_size", "sampled_steps"), [(20, range(6)), (1, range(0, 96, 3))])
def test_gradient_norms_are_the_rms_of_the_sampled_steps(data, batch_size, sampled_steps):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        batch_size=batch_size,
        max_epochs=2,
        validation_fraction=0.1,
        callbacks=[("spy", LayerGradNorms())],
    ).fit(X, y)
    # 108 training rows: 6 steps per epoch, all measured; or 108 steps, of which the default
    # 32 samples take every third (108 // 32 = 3).
    per_step = callback(clf, "spy").norms_
    for epoch in (1, 2):
        steps = [squares for e, squares in per_step if e == epoch]
        for layer in ("0", "2"):
            measured = [steps[i][layer] for i in sampled_steps]
            expected = math.sqrt(sum(measured) / len(measured))
            assert clf.history_[epoch - 1, f"grad_norm_{layer}"] == pytest.approx(
                expected, rel=1e-4
            )


def diverging_regression():
    X = np.linspace(0, 40, 60).reshape(-1, 1).astype(np.float32)
    return X, X.ravel() ** 3


def test_diverging_fit_stops_at_once_naming_the_epoch_and_learning_rate():
    X, y = diverging_regression()
    reg = MLPRegressor(**FAST, optimizer="sgd", learning_rate=10.0, max_epochs=20, batch_size=8)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1 \(batch \d+\).*learning_rate") as err:
        reg.fit(X, y)
    assert "try 1" in str(err.value)
    assert len(reg.net_.history) == 1  # no later epoch ran


def test_huge_targets_are_named_as_the_cause_of_a_divergence():
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = np.full(60, 1e30)
    with pytest.raises(TrainingDivergedError, match=r"y reaches 1e\+30.*standardise y") as err:
        MLPRegressor(**FAST, max_epochs=2).fit(X, y)
    assert "TransformedTargetRegressor" in str(err.value)
    assert "Lower the learning_rate" not in str(err.value)


def test_divergence_is_caught_at_epoch_end_without_host_losses():
    # A training loop that keeps losses on the device records no float per batch: the sum
    # accumulated on the device is checked when the epoch ends.
    history = History()
    history.new_epoch()
    history.record("epoch", 3)
    net = type("Net", (), {"history": history})()
    net.optimizer_ = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    guard = TerminateOnNaN()
    guard.on_epoch_begin(net)
    for loss in (1.0, float("nan"), 2.0):
        history.new_batch()
        guard.on_batch_end(net, training=True, loss=torch.tensor(loss))
    with pytest.raises(TrainingDivergedError, match="became nan in epoch 3.*it is 0.5; try 0.05"):
        guard.on_epoch_end(net)


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_diverging_candidate_fails_alone_in_a_grid_search():
    X, y = diverging_regression()
    search = GridSearchCV(
        MLPRegressor(**FAST, optimizer="sgd", max_epochs=3, batch_size=8),
        {"learning_rate": [1e-3, 100.0]},
        cv=2,
        error_score=np.nan,
        scoring="neg_mean_squared_error",
    )
    with pytest.warns(FitFailedWarning, match="TrainingDivergedError"):
        search.fit(X, y / 64000)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert search.best_params_ == {"learning_rate": 1e-3}


# -- checkpoints -------------------------------------------------------------------------------


def read_checkpoint(path):
    return torch.load(path, weights_only=True)


def test_checkpoint_every_n_epochs_writes_one_file_atomically(data, tmp_path):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        max_epochs=5,
        callbacks=[Checkpoint(tmp_path, every=2, save_best_only=False, filename="checkpoint.pt")],
    ).fit(X, y)
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # no temporary file left behind
    assert clf.history_[:, "event_cp"] == [False, True, False, True, False]
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert len(__import__("json").loads(saved["history"])) == 4
    assert set(saved) >= {"module", "optimizer", "history", "rng", "fingerprint"}


def test_checkpoint_save_best_only_keeps_the_best_epoch(data, tmp_path):
    X, y = data
    clf = MLPClassifier(
        **FAST,
        max_epochs=6,
        callbacks=[
            Sequence("fake_acc", [0.1, 0.5, 0.4, 0.6, 0.2, 0.3]),
            ("snapshots", WeightSnapshots()),
            Checkpoint(tmp_path, monitor="fake_acc", filename="checkpoint.pt"),
        ],
    ).fit(X, y)
    assert clf.history_[:, "event_cp"] == [True, True, False, True, False, False]
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert_same_weights(saved["module"], callback(clf, "snapshots").weights_[4])
    assert saved["best"] == 0.6


def test_resumed_fit_equals_an_uninterrupted_one(data, tmp_path):
    X, y = data
    params = {**FAST, "batch_size": 16, "dropout": 0.2, "lr_schedule": "exponential"}
    whole = MLPClassifier(**params, max_epochs=6).fit(X, y)
    checkpoint = Checkpoint(tmp_path, save_best_only=False, resume=True)
    first = MLPClassifier(**params, max_epochs=3, callbacks=[checkpoint]).fit(X, y)
    assert len(first.history_) == 3
    resumed = clone(first).set_params(max_epochs=6).fit(X, y)
    assert resumed.history_[:, "epoch"] == [1, 2, 3, 4, 5, 6]
    # Only epochs 4 to 6 were trained; the rest came back from the checkpoint.
    assert resumed.history_[:, "event_cp"] == [True] * 6
    np.testing.assert_allclose(resumed.history_[:, "train_loss"], whole.history_[:, "train_loss"])
    assert_same_weights(resumed.net_.module_.state_dict(), whole.net_.module_.state_dict())
    # A finished fit resumed again trains nothing more.
    again = clone(first).set_params(max_epochs=6).fit(X, y)
    assert len(again.history_) == 6
    assert_same_weights(again.net_.module_.state_dict(), whole.net_.module_.state_dict())


def test_an_epoch_field_in_the_filename_keeps_a_file_per_epoch_and_resumes_the_latest(
    data, tmp_path
):
    X, y = data
    params = {**FAST, "batch_size": 16, "lr_schedule": "exponential"}
    whole = MLPClassifier(**params, max_epochs=5).fit(X, y)
    every = Checkpoint(tmp_path, save_best_only=False, resume=True, filename="m-{epoch:02d}.pt")
    first = MLPClassifier(**params, max_epochs=3, callbacks=[every]).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-01.pt", "m-02.pt", "m-03.pt"]
    epoch_1 = (tmp_path / "m-01.pt").read_bytes()
    resumed = clone(first).set_params(max_epochs=5).fit(X, y)
    assert resumed.history_[:, "epoch"] == [1, 2, 3, 4, 5]
    assert sorted(every.epoch_files()) == [1, 2, 3, 4, 5]
    assert (tmp_path / "m-01.pt").read_bytes() == epoch_1  # earlier epochs are kept as saved
    assert_same_weights(resumed.net_.module_.state_dict(), whole.net_.module_.state_dict())


@pytest.mark.parametrize("filename", ["m-{step}.pt", "m-{epoch}-{}.pt", "m-{epochs}.pt"])
def test_a_filename_with_another_field_is_refused_before_training(data, tmp_path, filename):
    X, y = data
    clf = MLPClassifier(**FAST, callbacks=[Checkpoint(tmp_path, filename=filename)])
    with pytest.raises(ValueError, match=r"may hold one field, \{epoch\}"):
        clf.fit(X, y)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("resume", [False, True])
def test_checkpoint_of_another_model_is_neither_resumed_nor_overwritten(data, tmp_path, resume):
    X, y = data
    MLPClassifier(
        **FAST, max_epochs=1, callbacks=[Checkpoint(tmp_path, filename="checkpoint.pt")]
    ).fit(X, y)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    other = MLPClassifier(
        **{**FAST, "hidden_layer_sizes": (16,)},
        learning_rate=0.01,
        max_epochs=1,
        callbacks=[Checkpoint(tmp_path, resume=resume, filename="checkpoint.pt")],
    )
    with pytest.raises(ValueError, match="different model.*hidden_layer_sizes.*learning_rate"):
        other.fit(X, y)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not hasattr(other, "history_")


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(data, tmp_path, monkeypatch):
    X, y = data
    checkpoint = Checkpoint(tmp_path, save_best_only=False, filename="checkpoint.pt")
    params = {**FAST, "max_epochs": 2, "callbacks": [checkpoint]}
    MLPClassifier(**params).fit(X, y)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def killed_mid_write(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(OSError, match="disk full"):
        MLPClassifier(**params).fit(X, y)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_each_fit_of_a_search_writes_its_own_checkpoint(data, tmp_path):
    X, y = data
    checkpoint = Checkpoint(tmp_path, save_best_only=False, resume=True)
    search = GridSearchCV(
        MLPClassifier(**FAST, max_epochs=2, callbacks=[checkpoint]),
        {"learning_rate": [1e-3, 1e-2]},
        cv=3,
        n_jobs=2,
        refit=False,
    ).fit(X, y)
    # Two candidates x three folds, each with its own file; none was resumed from another's.
    assert len(list(tmp_path.glob("checkpoint-*.pt"))) == 6
    assert not list(tmp_path.glob("*.tmp"))
    first_scores = search.cv_results_["mean_test_score"]
    again = clone(search).fit(X, y)
    # Run again, every fit finds its own finished checkpoint and trains nothing more.
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"], first_scores)
    assert len(list(tmp_path.glob("checkpoint-*.pt"))) == 6


# -- TensorBoard -------------------------------------------------------------------------------


def test_tensorboard_events_and_hparams_read_back(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    X, y = data
    clf = MLPClassifier(
        **FAST, max_epochs=3, learning_rate=0.005, callbacks=[TensorBoard(tmp_path, run_name="a")]
    ).fit(X, y)
    events = EventAccumulator(str(tmp_path / "a"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "Loss/train_loss",
        "Loss/valid_loss",
        "Accuracy/valid_acc",
        "LearningRate/lr",
        "GradNorm/0",
        "Metrics/epoch_time",
    } <= tags
    logged = events.Scalars("Loss/valid_loss")
    assert [e.step for e in logged] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in logged], clf.history_[:, "valid_loss"], rtol=1e-6)
    final = events.Scalars("hparam/valid_acc")[-1].value
    assert final == pytest.approx(clf.history_[-1, "valid_acc"])
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    session = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert session.hparams["learning_rate"].number_value == 0.005
    assert session.hparams["hidden_layer_sizes"].string_value == "8"  # "512x256" for two
    assert session.hparams["n_hidden_layers"].number_value == 1
    assert session.hparams["optimizer"].string_value == "adam"
    assert pickle.loads(pickle.dumps(clf)).net_.history == clf.history_  # the writer is closed


def test_tensorboard_writes_one_run_per_fit(data, tmp_path):
    X, y = data
    clf = MLPClassifier(**FAST, max_epochs=1, callbacks=[TensorBoard(tmp_path, hparams=False)])
    clf.fit(X, y)
    clf.fit(X, y)
    assert len(os.listdir(tmp_path)) == 2
    # A name given twice is not shared: the second fit's events go to "name-2".
    named = MLPClassifier(**FAST, max_epochs=1, callbacks=[TensorBoard(tmp_path, run_name="n")])
    named.fit(X, y)
    named.fit(X, y)
    assert {"n", "n-2"} <= set(os.listdir(tmp_path))


# -- searches over the parameters --------------------------------------------------------------


def test_grid_search_over_callback_parameters_and_batch_size(data):
    X, y = data
    grid = [
        {
            "lr_schedule": ["exponential", "cyclic", "plateau", CyclicLR(1e-3, 1e-2, 2)],
            "batch_size": [64],
        },
        {
            "early_stopping": [True],
            "n_iter_no_change": [1],
            "batch_size_scaling": [None, "linear"],
            "batch_size": [32, 64],
        },
    ]
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(**FAST, max_epochs=2)),
        [{f"mlpclassifier__{k}": v for k, v in part.items()} for part in grid],
        cv=2,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitFailedWarning)
        search.fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_[-1]
    assert best.get_params()["batch_size"] in (32, 64)
    scaled = clone(search.estimator).set_params(
        mlpclassifier__batch_size=64, mlpclassifier__batch_size_scaling="linear"
    )
    assert scaled.fit(X, y)[-1].history_[0, "lr"] == pytest.approx(0.002)


def test_callback_objects_survive_clone_and_show_their_parameters():
    clf = MLPClassifier(lr_schedule=CyclicLR(0.001, 0.01, 4, mode="triangular2"))
    copied = clone(clf)
    assert copied.lr_schedule is not clf.lr_schedule
    assert copied.lr_schedule.get_params() == clf.lr_schedule.get_params()
    assert "CyclicLR(base_lr=0.001, max_lr=0.01, step_size=4, mode='triangular2'" in repr(clf)


# -- history plots -----------------------------------------------------------------------------


def test_plot_history_draws_training_and_validation_curves(data, tmp_path):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**FAST, max_epochs=4)).fit(X, y)
    figure = plot_history(pipe)
    loss_axes, acc_axes = figure.axes
    assert [line.get_label() for line in loss_axes.get_lines()] == ["training", "validation"]
    np.testing.assert_allclose(
        loss_axes.get_lines()[1].get_ydata(), pipe[-1].history_[:, "valid_loss"]
    )
    np.testing.assert_array_equal(acc_axes.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    assert [line.get_label() for line in acc_axes.get_lines()] == ["training", "validation"]
    np.testing.assert_allclose(
        acc_axes.get_lines()[0].get_ydata(), pipe[-1].history_[:, "train_acc"]
    )
    figure.savefig(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 1000

    figure = pipe[-1].plot_history(metrics=["lr", "grad_norm_0"])
    assert [ax.get_ylabel() for ax in figure.axes] == ["lr", "grad_norm_0"]
    with pytest.raises(ValueError, match="no column for metric 'f1'"):
        pipe[-1].plot_history(metrics=["f1"])


def test_plot_history_of_a_regressor_leaves_accuracy_out():
    X, y = diverging_regression()
    reg = MLPRegressor(**FAST, max_epochs=2).fit(X / 40, y / 64000)
    assert [ax.get_ylabel() for ax in plot_history(reg.history_).axes] == ["loss"]
    assert [ax.get_ylabel() for ax in plot_history(reg.history_frame()).axes] == ["loss"]


# -- fingerprints across processes --------------------------------------------------------------

FINGERPRINT_SCRIPT = """
from torch import nn
from skdeep import NeuralNetClassifier
from skdeep.utils.reprs import stable_repr

def builder_of(width):
    return lambda n_features, n_classes: nn.Sequential(
        nn.Linear(n_features, width), nn.ReLU(), nn.Linear(width, n_classes)
    )

def fingerprint(width):
    estimator = NeuralNetClassifier(
        module=builder_of(width), freeze=lambda name, parameter: name.startswith("0.")
    )
    return {k: stable_repr(v) for k, v in sorted(estimator.get_params(deep=False).items())}
"""


def test_fingerprint_of_an_estimator_holding_lambdas_is_the_same_in_a_fresh_process():
    import json
    import subprocess

    namespace = {"__name__": "__main__"}
    exec(FINGERPRINT_SCRIPT, namespace)
    here = namespace["fingerprint"](16)
    script = FINGERPRINT_SCRIPT + "\nimport json; print(json.dumps(fingerprint(16)))"
    fresh = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(fresh.stdout) == here
    assert "0x" not in here["module"] + here["freeze"]
    assert here["module"].startswith("__main__.builder_of.<locals>.<lambda>[")
    # Another width in the closure is another model: it must not resume this one's checkpoint.
    assert namespace["fingerprint"](32)["module"] != here["module"]


def test_batch_accuracy_counts_copies_across_full_buffers_and_large_batches(monkeypatch):
    from skdeep.callbacks import _metrics

    monkeypatch.setattr(_metrics, "PENDING_ROWS", 16)
    recorded = {}
    net = type("Net", (), {})()
    net.history = type("History", (), {"record": lambda self, k, v: recorded.update({k: v})})()
    callback = _metrics.TrainAccuracy()
    generator = torch.Generator().manual_seed(0)
    hits = rows = 0
    callback.on_epoch_begin(net)
    for size in (5, 7, 6, 20, 3, 16, 1):  # fills and overflows the 16 rows; 20 and 16 at once
        outputs = torch.randn(size, 3, generator=generator)
        targets = torch.randint(0, 3, (size,), generator=generator)
        hits += int((outputs.argmax(dim=1) == targets).sum())
        rows += size
        callback.on_batch_end(net, batch=(None, targets), training=True, y_pred=outputs)
        outputs.zero_()  # the batch's tensors may be reused once the hook returns
        targets.fill_(-1)
    callback.on_epoch_end(net)
    assert recorded["train_acc"] == pytest.approx(hits / rows)
    callback.on_train_end(net)
    assert callback.buffers_ is None
