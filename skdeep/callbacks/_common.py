"""What several callbacks share: which way a monitored value improves, reading it, the lr."""

from __future__ import annotations

import functools
import hashlib
import types

import torch

# A monitored column whose name holds one of these words improves upwards (a score); any other
# (a loss, an error, a time) improves downwards. Words, not substrings: "layer2_loss" is a loss.
HIGHER_IS_BETTER_WORDS = frozenset(
    {"acc", "accuracy", "auc", "score", "f1", "precision", "recall", "r2"}
)


def lower_is_better_for(monitor: str) -> bool:
    """Whether a smaller value of the history column ``monitor`` is better, judged by its name.

    ``valid_loss`` or ``train_mae`` improve downwards; ``valid_acc``, ``valid_f1`` or
    ``valid_r2`` upwards (the name holds one of ``HIGHER_IS_BETTER_WORDS``).

    Examples
    --------
    >>> lower_is_better_for("valid_loss"), lower_is_better_for("valid_acc")
    (True, False)
    """
    return not set(monitor.lower().split("_")) & HIGHER_IS_BETTER_WORDS


def monitored_value(net, monitor: str, owner: str) -> float:
    """The value of ``monitor`` in the net's last history row, or a ValueError that says why not."""
    row = net.history[-1]
    if monitor in row:
        return row[monitor]
    hint = ""
    if monitor.startswith("valid"):
        hint = (
            " Validation columns need a validation split: set validation_fraction > 0, with "
            "enough samples that the split holds at least one."
        )
    columns = sorted(key for key in row if key != "batches")
    raise ValueError(
        f"{owner} monitors {monitor!r}, but epoch {row['epoch']} of the history has no such "
        f"column (it has {columns}).{hint}"
    )


def set_group_lr(group: dict, lr: float) -> None:
    """Write ``lr`` into an optimizer param group, in place when the rate is a tensor."""
    if isinstance(group["lr"], torch.Tensor):
        # A capturable optimizer (CUDA graphs) reads its rate from this very tensor.
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def current_lr(net) -> float:
    """The learning rate of the net's first optimizer param group, as a float."""
    return float(net.optimizer_.param_groups[0]["lr"])


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


class ParamsRepr:
    """Mixin: ``repr`` shows the callback's parameters, as scikit-learn estimators do."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({params})"


class UsesEstimatorParams:
    """Mixin: callbacks that record the estimator's hyper-parameters.

    skdeep's estimators set ``estimator_params_`` (their ``get_params(deep=False)``) on their
    copy of such a callback before the fit; on a bare skorch net it stays None.
    """

    estimator_params_: dict | None = None
