"""What the machine is doing: its load, which the times of a report depend on, and the threads
of other processes running now, which ``n_threads="auto"`` leaves the cores to."""

from __future__ import annotations

import math
import os
import statistics

_PROC_STAT = "/proc/stat"
_PROC_TASKS = "/proc/self/task"


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


def own_running_threads() -> int:
    """Return how many threads of this process are running or waiting for a core now.

    Read from ``/proc/self/task`` on Linux; 1 (the caller) elsewhere. After a parallel torch
    operation, torch's OpenMP threads keep spinning for some milliseconds, waiting for the
    next one: they are this process's, not other work.

    Examples
    --------
    >>> own_running_threads() >= 1
    True
    """
    running = 0
    try:
        tasks = os.listdir(_PROC_TASKS)
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"{_PROC_TASKS}/{task}/stat") as file:
                state = file.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return max(running, 1)


def busy_cores(samples: int = 5) -> float:
    """Return how many threads of other processes are running or waiting for a core now.

    Linux's ``procs_running`` (``/proc/stat``) less this process's running threads
    (:func:`own_running_threads`), the median of a few reads (each costs some tens of
    microseconds); elsewhere the 1-minute load average; 0 when unknown.

    Examples
    --------
    >>> busy_cores() >= 0
    True
    """
    counts = []
    for _ in range(samples):
        try:
            with open(_PROC_STAT) as file:
                line = next(row for row in file if row.startswith("procs_running"))
        except (OSError, StopIteration):
            break
        running = int(line.split()[1])
        # With only the caller running, there is no other thread of this process to look for.
        counts.append(running - (own_running_threads() if running > 1 else 1))
    if counts:
        return max(0.0, float(statistics.median(counts)))
    load = load_average()
    return 0.0 if math.isnan(load) else load
