"""What a fit prints: one Keras-like line per epoch (``verbose=1``) or skorch's table (``2``)."""

from __future__ import annotations

import re
import sys
from numbers import Number

from skorch.callbacks import PrintLog

from ..utils.formatting import format_seconds

# History column -> the name Keras prints, in the order printed.
KERAS_NAMES = {
    "train_loss": "loss",
    "train_acc": "acc",
    "valid_loss": "val_loss",
    "valid_acc": "val_acc",
}
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def epoch_line(row: dict, total_epochs: int | None = None) -> str:
    """The line a Keras fit prints for one epoch, from that epoch's history record.

    Parameters
    ----------
    row : dict
        One epoch of a skorch history (``epoch``, ``dur``, ``train_loss``, ...).
    total_epochs : int, default=None
        The epoch number training will reach, shown after the epoch's own.

    Returns
    -------
    str

    Examples
    --------
    >>> row = {"epoch": 3, "dur": 0.81, "train_loss": 0.2131, "train_acc": 0.951,
    ...        "valid_loss": 0.245, "valid_acc": 0.9442}
    >>> epoch_line(row, 20)
    'Epoch 3/20 - 0.8s - loss: 0.2131 - acc: 0.951 - val_loss: 0.245 - val_acc: 0.9442'
    """
    epoch = f"Epoch {row['epoch']}" + (f"/{total_epochs}" if total_epochs else "")
    parts = [epoch]
    if isinstance(row.get("dur"), Number):
        parts.append(format_seconds(row["dur"]))
    for column, name in KERAS_NAMES.items():
        value = row.get(column)
        if isinstance(value, Number) and not isinstance(value, bool):
            parts.append(f"{name}: {value:.4g}")
    return " - ".join(parts)


class EpochLog(PrintLog):
    """Print the progress of a fit according to the net's ``verbose``.

    ``verbose=1`` prints one line per epoch, as Keras does:
    ``Epoch 3/20 - 0.8s - loss: 0.213 - acc: 0.951 - val_loss: 0.245 - val_acc: 0.944``,
    from what the history holds (``train_loss``, ``train_acc``, ``valid_loss``, ``valid_acc``).
    ``verbose=2`` or more prints skorch's full table, one row per epoch. The table's colour
    codes (skorch marks each column's best epoch) are written only to a terminal; in a file or a
    notebook's captured output the table is plain text.

    Parameters
    ----------
    sink : callable, default=print
        Receives each line; the lines are plain text unless ``sink`` is ``print`` and the
        standard output is a terminal.
    **kwargs
        The other parameters of :class:`skorch.callbacks.PrintLog`, for ``verbose=2``.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(max_epochs=2, verbose=1, device="cpu").fit(X, y)  # doctest: +ELLIPSIS
    Epoch 1/2 - ... - loss: ... - val_loss: ... - val_acc: ...
    Epoch 2/2 - ... - loss: ... - val_loss: ... - val_acc: ...
    """

    def __init__(self, sink=print, **kwargs) -> None:
        super().__init__(sink=sink, **kwargs)

    def initialize(self):
        super().initialize()
        self.last_epoch_ = None
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        # The epochs this call trains: partial_fit records them, fit trains max_epochs.
        planned = getattr(net, "planned_epochs_", None) or net.max_epochs
        self.last_epoch_ = len(net.history) + planned

    def _colour(self) -> bool:
        stream = sys.stdout
        return self.sink is print and hasattr(stream, "isatty") and stream.isatty()

    def table(self, row):
        text = super().table(row)
        # tabulate sizes the columns without the codes, so stripping them keeps the layout.
        return text if self._colour() else _ANSI_CODE.sub("", text)

    def on_epoch_end(self, net, **kwargs) -> None:
        if net.verbose == 1:
            self._sink(epoch_line(net.history[-1], self.last_epoch_), net.verbose)
            if self.sink is print:
                sys.stdout.flush()
        elif net.verbose:
            super().on_epoch_end(net, **kwargs)
