"""skdeep: PyTorch networks as first-class scikit-learn estimators.

The names below are imported on first use (PEP 562), so that ``import skdeep`` and the
``skdeep`` command's ``--help``, ``--version`` and option errors do not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name, and the module it comes from (the name itself for a submodule).
_LAZY = {
    "CNNClassifier": "estimators",
    "MLPClassifier": "estimators",
    "MLPRegressor": "estimators",
    "NeuralNetClassifier": "custom",
    "NeuralNetRegressor": "custom",
    "callbacks": "callbacks",
    "load": "persistence",
    "scorers": "scorers",
}

__all__ = [
    "CNNClassifier",
    "MLPClassifier",
    "MLPRegressor",
    "NeuralNetClassifier",
    "NeuralNetRegressor",
    "__version__",
    "callbacks",
    "load",
    "scorers",
]

if TYPE_CHECKING:
    from . import callbacks, scorers
    from .custom import NeuralNetClassifier, NeuralNetRegressor
    from .estimators import CNNClassifier, MLPClassifier, MLPRegressor
    from .persistence import load


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skdeep' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module if _LAZY[name] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
