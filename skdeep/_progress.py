"""Progress of long runs: a tqdm bar on a terminal, plain lines elsewhere, nothing when quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


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
        self, total: int, description: str = "", mode: str = "auto", stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self._start = time.perf_counter()
        self._bar = None
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        if mode == "bar":
            try:
                from tqdm.auto import tqdm
            except ImportError:
                mode = "lines"
            else:
                self._bar = tqdm(total=total, desc=description, file=self.stream)
        self.mode = mode

    def update(self, message: str = "") -> None:
        """Mark one more unit done, with ``message`` saying what it was."""
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(message, refresh=False)
            self._bar.update()
        elif self.mode == "lines":
            elapsed = time.perf_counter() - self._start
            eta = elapsed / self.done * (self.total - self.done)
            print(
                f"{self.description} [{self.done}/{self.total}] {message} "
                f"(elapsed {_format_seconds(elapsed)}, ETA {_format_seconds(eta)})",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        """Close the bar, if one is drawn."""
        if self._bar is not None:
            self._bar.close()
