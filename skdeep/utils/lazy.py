"""Public names of a package imported on first use (PEP 562), so importing it stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose ``names`` come from submodules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping of str to str
        Each public name and the module it comes from, relative to the package (``"._run"``);
        a name equal to its module's last part (``"callbacks": ".callbacks"``) is the module.
    namespace : dict
        The package's ``globals()``: a name, once imported, is stored there.

    Returns
    -------
    __getattr__, __dir__ : callables
        To assign at the package's top level.

    Examples
    --------
    >>> getattr_, _ = lazy_exports("json", {"loads_": ".decoder"}, {})
    >>> getattr_("missing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'json' has no attribute 'missing'
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name], package)
        value = module if names[name].rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
