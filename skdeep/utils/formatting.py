"""Durations as people read them."""

from __future__ import annotations

import math


def format_seconds(seconds: float) -> str:
    """A duration in the unit a reader expects: ``34ms``, ``2.5s``, ``48s``, ``3m05s``, ``1h02m``.

    Parameters
    ----------
    seconds : float
        The duration; a non-finite value (an unknown ETA) reads ``?``.

    Returns
    -------
    str

    Examples
    --------
    >>> [format_seconds(s) for s in (0.034, 0.49, 48.2, 185, 3720, float("inf"))]
    ['34ms', '0.5s', '48s', '3m05s', '1h02m', '?']
    """
    if not math.isfinite(seconds):
        return "?"
    if seconds < 0.1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    minutes, whole = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{whole:02d}s" if minutes else f"{whole}s"
