"""Progress of long runs: a tqdm bar on a terminal, plain lines elsewhere, nothing when quiet.

The time left is weighted by what each unit of work costs: a unit's group (the model of a
comparison) is expected to take as long as its finished units did, and the unit running
now as its fraction done says (a network's epochs, reported by :class:`EpochProgress`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from skorch.callbacks import Callback

from .formatting import format_seconds

# Seconds between two epoch lines in "lines" mode (a bar redraws at every epoch).
LINE_INTERVAL = 15.0
_BAR_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed} {postfix}"


class Progress:
    """Count finished units of work out of ``total`` and show the elapsed time and an ETA.

    Parameters
    ----------
    total : int
        Units of work (models x folds, or study points).
    description : str, default=""
        Shown in front of the counter.
    mode : {"auto", "bar", "lines", "quiet"}, default="auto"
        ``"auto"`` draws a tqdm bar when ``stream`` is a terminal and tqdm is installed, and
        prints one line per unit otherwise.
    stream : file-like, default=sys.stderr
    groups : dict of str to int, default=None
        Units per group (per model, say), in the order they run. The ETA expects each
        unit of a group to take the mean time of that group's finished units (of all
        finished units before the group's first is done). None: every unit alike.
    clock : callable, default=time.perf_counter

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> progress = Progress(2, "compare", mode="lines", stream=out)
    >>> progress.update("MLP fold 1")
    >>> out.getvalue().startswith("compare [1/2] MLP fold 1")
    True
    """

    def __init__(
        self,
        total: int,
        description: str = "",
        mode: str = "auto",
        stream: TextIO | None = None,
        groups: dict[str, int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.total = total
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self.groups = dict(groups) if groups else {"": total}
        self.clock = clock
        self.done = 0
        self.group: str = next(iter(self.groups))
        self._durations: dict[str, list[float]] = {name: [] for name in self.groups}
        self._start = self._unit_start = clock()
        self._fraction = 0.0
        self._last_line = -math.inf
        self._message = ""
        self._bar = None
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        if mode == "bar":
            try:
                from tqdm.auto import tqdm
            except ImportError:
                mode = "lines"
            else:
                self._bar = tqdm(
                    total=total, desc=description, file=self.stream, bar_format=_BAR_FORMAT
                )
        self.mode = mode

    def start(self, group: str | None = None) -> None:
        """Mark the start of a unit of ``group`` (by default the one of the last unit)."""
        if group is not None:
            self.group = group
            self._durations.setdefault(group, [])
            self.groups.setdefault(group, 1)
        self._unit_start = self.clock()
        self._fraction = 0.0

    def seconds_left(self) -> float:
        """Return the estimated seconds left: each group's mean unit time, times its units left.

        Examples
        --------
        >>> now = [0.0]
        >>> progress = Progress(4, mode="quiet", groups={"slow": 2, "fast": 2},
        ...                     clock=lambda: now[0])
        >>> progress.start("slow"); now[0] = 10.0; progress.update()
        >>> progress.seconds_left()  # one slow unit left, the fast ones guessed as slow
        30.0
        >>> progress.start(); now[0] = 20.0; progress.update()
        >>> progress.start("fast"); now[0] = 21.0; progress.update()
        >>> progress.seconds_left()
        1.0
        """
        finished = [d for durations in self._durations.values() for d in durations]
        if not finished and self._fraction <= 0:
            return math.inf
        in_unit = self.clock() - self._unit_start
        unit_guess = sum(finished) / len(finished) if finished else in_unit / self._fraction
        left = 0.0
        for name, units in self.groups.items():
            durations = self._durations[name]
            mean = sum(durations) / len(durations) if durations else unit_guess
            remaining = units - len(durations)
            if name == self.group and remaining > 0 and self.done < self.total:
                # The unit running now: its own rate when it reports one, else the mean.
                current = in_unit / self._fraction if self._fraction > 0 else mean
                left += max(current - in_unit, 0.0) + mean * (remaining - 1)
            else:
                left += mean * max(remaining, 0)
        return left

    def status(self, text: str, fraction: float | None = None) -> None:
        """Show how the running unit is doing (``"epoch 3/20, loss 0.41"``), not counting it.

        ``fraction`` (0 to 1) of the unit done refines the ETA. A bar shows it at once;
        lines mode prints it at most every :data:`LINE_INTERVAL` seconds.
        """
        if fraction is not None:
            self._fraction = min(max(fraction, 0.0), 1.0)
        eta = format_seconds(self.seconds_left())
        if self._bar is not None:
            self._bar.set_postfix_str(f"{text} (ETA {eta})", refresh=True)
        elif self.mode == "lines" and self.clock() - self._last_line >= LINE_INTERVAL:
            self._last_line = self.clock()
            elapsed = self.clock() - self._start
            print(
                f"{self.description} [{self.done}/{self.total}] {text} "
                f"(elapsed {format_seconds(elapsed)}, ETA {eta})",
                file=self.stream,
                flush=True,
            )

    def update(self, message: str = "") -> None:
        """Mark one more unit done, with ``message`` saying what it was."""
        self.done += 1
        self._durations[self.group].append(self.clock() - self._unit_start)
        self._unit_start = self.clock()
        self._fraction = 0.0
        eta = format_seconds(self.seconds_left() if self.done < self.total else 0.0)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{message} (ETA {eta})", refresh=False)
            self._bar.update()
        elif self.mode == "lines":
            self._last_line = self.clock()
            elapsed = self.clock() - self._start
            print(
                f"{self.description} [{self.done}/{self.total}] {message} "
                f"(elapsed {format_seconds(elapsed)}, ETA {eta})",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        """Close the bar, if one is drawn."""
        if self._bar is not None:
            self._bar.close()


class EpochProgress(Callback):
    """skorch callback: report each epoch (``"epoch 3/20, loss 0.4123"``) to a callable.

    A network's fit inside a long run uses it to show its epochs. Copies of it (scikit-learn's
    ``clone``, the estimators' copies of ``callbacks``) report to the same callable.

    Parameters
    ----------
    report : callable
        Called as ``report(text, fraction)`` after each epoch, ``fraction`` the epochs done
        out of ``max_epochs``.
    prefix : str, default=""
        Put in front of the text (the model and fold).
    """

    def __init__(self, report: Callable[[str, float], None], prefix: str = "") -> None:
        self.report = report
        self.prefix = prefix

    def __deepcopy__(self, memo) -> EpochProgress:
        return type(self)(self.report, self.prefix)

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        epoch, total = row["epoch"], net.max_epochs
        loss = row.get("train_loss")
        text = f"{self.prefix}epoch {epoch}/{total}"
        if loss is not None:
            text += f", loss {float(loss):.4f}"
        self.report(text, epoch / expected_epochs(net, epoch))


def expected_epochs(net, epoch: int) -> int:
    """The epochs a fit is expected to run, seen from the end of ``epoch``.

    ``max_epochs``, unless an early-stopping callback (one with ``patience`` and
    ``best_epoch_``) watches it: a fit whose best epoch so far is ``b`` is expected to go on
    improving about as long again, then wait out its patience, so ``2 b + patience``, at most
    ``max_epochs``. Early stopping ends most fits long before ``max_epochs``; an ETA from
    ``max_epochs`` alone overstated them several times over.
    """
    total = net.max_epochs
    for _, callback in getattr(net, "callbacks_", []):
        best, patience = getattr(callback, "best_epoch_", None), getattr(callback, "patience", None)
        if isinstance(best, int) and isinstance(patience, int):
            total = min(total, max(epoch, 2 * best + patience))
    return max(total, epoch, 1)
