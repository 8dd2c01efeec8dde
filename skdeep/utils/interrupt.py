"""Ctrl-C told apart from the KeyboardInterrupt that skorch callbacks raise to end a fit.

skorch's ``EarlyStopping`` (and skdeep's budget stop) end training by raising
KeyboardInterrupt, which the net catches. A real Ctrl-C raises the same exception, and must
not be caught: a cut-short fit would otherwise return as if trained, and be scored.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class SigintWatch:
    """Within ``with``, record whether SIGINT arrived, and still raise KeyboardInterrupt for it.

    Only the main thread receives signals; elsewhere the watch records nothing, and no
    KeyboardInterrupt raised there can come from Ctrl-C. Watches nest: each hands the signal
    on to the handler it replaced.

    Examples
    --------
    >>> import os, signal
    >>> ignored = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    >>> with SigintWatch() as watch:
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGINT)
    ...     except KeyboardInterrupt:
    ...         pass
    >>> watch.received
    True
    >>> _ = signal.signal(signal.SIGINT, ignored)
    """

    def __init__(self) -> None:
        self.received = False
        self._previous = None

    def __enter__(self) -> SigintWatch:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN and previous is not None:
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        if callable(self._previous):
            self._previous(signum, frame)
        raise KeyboardInterrupt

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
