"""Early stopping with Keras' parameters, on skorch's own callback."""

from __future__ import annotations

import copy
from numbers import Integral, Real

from skorch.callbacks import EarlyStopping as SkorchEarlyStopping

from ._common import ParamsRepr, lower_is_better_for, monitored_value


class EarlyStopping(ParamsRepr, SkorchEarlyStopping):
    """Stop training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    skorch's :class:`~skorch.callbacks.EarlyStopping` with Keras' parameter names: an epoch
    improves when its value beats the best so far by more than ``min_delta`` (absolute);
    after ``patience`` epochs in a row without improvement the fit stops, so it ends at epoch
    ``best_epoch + patience``. Whether ``monitor`` improves downwards (a loss) or upwards
    (``valid_acc``) is ``mode``, by default read from its name (see
    :func:`lower_is_better_for`).

    Parameters
    ----------
    monitor : str, default="valid_loss"
        A history column, such as ``"valid_loss"`` or ``"valid_acc"``.
    patience : int >= 1, default=5
    min_delta : float >= 0, default=0.0
        The smallest change that counts as an improvement.
    restore_best_weights : bool, default=True
        End with the module weights of the best epoch rather than the last one.
    mode : {"auto", "min", "max"}, default="auto"
        Whether ``monitor`` improves downwards (``"min"``) or upwards (``"max"``), as in
        Keras; ``"auto"`` reads it from the name: upwards for a name holding ``acc``,
        ``score``, ``f1``, ``auc`` ... (:func:`lower_is_better_for`), downwards otherwise.

    Attributes
    ----------
    best_epoch_ : int
        The epoch (from 1) with the best value of ``monitor``.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 20, [0, 1] * 20
    >>> clf = MLPClassifier(max_epochs=50, device="cpu",
    ...                     callbacks=[EarlyStopping(monitor="valid_acc", patience=2)])
    >>> len(clf.fit(X, y).history_) < 50
    True
    """

    threshold_mode = "abs"
    sink = print  # skorch prints the stop only when the net is verbose

    def __init__(
        self,
        monitor: str = "valid_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        mode: str = "auto",
    ) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.mode = mode

    # skorch's names for the same settings, read by its methods.
    threshold = property(lambda self: self.min_delta)
    load_best = property(lambda self: self.restore_best_weights)
    @property
    def lower_is_better(self) -> bool:
        if self.mode == "auto":
            return lower_is_better_for(self.monitor)
        return self.mode == "min"

    def initialize(self):
        if self.mode not in ("auto", "min", "max"):
            raise ValueError(
                f"EarlyStopping mode must be 'auto', 'min' or 'max', got {self.mode!r}."
            )
        if not (isinstance(self.patience, Integral) and self.patience >= 1):
            raise ValueError(f"EarlyStopping needs patience >= 1, got {self.patience!r}.")
        if not (isinstance(self.min_delta, Real) and self.min_delta >= 0):
            raise ValueError(f"EarlyStopping needs min_delta >= 0, got {self.min_delta!r}.")
        return super().initialize()

    def on_train_begin(self, net, **kwargs) -> None:
        if self.__dict__.pop("resumed_", False):
            return  # a Checkpoint restored the counters of the epochs it restored
        super().on_train_begin(net, **kwargs)
        self.counted_epoch_ = 0

    def on_epoch_end(self, net, **kwargs) -> None:
        monitored_value(net, self.monitor, "EarlyStopping")
        self.counted_epoch_ = net.history[-1]["epoch"]
        super().on_epoch_end(net, **kwargs)

    @property
    def stopped_(self) -> bool:
        """Whether the epochs counted so far have run out of patience."""
        return getattr(self, "misses_", 0) >= self.patience

    def state(self) -> dict:
        """Its counters and best weights, for a :class:`Checkpoint` to save and resume."""
        return {
            "counted_epoch": self.counted_epoch_,
            "misses": self.misses_,
            "threshold": float(self.dynamic_threshold_),
            "best_epoch": self.best_epoch_,
            "best_weights": self.best_model_weights_,
        }

    def resume(self, state: dict, net) -> None:
        """Take up ``state`` (from :meth:`state`) for the history a checkpoint restored.

        The epochs of ``net.history`` after the last one ``state`` counted (a checkpoint is
        written before this callback counts its epoch) are counted now; the module holds the
        weights of the last of them.
        """
        self.misses_ = state["misses"]
        self.dynamic_threshold_ = state["threshold"]
        self.best_epoch_ = state["best_epoch"]
        self.best_model_weights_ = state["best_weights"]
        self.counted_epoch_ = state["counted_epoch"]
        for row in net.history:
            if row["epoch"] <= self.counted_epoch_ or self.monitor not in row:
                continue
            if self._is_score_improved(row[self.monitor]):
                self.misses_ = 0
                self.dynamic_threshold_ = self._calc_new_threshold(row[self.monitor])
                self.best_epoch_ = row["epoch"]
                if self.load_best:
                    self.best_model_weights_ = copy.deepcopy(net.module_.state_dict())
            else:
                self.misses_ += 1
            self.counted_epoch_ = row["epoch"]
        self.resumed_ = True
