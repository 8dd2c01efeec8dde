"""Learning-rate callbacks: exponential decay, cyclical rates, reduce on plateau, batch scaling.

Each writes the rate into the optimizer's param groups, as skorch's ``LRScheduler`` does, so
they combine with any skorch callback; the rate of each epoch shows in ``history_`` as ``lr``
(recorded by :class:`EpochMetrics`), and the per-step schedules also record it in each batch.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from skorch.callbacks import Callback, LRScheduler

from ._common import ParamsRepr, lower_is_better_for, monitored_value, set_group_lr


def optimizer_steps_done(history) -> int:
    """Optimizer steps taken in the epochs of ``history`` before its last (current) row."""
    steps = 0
    for row in history[:-1]:
        count = row.get("train_batch_count")
        if count is None:
            count = sum("train_loss" in batch for batch in row.get("batches", []))
        steps += count
    return steps


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class _FormulaSchedule(ParamsRepr, Callback):
    """Set the learning rate from a formula of the epoch or optimizer-step index.

    The rate for epoch (or step) ``t``, counted from 0 over the whole training (a warm start or
    a resumed checkpoint continues the count), is set just before that epoch (or step) runs.
    ``initial_lr`` is the optimizer's rate when the schedule first acts (after any
    :class:`BatchSizeScaling`), kept in each param group under ``"initial_lr"`` as torch's
    schedulers do.
    """

    unit = "epoch"

    def lr_at(self, t: int, initial_lr: float) -> float:
        """The learning rate of epoch or step ``t`` (from 0) for a starting rate ``initial_lr``."""
        raise NotImplementedError

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        if self.unit == "epoch":
            self._apply(net, len(net.history) - 1)
        else:
            self.step_ = optimizer_steps_done(net.history)

    def on_batch_begin(self, net, training=False, **kwargs) -> None:
        if training and self.unit == "batch":
            net.history.record_batch("lr", self._apply(net, self.step_))

    def on_batch_end(self, net, training=False, **kwargs) -> None:
        if training and self.unit == "batch":
            self.step_ += 1

    def _apply(self, net, t: int) -> float:
        first = None
        for group in net.optimizer_.param_groups:
            initial = group.setdefault("initial_lr", float(group["lr"]))
            lr = self.lr_at(t, initial)
            set_group_lr(group, lr)
            first = lr if first is None else first
        return first


class ExponentialDecay(_FormulaSchedule):
    """Decay the learning rate exponentially, per optimizer step, as Keras' schedule.

    ``lr = lr0 * decay_rate ** (step / decay_steps)``, with ``step`` the number of optimizer
    steps already taken and ``lr0`` the starting rate (the estimator's ``learning_rate``, after
    any batch-size scaling). With ``staircase=True`` the exponent is floored, so the rate drops
    by ``decay_rate`` every ``decay_steps`` steps.

    Parameters
    ----------
    decay_steps : int > 0 or "epoch"
        Steps over which the rate is multiplied by ``decay_rate``; ``"epoch"`` means the number
        of optimizer steps in one epoch (known when training starts).
    decay_rate : float > 0
        The factor per ``decay_steps``.
    staircase : bool, default=False
        Decay in discrete drops instead of smoothly.

    Examples
    --------
    >>> ExponentialDecay(decay_steps=10, decay_rate=0.5).lr_at(20, initial_lr=0.1)
    0.025
    >>> ExponentialDecay(10, 0.5, staircase=True).lr_at(19, initial_lr=0.1)
    0.05
    """

    unit = "batch"

    def __init__(self, decay_steps: int | str, decay_rate: float, staircase: bool = False) -> None:
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase

    def initialize(self):
        _check(
            self.decay_steps == "epoch"
            or (isinstance(self.decay_steps, Integral) and self.decay_steps > 0),
            f"ExponentialDecay needs decay_steps > 0 or 'epoch', got {self.decay_steps!r}.",
        )
        _check(
            isinstance(self.decay_rate, Real) and self.decay_rate > 0,
            f"ExponentialDecay needs decay_rate > 0, got {self.decay_rate!r}.",
        )
        self.steps_per_decay_ = None if self.decay_steps == "epoch" else self.decay_steps
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        if self.steps_per_decay_ is None:
            self.steps_per_decay_ = len(net.get_iterator(dataset_train, training=True))
        super().on_epoch_begin(net, dataset_train=dataset_train, **kwargs)

    def lr_at(self, t: int, initial_lr: float) -> float:
        steps = self.decay_steps if self.decay_steps != "epoch" else self.steps_per_decay_
        exponent = t / steps
        if self.staircase:
            exponent = math.floor(exponent)
        return initial_lr * self.decay_rate**exponent


CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(_FormulaSchedule):
    """Cycle the learning rate between two bounds (Smith, 2017), per epoch or per step.

    With ``t`` the epoch (``unit="epoch"``) or optimizer step (``unit="batch"``) counted from 0:
    ``cycle = floor(1 + t / (2 * step_size))``, ``x = |t / step_size - 2 * cycle + 1|`` and
    ``lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale``, where ``scale`` is 1
    (``"triangular"``), ``1 / 2 ** (cycle - 1)`` (``"triangular2"``: the amplitude halves every
    cycle) or ``gamma ** t`` (``"exp_range"``).

    Parameters
    ----------
    base_lr : float > 0
        The lower bound, reached at the start of each cycle.
    max_lr : float >= base_lr
        The upper bound, reached ``step_size`` units into each cycle.
    step_size : int > 0
        Epochs (or steps) in half a cycle.
    mode : {"triangular", "triangular2", "exp_range"}, default="triangular"
    unit : {"epoch", "batch"}, default="epoch"
        Whether ``t`` counts epochs or optimizer steps.
    gamma : float in (0, 1], default=1.0
        The decay of ``"exp_range"``.

    Examples
    --------
    >>> schedule = CyclicLR(base_lr=0.001, max_lr=0.1, step_size=20)
    >>> [round(schedule.lr_at(t, initial_lr=0.001), 4) for t in (0, 10, 20, 30, 40)]
    [0.001, 0.0505, 0.1, 0.0505, 0.001]
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size: int,
        mode: str = "triangular",
        unit: str = "epoch",
        gamma: float = 1.0,
    ) -> None:
        self.base_lr = base_lr
        self.max_lr = max_lr
        self.step_size = step_size
        self.mode = mode
        self.unit = unit
        self.gamma = gamma

    def initialize(self):
        _check(
            isinstance(self.base_lr, Real) and 0 < self.base_lr <= self.max_lr,
            f"CyclicLR needs 0 < base_lr <= max_lr, got base_lr={self.base_lr!r}, "
            f"max_lr={self.max_lr!r}.",
        )
        _check(
            isinstance(self.step_size, Integral) and self.step_size > 0,
            f"CyclicLR needs an integer step_size > 0, got {self.step_size!r}.",
        )
        _check(
            self.mode in CYCLIC_MODES,
            f"CyclicLR mode must be one of {CYCLIC_MODES}, got {self.mode!r}.",
        )
        _check(
            self.unit in ("epoch", "batch"),
            f"CyclicLR unit must be 'epoch' or 'batch', got {self.unit!r}.",
        )
        _check(0 < self.gamma <= 1, f"CyclicLR needs 0 < gamma <= 1, got {self.gamma!r}.")
        return self

    def lr_at(self, t: int, initial_lr: float) -> float:
        cycle = math.floor(1 + t / (2 * self.step_size))
        x = abs(t / self.step_size - 2 * cycle + 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / 2 ** (cycle - 1)
        else:
            scale = self.gamma**t
        return self.base_lr + (self.max_lr - self.base_lr) * max(0.0, 1 - x) * scale


class ReduceLROnPlateau(ParamsRepr, LRScheduler):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    skorch's :class:`~skorch.callbacks.LRScheduler` driving torch's
    :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau`: after ``patience`` epochs without a
    (relative 1e-4) improvement, the rate is multiplied by ``factor``, never below ``min_lr``.
    Whether ``monitor`` improves downwards (a loss) or upwards (``valid_acc``) is read from its
    name (see :func:`lower_is_better_for`). The counters carry over between ``partial_fit``
    calls.

    Parameters
    ----------
    monitor : str, default="valid_loss"
        A history column.
    factor : float in (0, 1), default=0.1
    patience : int >= 0, default=3
        Epochs without improvement that are tolerated before the rate drops.
    min_lr : float >= 0, default=0

    Examples
    --------
    >>> ReduceLROnPlateau(patience=2)
    ReduceLROnPlateau(monitor='valid_loss', factor=0.1, patience=2, min_lr=0)
    """

    policy = torch.optim.lr_scheduler.ReduceLROnPlateau
    event_name = None
    step_every = "epoch"

    def __init__(
        self,
        monitor: str = "valid_loss",
        factor: float = 0.1,
        patience: int = 3,
        min_lr: float = 0,
    ) -> None:
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr

    @property
    def kwargs(self) -> dict:
        return {
            "mode": "min" if lower_is_better_for(self.monitor) else "max",
            "factor": self.factor,
            "patience": self.patience,
            "min_lr": self.min_lr,
        }

    def initialize(self):
        _check(0 < self.factor < 1, f"ReduceLROnPlateau needs 0 < factor < 1, got {self.factor!r}.")
        return super().initialize()

    def on_train_begin(self, net, **kwargs) -> None:
        scheduler = getattr(self, "lr_scheduler_", None)
        if scheduler is None or scheduler.optimizer is not net.optimizer_:
            super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs) -> None:
        monitored_value(net, self.monitor, "ReduceLROnPlateau")
        super().on_epoch_end(net, **kwargs)


BATCH_SIZE_RULES = {"sqrt": 0.5, "linear": 1.0}


class BatchSizeScaling(ParamsRepr, Callback):
    """Scale the learning rate with the batch size when training starts.

    ``lr = learning_rate * (batch_size / base_batch_size) ** power``, with power 1/2 for
    ``"sqrt"`` (the rule for adaptive optimizers such as Adam) and 1 for ``"linear"`` (Goyal et
    al., for SGD). A search over ``batch_size`` then keeps the rule without computing it by hand.
    Applied once, at the start of a fresh training; a warm start or a resumed checkpoint keeps
    the optimizer's rate.

    Parameters
    ----------
    base_batch_size : int > 0, default=32
        The batch size at which ``learning_rate`` is meant.
    rule : {"sqrt", "linear"}, default="sqrt"

    Examples
    --------
    >>> BatchSizeScaling(base_batch_size=32, rule="sqrt").factor(128)
    2.0
    """

    def __init__(self, base_batch_size: int = 32, rule: str = "sqrt") -> None:
        self.base_batch_size = base_batch_size
        self.rule = rule

    def initialize(self):
        _check(
            self.rule in BATCH_SIZE_RULES,
            f"BatchSizeScaling rule must be one of {sorted(BATCH_SIZE_RULES)}, got {self.rule!r}.",
        )
        _check(
            isinstance(self.base_batch_size, Integral) and self.base_batch_size > 0,
            f"BatchSizeScaling needs base_batch_size > 0, got {self.base_batch_size!r}.",
        )
        return self

    def factor(self, batch_size: int) -> float:
        """The factor applied to the learning rate at ``batch_size``."""
        return (batch_size / self.base_batch_size) ** BATCH_SIZE_RULES[self.rule]

    def on_train_begin(self, net, **kwargs) -> None:
        if len(net.history):
            return
        factor = self.factor(net.batch_size)
        for group in net.optimizer_.param_groups:
            set_group_lr(group, float(group["lr"]) * factor)
