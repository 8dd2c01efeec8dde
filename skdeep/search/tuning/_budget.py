"""The wall-time budget of ``skdeep tune``: parsed once, shared by the search and the refit."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from numbers import Real

from skorch.callbacks import Callback

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_budget(budget) -> float | None:
    """Return a wall-time budget in seconds: ``"90s"``, ``"10m"``, ``"1h30m"``, or a number.

    Examples
    --------
    >>> parse_budget("10m"), parse_budget("90s"), parse_budget("1h30m"), parse_budget(45)
    (600.0, 90.0, 5400.0, 45.0)
    >>> parse_budget("ten minutes")
    Traceback (most recent call last):
    ...
    ValueError: --budget must be a positive duration such as 90s, 10m or 1h, got 'ten minutes'.
    """
    if budget is None:
        return None
    message = "--budget must be a positive duration such as 90s, 10m or 1h, got {!r}."
    if isinstance(budget, Real) and not isinstance(budget, bool):
        seconds = float(budget)
    elif isinstance(budget, str):
        text = budget.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(f"(?:{_DURATION.pattern})+", text):
            seconds = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))
        else:
            raise ValueError(message.format(budget))
    else:
        raise ValueError(message.format(budget))
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(message.format(budget))
    return seconds


class Budget:
    """The time a run has left, and what it keeps back for refitting the best trial.

    ``reserve`` is the estimated seconds of the refit of the best trial so far (its epochs
    times its seconds per epoch, scaled to the rows of the refit); the search stops a trial
    or the study when going on would eat into it.

    ``clock`` (seconds, monotonic) is what the budget and the fits it bounds read the time
    from; a test gives a fake one.
    """

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.start = clock()
        self.end = math.inf if seconds is None else self.start + seconds
        self.reserve = 0.0
        # What a refit costs beyond its epochs: building it, the last trial's scoring and
        # logging, timings that swing on a shared machine.
        self.margin = 0.0 if seconds is None else 1.0 + 0.02 * seconds

    def refit_reserve(self, epoch_seconds: float) -> float:
        """Seconds to keep back for a refit whose epochs are estimated at ``epoch_seconds``."""
        return 1.1 * epoch_seconds + self.margin

    def affordable_epochs(self, epoch_seconds: float, refit_factor: float) -> int:
        """The most epochs of ``epoch_seconds`` that a trial can train now and still leave
        the time of its own refit (should it turn out best, ``refit_factor`` times its
        epochs) and of the refit kept back for the best trial so far (should it not).

        Examples
        --------
        >>> budget = Budget(100.0, clock=lambda: 0.0)
        >>> budget.affordable_epochs(5.0, refit_factor=1.0)  # 97 s over 5 + 5.5 s an epoch
        9
        """
        left = self.left()
        own = (left - self.margin) / (epoch_seconds * (1 + 1.1 * refit_factor))
        theirs = (left - self.reserve) / epoch_seconds
        return math.floor(min(own, theirs))

    def left(self) -> float:
        """Seconds until the budget ends (inf without one)."""
        return self.end - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start


class BudgetStop(Callback):
    """Stop a fit between epochs when the next epoch would overrun the budget.

    After each epoch it decides whether one more epoch, plus the refit it would need if this
    fit turned out best (``refit_factor`` times the epochs so far), still fits in the budget;
    if not, it ends the fit at the start of the next epoch, the way skorch's own early
    stopping does (so every other callback has seen the last epoch). ``record`` (shared by
    the copies that a fit makes of its callbacks) receives ``epochs``, ``seconds_per_epoch``
    and ``stopped_by_budget``.

    Parameters
    ----------
    budget : Budget
    refit_factor : float or None
        Seconds of the refit per second of this fit's epochs (the refit's rows over this
        fit's); None for the refit itself, which keeps nothing back.
    record : dict
    """

    def __init__(self, budget: Budget, refit_factor: float | None, record: dict) -> None:
        self.budget = budget
        self.refit_factor = refit_factor
        self.record = record

    def __deepcopy__(self, memo: dict) -> BudgetStop:
        return type(self)(self.budget, self.refit_factor, self.record)

    def __sklearn_clone__(self) -> BudgetStop:
        return self.__deepcopy__({})

    def __getstate__(self) -> dict:
        # A fitted estimator keeps its callbacks; the budget and record stay out of a pickle.
        return {**self.__dict__, "budget": None, "record": {}}

    def on_train_begin(self, net, **kwargs) -> None:
        self.record.update(epochs=0, seconds_per_epoch=None, stopped_by_budget=False)
        self._stop = False
        self._epoch_start = None
        self._clock = time.monotonic if self.budget is None else self.budget.clock

    def on_epoch_begin(self, net, **kwargs) -> None:
        if self._stop:
            self.record["stopped_by_budget"] = True
            raise KeyboardInterrupt  # skorch ends the fit and runs on_train_end
        self._epoch_start = self._clock()

    def on_epoch_end(self, net, **kwargs) -> None:
        epochs = self.record["epochs"] + 1
        seconds = self._clock() - self._epoch_start
        previous = self.record["seconds_per_epoch"]
        per_epoch = seconds if previous is None else (previous * (epochs - 1) + seconds) / epochs
        self.record.update(epochs=epochs, seconds_per_epoch=per_epoch)
        if self.budget is None or epochs >= net.max_epochs:
            return
        reserve = 0.0
        if self.refit_factor is not None:
            own = self.budget.refit_reserve(self.refit_factor * per_epoch * epochs)
            reserve = max(self.budget.reserve, own)
        self._stop = self.budget.left() < per_epoch + reserve
