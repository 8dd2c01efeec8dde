"""The fast path: tensor batches by index, and skorch's loop with its per-batch work trimmed.

What must hold: every sample is seen exactly once per epoch, the last batch holds the remainder,
the order is driven by ``random_state``, and training gives the same weights as a plain PyTorch
loop over the same batches and as skorch's own (untrimmed) loop.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.history import History

import skdeep.core._base
from skdeep import MLPClassifier, MLPRegressor
from skdeep.core._data import BatchIterator, TensorData
from skdeep.core._fast_loop import FastHistory, mean_loss
from skdeep.core._net import SkdeepNet
from skdeep.modules import MLP

N_SAMPLES = 50


def id_data(n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features whose first column is the sample's row number, so batches can be traced."""
    rng = np.random.RandomState(seed)
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 2))]).astype(np.float32)
    y = (X[:, 1] > 0).astype(int)
    return X, y


class BatchRecorder(Callback):
    """Record in each history row the sample ids of every training and validation batch."""

    def on_epoch_begin(self, net, **kwargs):
        self.train_, self.valid_, self.modes_ = [], [], []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        ids = batch[0][:, 0].round().long().tolist()
        (self.train_ if training else self.valid_).append(ids)

    def on_batch_end(self, net, training=False, **kwargs):
        self.modes_.append((training, net.module_.training))

    def on_epoch_end(self, net, **kwargs):
        net.history.record("train_ids", self.train_)
        net.history.record("valid_ids", self.valid_)
        net.history.record("modes", self.modes_)


class InitialWeights(Callback):
    """Keep a copy of the weights the training starts from."""

    def on_train_begin(self, net, **kwargs):
        self.state_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


class GradListener(Callback):
    """Listen to ``on_grad_computed``, which makes skorch's closure path run."""

    def on_epoch_begin(self, net, **kwargs):
        self.calls_ = 0

    def on_grad_computed(self, net, named_parameters, **kwargs):
        assert all(p.grad is not None for _, p in named_parameters)
        self.calls_ += 1

    def on_epoch_end(self, net, **kwargs):
        net.history.record("grad_calls", self.calls_)


def fit(X, y, **params):
    """A small classifier fitted with a :class:`BatchRecorder`."""
    defaults = {
        "hidden_layer_sizes": (8,),
        "batch_size": 7,
        "max_epochs": 3,
        "device": "cpu",
        "random_state": 0,
        "callbacks": [BatchRecorder()],
    }
    return MLPClassifier(**{**defaults, **params}).fit(X, y)


# -- the iterator -----------------------------------------------------------------------------


def test_shuffled_iterator_yields_every_row_of_a_subset_once_with_a_partial_last_batch():
    X = torch.arange(20.0)[:, None]
    data = TensorData(X, torch.arange(20), 10.0 * torch.arange(20)).subset(torch.arange(3, 14))
    torch.manual_seed(0)
    batches = list(BatchIterator(data, batch_size=4, shuffle=True))
    assert [len(Xb) for Xb, _ in batches] == [4, 4, 3]
    seen = torch.cat([Xb[:, 0] for Xb, _ in batches]).long()
    assert sorted(seen.tolist()) == list(range(3, 14))
    assert seen.tolist() != list(range(3, 14))  # shuffled
    for Xb, (yb, wb) in batches:  # targets and weights stay with their features
        assert torch.equal(yb, Xb[:, 0].long())
        assert torch.equal(wb, 10.0 * Xb[:, 0])


