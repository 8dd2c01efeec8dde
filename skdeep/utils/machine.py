"""What the machine is doing: its load, which the times of a report depend on."""

from __future__ import annotations

import math
import os


def load_average() -> float:
    """The 1-minute load average: processes running or waiting for a core; NaN where unknown.

    Examples
    --------
    >>> load_average() >= 0
    True
    """
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return math.nan


def load_sentence(before: float, after: float) -> str:
    """The report's line on the load its times were measured under.

    Examples
    --------
    >>> load_sentence(0.4, 2.1).split(";")[0]
    "The machine's load average (1 min) was 0.4 before the runs and 2.1 after"
    """
    if math.isnan(before) or math.isnan(after):
        return "The machine's load average is unknown here (Windows)."
    return (
        f"The machine's load average (1 min) was {before:.1f} before the runs and {after:.1f} "
        "after; on a busy machine times are longer and vary more, so compare them as ratios "
        "within one report."
    )
