"""The peak resident memory of this process, from /proc (Linux)."""

from __future__ import annotations

import ctypes
import sys

_CLEAR_REFS = "/proc/self/clear_refs"


_STATUS = "/proc/self/status"


def _release_free_memory() -> None:
    # glibc keeps memory freed by an earlier fit resident for reuse; a fit that reuses it
    # would show no increase. malloc_trim hands it back first (a few ms).
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory to its current size; whether that was possible.

    Linux only: memory the allocator keeps free is released, then writing ``5`` to
    ``/proc/self/clear_refs`` resets the high-water mark that ``VmHWM`` in
    ``/proc/self/status`` reports. Elsewhere (or where ``/proc`` is read-only) the peak stays
    the process's since it started.
    """
    _release_free_memory()
    try:
        with open(_CLEAR_REFS, "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def rss_mb() -> float | None:
    """The resident memory of the process now, in MiB; None where ``/proc`` is absent.

    Examples
    --------
    >>> rss_mb() > 0
    True
    """
    try:
        with open(_STATUS) as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


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
