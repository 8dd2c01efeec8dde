"""The peak resident memory of this process, from /proc (Linux)."""

from __future__ import annotations

import sys

_CLEAR_REFS = "/proc/self/clear_refs"


_STATUS = "/proc/self/status"


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory to its current size; whether that was possible.

    Linux only: writing ``5`` to ``/proc/self/clear_refs`` resets the high-water mark that
    ``VmHWM`` in ``/proc/self/status`` reports. Elsewhere (or where ``/proc`` is read-only)
    the peak stays the process's since it started.
    """
    try:
        with open(_CLEAR_REFS, "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """The peak resident memory of the process since it started or :func:`reset_peak_rss`, MiB.

    ``VmHWM`` from ``/proc/self/status`` on Linux; ``getrusage`` elsewhere (which no reset
    reaches); None on Windows.

    Examples
    --------
    >>> peak_rss_mb() > 0
    True
    """
    try:
        with open(_STATUS) as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