def test_unshuffled_iterator_keeps_the_order_and_slices_without_copying():
    data = TensorData(torch.arange(10.0)[:, None], torch.arange(10))
    batches = list(BatchIterator(data, batch_size=4))
    assert [Xb[:, 0].tolist() for Xb, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[1][0].data_ptr() == data.X[4:].data_ptr()
    subset = data.subset(torch.tensor([9, 2, 5]))
    assert [Xb[:, 0].tolist() for Xb, _ in BatchIterator(subset, batch_size=2)] == [[9, 2], [5]]


def test_subset_shares_the_arrays_instead_of_copying_them():
    data = TensorData(torch.zeros(100, 3), torch.zeros(100))
    subset = data.subset(torch.arange(50, 100)).subset(torch.tensor([0, 1]))
    assert subset.X is data.X and subset.y is data.y
    assert subset.rows.tolist() == [50, 51]
    assert len(subset) == 2


def test_iterator_refuses_other_datasets():
    with pytest.raises(TypeError, match="needs a TensorData"):
        BatchIterator([1, 2, 3], batch_size=2)


# -- what a fit sees --------------------------------------------------------------------------


def test_every_sample_is_seen_exactly_once_per_epoch_in_train_or_validation():
    X, y = id_data()
    est = fit(X, y, validation_fraction=0.2)
    valid_rows = None
    for row in est.history_:
        train = [i for batch in row["train_ids"] for i in batch]
        valid = [i for batch in row["valid_ids"] for i in batch]
        assert len(train) == len(set(train)) == 40
        assert len(valid) == len(set(valid)) == 10
        assert sorted(train + valid) == list(range(N_SAMPLES))
        # The split is made once per fit: the same validation samples every epoch.
        assert valid_rows is None or sorted(valid) == valid_rows
        valid_rows = sorted(valid)


def test_the_last_batch_holds_the_remainder():
    X, y = id_data()
    est = fit(X, y, validation_fraction=0.2, batch_size=16)
    assert est.history_[-1, "batches", :, "train_batch_size"] == [16, 16, 8]
    assert [len(b) for b in est.history_[-1, "train_ids"]] == [16, 16, 8]
    assert [len(b) for b in est.history_[-1, "valid_ids"]] == [10]


def test_train_loss_is_the_batch_size_weighted_mean_of_the_batch_losses():
    X, y = id_data()
    est = fit(X, y, validation_fraction=0.0, batch_size=16)
    for row in est.history_:
        losses = [b["train_loss"] for b in row["batches"]]
        sizes = [b["train_batch_size"] for b in row["batches"]]
        assert sizes == [16, 16, 16, 2]
        assert row["train_loss"] == pytest.approx(np.average(losses, weights=sizes), rel=1e-12)


def test_modules_are_in_train_mode_for_training_and_eval_mode_for_validation():
    X, y = id_data()
    est = fit(X, y, validation_fraction=0.2, dropout=0.5)
    modes = [mode for row in est.history_ for mode in row["modes"]]
    assert {training for training, _ in modes} == {True, False}
    assert all(training == module_training for training, module_training in modes)


def test_shuffling_is_driven_by_random_state():
    X, y = id_data()

    def order(random_state):
        est = fit(X, y, validation_fraction=0.0, random_state=random_state)
        return [row["train_ids"] for row in est.history_]

    first = order(0)
    assert first == order(0)
    assert first != order(1)
    assert first[0] != first[1]  # a new permutation every epoch
    torch.manual_seed(123)  # the global generator plays no part
    assert first == order(0)


# -- same training as a plain loop and as skorch's own loop -----------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_fitted_weights_equal_a_plain_torch_loop_over_the_same_batches(weighted):
    X, y = id_data()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=len(X)) if weighted else None
    est = MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=7,
        max_epochs=3,
        learning_rate=1e-2,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
        callbacks=[BatchRecorder(), InitialWeights()],
    ).fit(X, y, sample_weight=weights)
    initial = next(cb for _, cb in est.net_.callbacks_ if isinstance(cb, InitialWeights)).state_

    module = MLP(3, 2, (8,))
    module.load_state_dict(initial)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    w_t = torch.ones(len(X)) if weights is None else torch.from_numpy(weights / weights.mean())
    for row in est.history_:
        losses = []
        for ids in row["train_ids"]:
            ids = torch.tensor(ids)
            optimizer.zero_grad()
            per_sample = torch.nn.functional.cross_entropy(
                module(X_t[ids]), y_t[ids], reduction="none"
            )
            loss = (per_sample * w_t[ids].float()).mean()
            loss.backward()
            optimizer.step()
            losses.append((loss.item(), len(ids)))
        expected = np.average([v for v, _ in losses], weights=[n for _, n in losses])
        assert row["train_loss"] == pytest.approx(expected, rel=1e-5)
    for (name, fitted), (_, plain) in zip(
        est.net_.module_.state_dict().items(), module.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(fitted, plain, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    ("criterion", "y_true"),
    [
        (torch.nn.CrossEntropyLoss(reduction="none"), torch.tensor([0, 2, 1, 2, 0])),
        (torch.nn.MSELoss(reduction="none"), torch.randn(5, 3)),
        (torch.nn.HuberLoss(reduction="none", delta=0.5), torch.randn(5, 3)),
        (torch.nn.L1Loss(reduction="none"), torch.randn(5, 3)),
        # Class weights change what "mean" means: the per-sample path is kept.
        (
            torch.nn.CrossEntropyLoss(reduction="none", weight=torch.tensor([1.0, 5.0, 0.2])),
            torch.tensor([0, 2, 1, 2, 0]),
        ),
    ],
)
def test_mean_loss_is_the_mean_of_the_per_sample_losses(criterion, y_true):
    y_pred = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    per_sample = criterion(y_pred, y_true)
    expected = (
        per_sample.flatten(1).mean(dim=1).mean() if per_sample.dim() > 1 else per_sample.mean()
    )
    torch.testing.assert_close(mean_loss(criterion, y_pred, y_true), expected)
    assert criterion.reduction == "none"
    with pytest.raises((RuntimeError, ValueError)), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about broadcasting before it fails
        mean_loss(criterion, y_pred, y_true[:2])
    assert criterion.reduction == "none"


class StockLoopNet(SkdeepNet):
    """SkdeepNet with skorch's own per-batch machinery: the fast path off."""

    notify = NeuralNet.notify
    train_step = NeuralNet.train_step
    _set_training = NeuralNet._set_training
    infer = NeuralNet.infer
    initialize_history = NeuralNet.initialize_history
    run_single_epoch = NeuralNet.run_single_epoch


@pytest.mark.parametrize("grad_listener", [False, True])
def test_fast_path_on_and_off_give_identical_training(monkeypatch, grad_listener):
    X, y = id_data(60)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=len(X))
    callbacks = [BatchRecorder()] + ([GradListener()] if grad_listener else [])
    params = {
        "hidden_layer_sizes": (8, 8),
        "dropout": 0.3,
        "l2": 1e-3,
        "batch_size": 8,
        "max_epochs": 3,
        "learning_rate": 1e-2,
        "validation_fraction": 0.25,
        "random_state": 0,
        "device": "cpu",
        "callbacks": callbacks,
    }
    fast = MLPClassifier(**params).fit(X, y, sample_weight=weights)
    monkeypatch.setattr(skdeep.core._base, "SkdeepNet", StockLoopNet)
    stock = MLPClassifier(**params).fit(X, y, sample_weight=weights)
    assert type(stock.net_) is StockLoopNet and type(stock.history_) is History
    assert type(fast.history_) is FastHistory

    compared = ["train_loss", "valid_loss", "valid_acc", "train_ids", "valid_ids", "modes"]
    if grad_listener:
        compared.append("grad_calls")
        assert fast.history_[:, "grad_calls"] == [6] * 3
    for key in compared:
        assert fast.history_[:, key] == stock.history_[:, key], key
    # The same records, plus the "training" flag that skorch's own loop does not write.
    unflagged = [
        [{k: v for k, v in batch.items() if k != "training"} for batch in epoch]
        for epoch in fast.history_[:, "batches"]
    ]
    assert unflagged == stock.history_[:, "batches"]
    for a, b in zip(fast.net_.module_.parameters(), stock.net_.module_.parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(fast.predict_proba(X), stock.predict_proba(X))


def test_hooks_are_called_on_the_callbacks_installed_now():
    class Counter(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                row = net.history[-1]
                row["count"] = row.get("count", 0) + 1

    X, y = id_data()
    est = MLPClassifier(
        hidden_layer_sizes=(4,),
        batch_size=10,
        max_epochs=1,
        validation_fraction=0.0,
        device="cpu",
        random_state=0,
        warm_start=True,
    ).fit(X, y)
    est.net_.callbacks = [("counter", Counter())]
    est.net_.initialize_callbacks()
    est.fit(X, y)
    est.net_.callbacks = []
    est.net_.initialize_callbacks()
    est.fit(X, y)
    assert [row.get("count") for row in est.history_] == [None, 5, None]


# -- prediction -------------------------------------------------------------------------------


def test_predictions_do_not_depend_on_the_prediction_batch_size(monkeypatch):
    X, y = id_data(300)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0)
    est.fit(X, X[:, 1])
    whole = est.predict(X)
    monkeypatch.setattr(skdeep.core._base, "PREDICT_BATCH_SIZE", 7)
    np.testing.assert_allclose(est.predict(X), whole, rtol=1e-6, atol=1e-7)
    clf = fit(X, y, validation_fraction=0.0)
    X_t = torch.from_numpy(X)
    torch.testing.assert_close(
        clf.net_.predict_outputs(X_t, batch_size=13),
        clf.net_.predict_outputs(X_t, batch_size=len(X)),
        rtol=1e-6,
        atol=1e-6,
    )


# -- the history ------------------------------------------------------------------------------


def test_fast_history_reads_and_writes_like_skorchs():
    histories = [History(), FastHistory()]
    for history in histories:
        for epoch in range(3):
            history.new_epoch()
            history.record("epoch", epoch + 1)
            for batch in range(2):
                history.new_batch()
                history.record_batch("train_loss", epoch + batch / 10)
                history.record_batch("train_batch_size", 4)
            history.record("train_loss", float(epoch))
    stock, fast = histories
    for key in [
        -1,
        0,
        (-1, "batches"),
        (-1, "batches", -1, "train_loss"),
        (-1, "batches", slice(None), "train_loss"),
        (slice(None), "train_loss"),
        (slice(None), ("epoch", "train_loss")),
    ]:
        assert fast[key] == stock[key]
    with pytest.raises(IndexError):
        FastHistory()[-1]
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert fast.to_list() == stock.to_list()


def test_batch_losses_read_back_once_per_epoch_equal_those_read_per_batch(monkeypatch):
    import skdeep.core._fast_loop as fast_loop

    X, y = id_data()
    params = {"hidden_layer_sizes": (8,), "batch_size": 16, "max_epochs": 3}
    params.update(validation_fraction=0.2, device="cpu", random_state=0)
    per_batch = MLPClassifier(**params).fit(X, y)
    seen = []

    class SeesTensorsDuringTheEpoch(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            key = "train_loss" if training else "valid_loss"
            seen.append(torch.is_tensor(net.history[-1]["batches"][-1][key]))

    # What a GPU does: the losses stay tensors until the epoch's batches end.
    monkeypatch.setattr(fast_loop, "DEFERRED_LOSS_DEVICES", ("cuda", "cpu"))
    deferred = MLPClassifier(**params, callbacks=[SeesTensorsDuringTheEpoch()]).fit(X, y)
    assert seen and all(seen)
    for name in ("train_loss", "valid_loss"):
        assert deferred.history_[:, name] == per_batch.history_[:, name]
        batch_values = deferred.history_[:, "batches", :, name]
        assert batch_values == per_batch.history_[:, "batches", :, name]
        assert all(type(v) is float for epoch in batch_values for v in epoch)


def test_each_batch_record_says_whether_it_trained_or_validated():
    X, y = np.random.RandomState(0).rand(300, 4), np.arange(300) % 3
    clf = MLPClassifier(max_epochs=2, batch_size=64, validation_fraction=0.2, random_state=0)
    batches = clf.fit(X, y).history_[-1, "batches"]
    training = [batch for batch in batches if batch["training"]]
    validating = [batch for batch in batches if not batch["training"]]
    assert len(training) == 4 and all("train_loss" in batch for batch in training)  # 240 rows
    assert len(validating) == 1 and validating[0]["valid_batch_size"] == 60
    assert batches == training + validating  # training first
