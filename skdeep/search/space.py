"""One declaration of a search space, usable by Optuna and by scikit-learn's searches."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

from ..utils.optional import require

_KINDS = ("float", "log", "int")
_SPEC_HELP = (
    "give a list of choices, or a tuple (kind, low, high) or (kind, low, high, 'log') with "
    "kind 'float' or 'int', or ('log', low, high) for a log-uniform float"
)


@dataclass(frozen=True)
class Dimension:
    """One parameter of a :class:`SearchSpace`: a list of choices or a numeric range.

    ``low`` and ``high`` are both included; ``log`` samples uniformly in log-space.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None
    # kind "layers": the number of layers and the units of each, drawn together.
    parts: tuple[Dimension, Dimension] | None = None


class layer_sizes:
    """``(units,) * n_layers`` with both drawn, with scipy's ``rvs`` interface (for
    :class:`~sklearn.model_selection.RandomizedSearchCV`).

    Examples
    --------
    >>> draw = layer_sizes(loguniform_int(1, 3), loguniform_int(32, 64))
    >>> sizes = draw.rvs(random_state=0)
    >>> len(set(sizes)) == 1 and 1 <= len(sizes) <= 3
    True
    """

    def __init__(self, n_layers, units) -> None:
        self.n_layers = n_layers
        self.units = units

    def rvs(self, size=None, random_state=None):
        """Draw one tuple of layer sizes (``size`` must be None: sklearn draws one at a time)."""
        if size is not None:
            raise ValueError("layer_sizes draws one tuple at a time (size=None).")
        rng = check_random_state(random_state)  # one stream for both draws
        n_layers = int(self.n_layers.rvs(random_state=rng))
        return (int(self.units.rvs(random_state=rng)),) * n_layers

    def __repr__(self) -> str:
        return f"layer_sizes({self.n_layers!r}, {self.units!r})"


class loguniform_int:
    """Integers drawn log-uniformly from ``[low, high]``, with scipy's ``rvs`` interface.

    scipy has no log-uniform integer distribution; :class:`~sklearn.model_selection.
    RandomizedSearchCV` only needs ``rvs``.

    Parameters
    ----------
    low, high : int
        Bounds, both included, ``0 < low < high``.

    Examples
    --------
    >>> values = loguniform_int(16, 256).rvs(size=1000, random_state=0)
    >>> int(values.min()) >= 16 and int(values.max()) <= 256
    True
    """

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def rvs(self, size=None, random_state=None):
        """Draw integers; a scalar when ``size`` is None."""
        # Draw a real in [low, high + 1) log-uniformly and floor it, so that each bound gets
        # its share of the mass.
        draws = stats.loguniform(self.low, self.high + 1).rvs(size=size, random_state=random_state)
        values = np.clip(np.floor(draws).astype(np.int64), self.low, self.high)
        return int(values) if size is None else values

    def __repr__(self) -> str:
        return f"loguniform_int({self.low}, {self.high})"


def _to_optuna_choice(value: Any) -> Any:
    """Tuples become lists: what JSON keeps, so an RDB storage can reload the distribution."""
    if isinstance(value, (tuple, list)):
        return [_to_optuna_choice(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parse(name: str, spec: Any) -> Dimension:
    if isinstance(spec, tuple) and spec and spec[0] == "layers":
        if len(spec) != 3:
            raise ValueError(
                f"Search space entry {name!r} is {spec!r}; write ('layers', n_layers, units), "
                "each an ('int', low, high) range, as ('layers', ('int', 1, 4), "
                "('int', 32, 512, 'log'))."
            )
        parts = (_parse(f"{name}.n_layers", spec[1]), _parse(f"{name}.units", spec[2]))
        if any(part.kind != "int" or part.low < 1 for part in parts):
            raise ValueError(
                f"Search space entry {name!r}: n_layers and units must be ('int', low, high) "
                f"ranges of positive integers, got {spec!r}."
            )
        return Dimension(name, "layers", parts=parts)
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"Search space entry {name!r} has an empty list of choices.")
        return Dimension(name, "categorical", choices=tuple(spec))
    if not isinstance(spec, tuple) or not spec or spec[0] not in _KINDS:
        raise TypeError(f"Search space entry {name!r} is {spec!r}; {_SPEC_HELP}.")
    kind, *rest = spec
    log = kind == "log"
    if rest and rest[-1] == "log" and kind != "log":
        log = True
        rest = rest[:-1]
    if len(rest) != 2:
        raise ValueError(f"Search space entry {name!r} is {spec!r}; {_SPEC_HELP}.")
    low, high = rest
    number = Integral if kind == "int" else Real
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in (low, high)):
        expected = "integers" if kind == "int" else "numbers"
        raise TypeError(f"Search space entry {name!r}: low and high must be {expected}: {spec!r}.")
    if not low < high:
        raise ValueError(f"Search space entry {name!r}: low must be below high, got {spec!r}.")
    if log and low <= 0:
        raise ValueError(
            f"Search space entry {name!r}: a log scale needs low > 0, got {spec!r}; use "
            "('float', low, high) for a range that includes zero."
        )
    if kind == "int":
        return Dimension(name, "int", int(low), int(high), log)
    return Dimension(name, "float", float(low), float(high), log)


