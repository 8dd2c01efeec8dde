"""What verbose prints: Keras-like lines at 1, skorch's table at 2, colour only on a terminal."""

import io
import re
import sys

import numpy as np
import pytest

from skdeep import MLPClassifier, MLPRegressor
from skdeep.callbacks import epoch_line

X = np.array([[0.0, 1.0], [1.0, 0.0]] * 20)
Y = np.array([0, 1] * 20)
LINE = re.compile(
    r"^Epoch (\d+)/(\d+) - [\d.]+m?s - loss: (\S+) - acc: (\S+) - val_loss: (\S+) - val_acc: (\S+)$"
)


def test_verbose_1_prints_one_keras_line_per_epoch_from_the_history(capsys):
    clf = MLPClassifier(max_epochs=4, verbose=1, device="cpu", random_state=0).fit(X, Y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for epoch, line in enumerate(lines, start=1):
        match = LINE.match(line)
        assert match, line
        row = clf.history_[epoch - 1]
        assert match.groups() == (
            str(epoch),
            "4",
            f"{row['train_loss']:.4g}",
            f"{row['train_acc']:.4g}",
            f"{row['valid_loss']:.4g}",
            f"{row['valid_acc']:.4g}",
        )
    assert "\x1b[" not in "".join(lines)


def test_a_regressor_line_has_no_accuracy(capsys):
    MLPRegressor(max_epochs=2, verbose=1, device="cpu", random_state=0).fit(X, Y.astype(float))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert re.match(r"^Epoch 2/2 - [\d.]+m?s - loss: \S+ - val_loss: \S+$", lines[1])


def test_partial_fit_counts_epochs_on_from_the_previous_ones(capsys):
    clf = MLPClassifier(max_epochs=2, verbose=1, device="cpu", random_state=0).fit(X, Y)
    capsys.readouterr()
    clf.partial_fit(X, Y)
    assert capsys.readouterr().out.startswith("Epoch 3/3 - ")


def test_the_training_accuracy_shows_as_acc_when_the_history_holds_it():
    row = {"epoch": 1, "dur": 2.25, "train_loss": 0.5, "train_acc": 0.75, "valid_loss": 0.6}
    assert epoch_line(row, 10) == "Epoch 1/10 - 2.2s - loss: 0.5 - acc: 0.75 - val_loss: 0.6"
    assert epoch_line({"epoch": 7, "dur": 0.004}) == "Epoch 7 - 4ms"


def test_verbose_0_prints_nothing(capsys):
    MLPClassifier(max_epochs=2, device="cpu").fit(X, Y)
    assert capsys.readouterr().out == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_verbose_2_prints_the_table_coloured_only_on_a_terminal(monkeypatch, terminal):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    MLPClassifier(max_epochs=3, verbose=2, device="cpu", random_state=0).fit(X, Y)
    text = stream.getvalue()
    header = text.splitlines()[0].split()
    assert header[0] == "epoch" and header[-1] == "dur" and "valid_acc" in header
    assert len([line for line in text.splitlines() if re.match(r"^\s+\d+\s", line)]) == 3
    assert ("\x1b[" in text) is terminal
