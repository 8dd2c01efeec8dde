"""A checkpoint resumes only the fit it belongs to: same model, same data, same weights."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, cross_val_score, cross_validate

from skdeep import MLPClassifier
from skdeep.callbacks import Checkpoint

PARAMS = {"hidden_layer_sizes": (8,), "max_epochs": 3, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16, y[:240]


def _clf(folder, filename=None, **params):
    checkpoint = Checkpoint(folder, save_best_only=False, resume=True, filename=filename)
    return MLPClassifier(**{**PARAMS, **params}, callbacks=[checkpoint])


def test_a_fixed_name_refuses_to_resume_a_fit_on_other_data(digits, tmp_path):
    X, y = digits
    _clf(tmp_path, "fixed.pt").fit(X[:120], y[:120])
    before = (tmp_path / "fixed.pt").read_bytes()
    other = _clf(tmp_path, "fixed.pt")
    with pytest.raises(ValueError, match="fixed.pt holds a checkpoint of a different .*data"):
        other.fit(X[120:], y[120:])
    assert not hasattr(other, "history_")  # refused before training
    assert (tmp_path / "fixed.pt").read_bytes() == before
    # The same data still resumes (nothing left to train).
    again = _clf(tmp_path, "fixed.pt").fit(X[:120], y[:120])
    assert len(again.history_) == 3


def test_folds_never_resume_each_other(digits, tmp_path):
    X, y = digits
    cv = KFold(3)
    # Under one fixed name, the second fold would resume the first fold's model: refused.
    with pytest.raises(ValueError, match="different .*another fold"):
        cross_validate(_clf(tmp_path / "fixed", "fold.pt"), X, y, cv=cv, error_score="raise")
    # Under the default names each fold has its own checkpoint and scores as without one.
    plain = cross_val_score(MLPClassifier(**PARAMS), X, y, cv=cv)
    checkpointed = cross_val_score(_clf(tmp_path / "named"), X, y, cv=cv)
    np.testing.assert_array_equal(checkpointed, plain)
    assert len(list((tmp_path / "named").glob("checkpoint-*.pt"))) == 3
    # Run again, each fold resumes its own finished fit.
    np.testing.assert_array_equal(cross_val_score(_clf(tmp_path / "named"), X, y, cv=cv), plain)


def test_the_default_name_tells_weighted_fits_apart(digits, tmp_path):
    X, y = digits
    _clf(tmp_path).fit(X, y)
    weights = np.where(y == 3, 5.0, 1.0)
    weighted = _clf(tmp_path).fit(X, y, sample_weight=weights)
    assert len(list(tmp_path.glob("checkpoint-*.pt"))) == 2
    alone = MLPClassifier(**PARAMS).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weighted.predict_proba(X), alone.predict_proba(X))


def test_an_unreadable_checkpoint_is_a_value_error_naming_it(digits, tmp_path):
    X, y = digits
    (tmp_path / "garbage.pt").write_bytes(b"\x00 not a checkpoint " * 100)  # fixed: never flaky
    with pytest.raises(ValueError, match=r"garbage.pt is not a readable checkpoint"):
        _clf(tmp_path, "garbage.pt").fit(X, y)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list.pt is not a checkpoint written by Checkpoint"):
        _clf(tmp_path, "list.pt").fit(X, y)


# Two of these start at once on one fixed name, with different models.
RIVAL = """
import sys, time
from sklearn.datasets import load_digits
from skorch.callbacks import Callback
from skdeep import MLPClassifier
from skdeep.callbacks import Checkpoint

class Slow(Callback):
    def on_epoch_end(self, net, **kwargs):
        time.sleep(0.5)

from pathlib import Path

folder, hidden = Path(sys.argv[1]), int(sys.argv[2])
X, y = load_digits(return_X_y=True)
clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_epochs=3, device="cpu", random_state=0,
                    callbacks=[Slow(), Checkpoint(folder, save_best_only=False, resume=True,
                                                  filename="shared.pt")])
(folder / f"ready-{hidden}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
try:
    clf.fit(X[:240] / 16, y[:240])
except ValueError as error:
    print("refused:", error)
    sys.exit(3)
"""


@pytest.mark.timeout(180)
def test_two_processes_with_one_fixed_name_cannot_clobber_each_other(digits, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    rivals = {
        hidden: subprocess.Popen(
            [sys.executable, "-c", RIVAL, str(tmp_path), str(hidden)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for hidden in (8, 16)
    }
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{hidden}").exists() for hidden in rivals):
        assert time.monotonic() < deadline and all(p.poll() is None for p in rivals.values())
        time.sleep(0.05)
    (tmp_path / "go").touch()  # both start their fits now
    outcomes = {hidden: (p.wait(timeout=150), p.stdout.read()) for hidden, p in rivals.items()}
    codes = sorted(code for code, _ in outcomes.values())
    assert codes == [0, 3], outcomes  # one trained, the other stopped before training
    winner = next(hidden for hidden, (code, _) in outcomes.items() if code == 0)
    loser_output = next(out for code, out in outcomes.values() if code == 3)
    assert "shared.pt holds a checkpoint of a different model" in loser_output
    # The winner's checkpoint is whole and resumes the winner's model.
    X, y = digits
    resumed = _clf(tmp_path, "shared.pt", hidden_layer_sizes=(winner,)).fit(X, y)
    assert len(resumed.history_) == 3
    assert resumed.net_.module_.state_dict()["0.weight"].shape[0] == winner