def _spec_of(dim: Dimension) -> tuple:
    """The spec that parses back to the integer range ``dim``."""
    return ("int", dim.low, dim.high, "log") if dim.log else ("int", dim.low, dim.high)


class SearchSpace(Mapping):
    """A search space declared once, for Optuna and for scikit-learn's searches.

    Each entry maps a parameter name (``set_params`` spelling, so ``"step__param"`` inside
    a pipeline) to one of

    - a list of choices: ``[(128,), (256, 128)]``, ``["relu", "gelu"]``;
    - ``("float", low, high)``: uniform; ``("float", low, high, "log")``: log-uniform;
    - ``("log", low, high)``: short for ``("float", low, high, "log")``;
    - ``("int", low, high)`` or ``("int", low, high, "log")``: integers;
    - ``("layers", n_layers, units)``, both integer ranges: the course's "number of layers x
      units per layer", ``(units,) * n_layers`` for ``hidden_layer_sizes``. Optuna draws the
      two as parameters ``<name>.n_layers`` and ``<name>.units``.

    Bounds are inclusive, as in Optuna.

    Parameters
    ----------
    spec : mapping of str to list or tuple

    Examples
    --------
    >>> space = SearchSpace({
    ...     "learning_rate": ("log", 1e-4, 1e-1),
    ...     "hidden_layer_sizes": [(32,), (64, 32)],
    ...     "batch_size": ("int", 16, 256, "log"),
    ... })
    >>> space.to_grid(3)["learning_rate"]
    [0.0001, 0.0031622776601683794, 0.1]
    >>> sorted(space.with_prefix("mlpclassifier"))[0]
    'mlpclassifier__batch_size'
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping):
            raise TypeError(f"SearchSpace takes a mapping of parameter names, got {spec!r}.")
        self.spec = dict(spec)
        self.dimensions = {name: _parse(name, value) for name, value in self.spec.items()}

    def __getitem__(self, name: str) -> Dimension:
        return self.dimensions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __repr__(self) -> str:
        return f"SearchSpace({self.spec!r})"

    def with_prefix(self, prefix: str) -> SearchSpace:
        """Return the space with ``prefix__`` in front of every name, for a pipeline step.

        Parameters
        ----------
        prefix : str
            The step's name, for example ``"mlpclassifier"`` from ``make_pipeline``.

        Returns
        -------
        SearchSpace
        """
        return SearchSpace({f"{prefix}__{name}": value for name, value in self.spec.items()})

    def to_optuna(self) -> dict[str, Any]:
        """Return Optuna distributions, as ``OptunaSearchCV(param_distributions=)`` takes them.

        Tuple choices are given as lists, which an RDB storage keeps unchanged (a tuple would
        come back as a list and make a resumed study refuse the distribution); the estimators
        take either.

        Returns
        -------
        dict of str to optuna.distributions.BaseDistribution

        Examples
        --------
        >>> SearchSpace({"dropout": ("float", 0.0, 0.5)}).to_optuna()["dropout"]
        FloatDistribution(high=0.5, log=False, low=0.0, step=None)
        """
        distributions = require("optuna.distributions")
        result = {}
        for name, dim in self.dimensions.items():
            if dim.kind == "layers":
                raise ValueError(
                    f"{name!r} draws two parameters into one, which OptunaSearchCV's "
                    "distributions cannot say; use make_objective or optimize (SearchSpace."
                    "suggest draws it), or give hidden_layer_sizes as a list of tuples."
                )
            if dim.kind == "categorical":
                with warnings.catch_warnings():
                    # Optuna warns about list choices, the very form that survives storage.
                    warnings.filterwarnings("ignore", "Choices for a categorical", UserWarning)
                    result[name] = distributions.CategoricalDistribution(
                        [_to_optuna_choice(c) for c in dim.choices]
                    )
            elif dim.kind == "int":
                result[name] = distributions.IntDistribution(dim.low, dim.high, log=dim.log)
            else:
                result[name] = distributions.FloatDistribution(dim.low, dim.high, log=dim.log)
        return result

    def suggest(self, trial) -> dict[str, Any]:
        """Draw one set of parameters from an Optuna trial, choices as declared (tuples stay).

        Parameters
        ----------
        trial : optuna.trial.Trial

        Returns
        -------
        dict of str to value
            Ready for ``estimator.set_params(**params)``.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"units": [64, 32], "dropout": 0.25})
        >>> SearchSpace({"units": [(32,), (64, 32)], "dropout": ("float", 0.0, 0.5)}).suggest(trial)
        {'units': (64, 32), 'dropout': 0.25}
        """
        params = {}
        for name, dim in self.dimensions.items():
            if dim.kind == "layers":
                n_layers, units = (
                    trial.suggest_int(part.name, part.low, part.high, log=part.log)
                    for part in dim.parts
                )
                params[name] = (units,) * n_layers
            elif dim.kind == "int":
                params[name] = trial.suggest_int(name, dim.low, dim.high, log=dim.log)
            elif dim.kind == "float":
                params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
            else:
                encoded = [_to_optuna_choice(c) for c in dim.choices]
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Choices for a categorical", UserWarning)
                    value = trial.suggest_categorical(name, encoded)
                params[name] = dim.choices[encoded.index(_to_optuna_choice(value))]
        return params

    def to_sklearn(self) -> dict[str, Any]:
        """Return ``param_distributions`` for :class:`~sklearn.model_selection.RandomizedSearchCV`.

        Returns
        -------
        dict of str to list or distribution
            Choices as lists; ranges as ``scipy.stats`` distributions (``loguniform``,
            ``uniform``, ``randint``) or :class:`loguniform_int`.

        Examples
        --------
        >>> SearchSpace({"batch_size": ("int", 16, 256)}).to_sklearn()["batch_size"].support()
        (np.int64(16), np.int64(256))
        """
        result: dict[str, Any] = {}
        for name, dim in self.dimensions.items():
            if dim.kind == "layers":
                n_layers, units = (
                    SearchSpace({"x": _spec_of(p)}).to_sklearn()["x"] for p in dim.parts
                )
                result[name] = layer_sizes(n_layers, units)
            elif dim.kind == "categorical":
                result[name] = list(dim.choices)
            elif dim.kind == "int":
                result[name] = (
                    loguniform_int(dim.low, dim.high)
                    if dim.log
                    else stats.randint(dim.low, dim.high + 1)
                )
            elif dim.log:
                result[name] = stats.loguniform(dim.low, dim.high)
            else:
                result[name] = stats.uniform(dim.low, dim.high - dim.low)
        return result

    def to_grid(self, n: int | Mapping[str, int] = 3) -> dict[str, list]:
        """Return ``param_grid`` for :class:`~sklearn.model_selection.GridSearchCV`.

        Ranges become ``n`` evenly spaced values (geometrically on a log scale), bounds
        included; integer ranges are rounded, duplicates dropped. Choices are kept whole.

        Parameters
        ----------
        n : int or mapping of str to int, default=3
            Values per range, at least 2; a mapping gives it per parameter (default 3).

        Returns
        -------
        dict of str to list

        Examples
        --------
        >>> SearchSpace({"batch_size": ("int", 16, 256, "log")}).to_grid(5)
        {'batch_size': [16, 32, 64, 128, 256]}
        """
        grid = {}
        for name, dim in self.dimensions.items():
            if dim.kind == "categorical":
                grid[name] = list(dim.choices)
                continue
            if dim.kind == "layers":
                n_layers, units = (
                    SearchSpace({"x": _spec_of(part)}).to_grid(
                        n.get(name, 3) if isinstance(n, Mapping) else n
                    )["x"]
                    for part in dim.parts
                )
                grid[name] = [(width,) * depth for depth in n_layers for width in units]
                continue
            count = n.get(name, 3) if isinstance(n, Mapping) else n
            if not isinstance(count, Integral) or count < 2:
                raise ValueError(f"to_grid needs at least 2 values per range, got {count!r}.")
            spacing = np.geomspace if dim.log else np.linspace
            values = spacing(dim.low, dim.high, int(count))
            if dim.kind == "int":
                grid[name] = sorted({int(round(v)) for v in values})
            else:
                # Exact bounds: geomspace can land a hair off them.
                values[0], values[-1] = dim.low, dim.high
                grid[name] = [float(v) for v in values]
        return grid

    def grid_size(self, n: int | Mapping[str, int] = 3) -> int:
        """Return the number of candidates of ``to_grid(n)``.

        Examples
        --------
        >>> SearchSpace({"a": [1, 2], "b": ("float", 0.0, 1.0)}).grid_size(4)
        8
        """
        return math.prod(len(values) for values in self.to_grid(n).values())
