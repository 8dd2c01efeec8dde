"""Schedules sized to the whole training: one-cycle and cosine decay with a linear warm-up.

Both set the rate at every optimizer step from a closed formula of the step index, the same
values as torch's :class:`~torch.optim.lr_scheduler.OneCycleLR` and
:class:`~torch.optim.lr_scheduler.CosineAnnealingLR` (after a
:class:`~torch.optim.lr_scheduler.LinearLR` warm-up, chained by
:class:`~torch.optim.lr_scheduler.SequentialLR`) step after step, which the tests check. A
formula of the step, rather than a torch scheduler object, is what lets a warm start, a
``partial_fit``, a resumed :class:`Checkpoint` and a member of ``StackedSearchCV`` continue the
schedule at the step where it stood: the step is counted from the history.

The schedule spans ``max_epochs`` epochs of ``n`` steps each, ``n`` being the number of
training batches of the first epoch it sees (training rows after the validation split, divided
by ``batch_size``, rounded up). Its peak is the optimizer's rate when it first acts: the
estimator's ``learning_rate``, after any :class:`BatchSizeScaling`.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

from ._schedules import _check, _FormulaSchedule


class _SizedSchedule(_FormulaSchedule):
    """A per-step schedule over ``total_steps_`` steps: ``max_epochs`` times an epoch's steps.

    Past its last step the rate stays at that step's rate (with a warning, once): the epochs
    a ``partial_fit`` or a warm-started ``fit`` trains beyond ``max_epochs``.
    """

    unit = "batch"

    def initialize(self):
        self.total_steps_ = None
        self.warned_past_end_ = False
        return self

    def plan(self, steps_per_epoch: int, epochs: int) -> None:
        """Size the schedule for ``epochs`` epochs of ``steps_per_epoch`` optimizer steps."""
        self.total_steps_ = max(1, int(steps_per_epoch) * int(epochs))

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        if getattr(self, "total_steps_", None) is None:
            self.plan(len(net.get_iterator(dataset_train, training=True)), net.max_epochs)
        super().on_epoch_begin(net, dataset_train=dataset_train, **kwargs)
        if self.step_ >= self.total_steps_ and not self.warned_past_end_:
            self.warned_past_end_ = True
            warnings.warn(
                f"{type(self).__name__} spans max_epochs={net.max_epochs} epochs "
                f"({self.total_steps_} steps), which have all been trained; the epochs trained "
                "from now on keep the rate of its last step. Fit without warm_start to run "
                "the schedule again.",
                UserWarning,
                stacklevel=2,
            )

    def lr_at(self, t: int, initial_lr: float) -> float:
        return self._rate(min(t, self.total_steps_ - 1), initial_lr)

    def _rate(self, t: int, peak: float) -> float:
        raise NotImplementedError


def _annealing_cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1), torch's ``OneCycleLR`` formula."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class OneCycleLR(_SizedSchedule):
    """The 1cycle policy (Smith and Topin, 2018), per optimizer step, as torch's ``OneCycleLR``.

    The rate rises from ``peak / div_factor`` to the peak over the first ``pct_start`` of the
    steps, then falls to ``peak / (div_factor * final_div_factor)`` at the last step, both
    along a cosine (torch's ``anneal_strategy="cos"``, two phases). The peak is the optimizer's
    rate when training starts: the estimator's ``learning_rate``. Only the rate cycles, not the
    momentum (torch's ``cycle_momentum=False``), so that ``momentum`` and Adam's betas stay as
    set.

    Parameters
    ----------
    pct_start : float in (0, 1), default=0.3
        The fraction of the steps spent raising the rate: torch's default.
    div_factor : float >= 1, default=25.0
        The peak over the starting rate: torch's default.
    final_div_factor : float >= 1, default=1e4
        The starting rate over the final rate: torch's default.

    Examples
    --------
    >>> schedule = OneCycleLR()
    >>> schedule.plan(steps_per_epoch=10, epochs=10)
    >>> [round(schedule.lr_at(t, initial_lr=0.1), 4) for t in (0, 29, 99)]
    [0.004, 0.1, 0.0]
    """

    def __init__(
        self, pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
    ) -> None:
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def initialize(self):
        _check(
            isinstance(self.pct_start, Real) and 0 < self.pct_start < 1,
            f"OneCycleLR needs 0 < pct_start < 1, got {self.pct_start!r}.",
        )
        for name in ("div_factor", "final_div_factor"):
            value = getattr(self, name)
            _check(
                isinstance(value, Real) and value >= 1,
                f"OneCycleLR needs {name} >= 1, got {value!r}.",
            )
        return super().initialize()

    def _rate(self, t: int, peak: float) -> float:
        start = peak / self.div_factor
        final = start / self.final_div_factor
        # torch's two phases, their ends as torch computes them (floats).
        rise_end = float(self.pct_start * self.total_steps_) - 1
        fall_end = self.total_steps_ - 1
        if t <= rise_end:
            # rise_end is 0 when the rise is one step long: that step is at the peak.
            return _annealing_cos(start, peak, t / rise_end if rise_end > 0 else 1.0)
        return _annealing_cos(peak, final, (t - rise_end) / (fall_end - rise_end))


class CosineDecay(_SizedSchedule):
    """Cosine decay of the rate to ``min_lr``, after an optional linear warm-up, per step.

    With ``T`` steps in all and ``W = floor(warmup_fraction * T)`` of warm-up, step ``t``
    (from 0) has the rate ``peak * (t + 1) / (W + 1)`` while ``t < W`` (torch's ``LinearLR``
    from ``1 / (W + 1)`` of the peak), then
    ``min_lr + (peak - min_lr) * (1 + cos(pi * (t - W) / (T - W))) / 2`` (torch's
    ``CosineAnnealingLR`` with ``T_max = T - W``): the peak at step ``W``, falling towards
    ``min_lr``. The peak is the optimizer's rate when training starts: the estimator's
    ``learning_rate``. Keras' ``CosineDecay`` with ``warmup_steps``, sized in epochs.

    Parameters
    ----------
    warmup_fraction : float in [0, 1), default=0.0
        The fraction of the steps spent raising the rate linearly to the peak. 0, as in
        torch's ``CosineAnnealingLR`` and Keras' ``CosineDecay``: the small networks skdeep
        trains with Adam at its default rate need no warm-up; a warm-up (for example 0.05)
        helps large rates, large batches and deep networks.
    min_lr : float >= 0, default=0.0
        The rate the cosine falls towards (torch's ``eta_min``).

    Examples
    --------
    >>> schedule = CosineDecay(warmup_fraction=0.1)
    >>> schedule.plan(steps_per_epoch=10, epochs=10)
    >>> [round(schedule.lr_at(t, initial_lr=0.1), 4) for t in (0, 9, 10, 55, 99)]
    [0.0091, 0.0909, 0.1, 0.05, 0.0]
    """

    def __init__(self, warmup_fraction: float = 0.0, min_lr: float = 0.0) -> None:
        self.warmup_fraction = warmup_fraction
        self.min_lr = min_lr

    def initialize(self):
        _check(
            isinstance(self.warmup_fraction, Real) and 0 <= self.warmup_fraction < 1,
            f"CosineDecay needs 0 <= warmup_fraction < 1, got {self.warmup_fraction!r}.",
        )
        _check(
            isinstance(self.min_lr, Real) and self.min_lr >= 0,
            f"CosineDecay needs min_lr >= 0, got {self.min_lr!r}.",
        )
        return super().initialize()

    @property
    def warmup_steps_(self) -> int:
        """The number of warm-up steps, ``floor(warmup_fraction * total_steps_)``."""
        return math.floor(self.warmup_fraction * self.total_steps_)

    def _rate(self, t: int, peak: float) -> float:
        warmup = self.warmup_steps_
        if t < warmup:
            return peak * (t + 1) / (warmup + 1)
        progress = (t - warmup) / (self.total_steps_ - warmup)
        return self.min_lr + (peak - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2
