"""A repr that is the same in every process: for fingerprints and cache keys of parameters."""

from __future__ import annotations

import functools
import hashlib
import types


def stable_repr(value) -> str:
    """A repr that is the same in every process (no object addresses).

    Estimators show their parameters; functions their module and qualified name, and, when
    that name does not identify them (lambdas, functions defined inside another), a digest of
    their code with their defaults and closure; objects with the default repr their type.

    Examples
    --------
    >>> stable_repr({"b": [1, 2.5], "a": len})
    "{'a': builtins.len, 'b': [1, 2.5]}"
    >>> stable_repr(lambda x: x + 1) == stable_repr(lambda x: x + 1)
    True
    >>> stable_repr(lambda x: x + 1) == stable_repr(lambda x: x + 2)
    False
    """
    return _stable_repr(value, frozenset())


def _stable_repr(value, seen: frozenset[int]) -> str:
    def inner(item) -> str:
        return _stable_repr(item, seen)

    if hasattr(value, "get_params") and not isinstance(value, type):
        params = ", ".join(
            f"{k}={inner(v)}" for k, v in sorted(value.get_params(deep=False).items())
        )
        return f"{type(value).__name__}({params})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(inner, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {inner(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, functools.partial):
        arguments = [inner(value.func), *map(inner, value.args)]
        arguments += [f"{k}={inner(v)}" for k, v in sorted(value.keywords.items())]
        return f"functools.partial({', '.join(arguments)})"
    if isinstance(value, types.MethodType):
        return f"{inner(value.__self__)}.{value.__func__.__name__}"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return _function_repr(value, seen)
    if type(value).__repr__ is object.__repr__:
        return type(value).__name__
    return repr(value)


def _function_repr(function, seen: frozenset[int]) -> str:
    name = f"{function.__module__}.{function.__qualname__}"
    anonymous = "<" in function.__qualname__  # "<lambda>", "f.<locals>.g": no single function
    if not anonymous or not isinstance(function, types.FunctionType) or id(function) in seen:
        return name
    # Told apart by what they do; a function in its own closure (recursion) by its name.
    closure = [cell.cell_contents for cell in function.__closure__ or ()]
    parts = [_code_repr(function.__code__), function.__defaults__, function.__kwdefaults__]
    text = _stable_repr([*parts, closure], seen | {id(function)})
    return f"{name}[{hashlib.sha256(text.encode()).hexdigest()[:16]}]"


def _code_repr(code: types.CodeType) -> str:
    """The bytecode, constants and names of ``code``, without its file, lines or address."""
    constants = [
        _code_repr(c) if isinstance(c, types.CodeType) else _constant_repr(c)
        for c in code.co_consts
    ]
    return repr((code.co_code, constants, code.co_names, code.co_varnames, code.co_freevars))


def _constant_repr(constant) -> str:
    if isinstance(constant, frozenset):  # set literals: their order changes between processes
        return "frozenset(" + repr(sorted(map(_constant_repr, constant))) + ")"
    if isinstance(constant, tuple):
        return "(" + ", ".join(map(_constant_repr, constant)) + ")"
    return repr(constant)
