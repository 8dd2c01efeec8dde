"""Denormal floats are flushed to zero while a CPU fit trains, and the caller's state restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skdeep import MLPClassifier
from skdeep.search import StackedSearchCV
from skdeep.search.stacked._trainer import StackedTrainer
from skdeep.utils.denormals import denormals_flushed, flushed_denormals

pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU cannot flush denormal floats"
)

DENORMAL = torch.finfo(torch.float32).tiny / 4


class RecordFlushing(Callback):
    """Record, at every training batch, whether denormals are flushed; optionally fail."""

    def __init__(self, fail=False):
        self.fail = fail

    def initialize(self):
        self.seen_ = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.seen_.append(denormals_flushed())
            if self.fail:
                raise RuntimeError("failing on purpose")


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


@pytest.fixture
def not_flushing():
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def test_a_denormal_survives_arithmetic_only_outside_the_block(not_flushing):
    tensor = torch.tensor([DENORMAL])
    assert (tensor * 1.0).item() > 0.0
    with flushed_denormals():
        assert (tensor * 1.0).item() == 0.0
        assert denormals_flushed()
    assert (tensor * 1.0).item() > 0.0
    assert not denormals_flushed()


def test_the_block_restores_the_state_when_it_raises(not_flushing):
    with pytest.raises(ValueError), flushed_denormals():
        raise ValueError
    assert not denormals_flushed()


def test_a_caller_that_flushes_keeps_flushing(not_flushing):
    torch.set_flush_denormal(True)
    with flushed_denormals():
        assert denormals_flushed()
    assert denormals_flushed()


def test_nothing_changes_for_a_gpu_device(not_flushing):
    with flushed_denormals("cuda"):
        assert not denormals_flushed()


def test_a_fit_trains_flushing_and_restores_the_callers_state(not_flushing, data):
    clf = MLPClassifier(max_epochs=2, callbacks=[RecordFlushing()], random_state=0).fit(*data)
    seen = dict(clf.net_.callbacks_)["RecordFlushing"].seen_
    assert seen and all(seen)
    assert not denormals_flushed()


def test_a_failed_fit_restores_the_callers_state(not_flushing, data):
    clf = MLPClassifier(max_epochs=2, callbacks=[RecordFlushing(fail=True)])
    with pytest.raises(RuntimeError, match="on purpose"):
        clf.fit(*data)
    assert not denormals_flushed()


def test_a_stacked_search_trains_flushing_and_restores_the_callers_state(
    not_flushing, data, monkeypatch
):
    seen = []
    train = StackedTrainer._train

    def recording_train(self):
        seen.append(denormals_flushed())
        return train(self)

    monkeypatch.setattr(StackedTrainer, "_train", recording_train)
    search = StackedSearchCV(MLPClassifier(max_epochs=1), {"learning_rate": [1e-3, 1e-2]}, cv=2)
    search.fit(*data)
    assert seen and all(seen)
    assert not denormals_flushed()
