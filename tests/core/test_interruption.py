"""A fit killed with SIGKILL resumes from its checkpoint; a kill during a write loses nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from skdeep import MLPClassifier
from skdeep.callbacks import Checkpoint

EPOCHS = 12

# Runs in a child process: the same fit as the test's, slowed down so that it can be killed
# midway. ``callbacks`` do not enter the checkpoint's fingerprint, so SlowEpochs does not make
# it another model.
CHILD = """
import sys, time
import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Callback
from skorch.callbacks import Callback
from skdeep import MLPClassifier
from skdeep.callbacks import Checkpoint

torch.set_num_threads(1)
folder, mode = sys.argv[1], sys.argv[2]

class SlowEpochs(Callback):
    def on_epoch_end(self, net, **kwargs):
        time.sleep(0.3)

if mode == "hang-in-fourth-write":
    real_save, writes = torch.save, []
    def save(obj, f):
        writes.append(1)
        if len(writes) == 4:
            f.write(b"half a checkpoint")
            f.flush()
            open(folder + "/../writing", "w").close()
            time.sleep(600)
        real_save(obj, f)
    torch.save = save

X, y = load_digits(return_X_y=True)
MLPClassifier(hidden_layer_sizes=(16,), max_epochs=int(sys.argv[3]), random_state=0, device="cpu",
              callbacks=[SlowEpochs(), Checkpoint(folder, save_best_only=False, resume=True)]
              ).fit(X[:300] / 16, y[:300])
"""


def _estimator(folder):
    checkpoint = Checkpoint(folder, save_best_only=False, resume=True)
    return MLPClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=EPOCHS,
        random_state=0,
        device="cpu",
        callbacks=[checkpoint],
    )


@pytest.fixture
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def _saved_epochs(folder) -> int:
    files = list(folder.glob("checkpoint-*.pt"))
    if not files:
        return 0
    return len(json.loads(torch.load(files[0], weights_only=True)["history"]))


def _run_child(folder, mode, until):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), mode, str(EPOCHS)])
    try:
        deadline = time.monotonic() + 120
        while not until() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, "the child finished or died before it could be killed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def test_a_fit_killed_midway_resumes_and_ends_like_an_uninterrupted_one(tmp_path, digits):
    X, y = digits
    folder = tmp_path / "checkpoints"
    _run_child(folder, "plain", until=lambda: _saved_epochs(folder) >= 4)
    done = _saved_epochs(folder)
    assert 4 <= done < EPOCHS

    resumed = _estimator(folder).fit(X, y)
    assert resumed.history_[:, "epoch"] == list(range(1, EPOCHS + 1))
    whole = _estimator(tmp_path / "elsewhere").fit(X, y)
    np.testing.assert_allclose(
        resumed.history_[:, "train_loss"], whole.history_[:, "train_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(resumed.predict_proba(X), whole.predict_proba(X), atol=1e-5)


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path, digits):
    X, y = digits
    folder = tmp_path / "checkpoints"
    _run_child(folder, "hang-in-fourth-write", until=(tmp_path / "writing").exists)
    # The fourth write was cut short: the file still holds the third epoch, whole.
    assert _saved_epochs(folder) == 3
    assert list(folder.glob(".checkpoint-*.tmp"))  # the half-written file, never renamed

    resumed = _estimator(folder).fit(X, y)
    assert len(resumed.history_) == EPOCHS
    assert resumed.history_[:, "event_cp"] == [True] * EPOCHS
    # The killed writer's temporary file went with the next write.
    assert not list(folder.glob(".checkpoint-*.tmp"))


class _SignalAtEpoch(Callback):
    """Sends this process SIGINT (Ctrl-C) at the end of ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


class _StopAtEpoch(Callback):
    """Ends the fit as skorch's EarlyStopping does: by raising KeyboardInterrupt."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_ctrl_c_during_a_fit_reaches_the_caller_but_a_callback_stop_does_not(ctrl_c_raises):
    X, y = load_digits(return_X_y=True)
    X = X[:200] / 16
    y = y[:200]
    stopped = MLPClassifier(max_epochs=6, callbacks=[_StopAtEpoch(2)], random_state=0).fit(X, y)
    assert len(stopped.history_) == 2

    interrupted = MLPClassifier(max_epochs=6, callbacks=[_SignalAtEpoch(2)], random_state=0)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y)
    assert len(interrupted.net_.history) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
