"""Optional dependencies, imported only when a function needs them."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str = "all") -> ModuleType:
    """Import ``module`` or raise an ImportError that says how to install it.

    Parameters
    ----------
    module : str
        The module to import.
    extra : str, default="all"
        The skdeep extra that installs it, named in the error.

    Examples
    --------
    >>> require("math").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0].replace("_", "-")
        raise ImportError(
            f"This part of skdeep needs {package}, which is not installed; install it "
            f"with `pip install 'skdeep[{extra}]'`."
        ) from error


def pyplot():
    """Return ``matplotlib.pyplot``, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "Figures need matplotlib: pip install 'skdeep[all]' (or pip install matplotlib)."
        ) from None
    return plt


def new_figure(width: float, height: float):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches, laid out by matplotlib.

    Made without pyplot, so that no window or global figure is involved.
    """
    return require("matplotlib.figure").Figure(figsize=(width, height), layout="constrained")
