"""skdeep: PyTorch networks as first-class scikit-learn estimators.

The names below are imported on first use (PEP 562), so that ``import skdeep`` and the
``skdeep`` command's ``--help``, ``--version`` and option errors do not wait for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .utils.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CNNClassifier": ".estimators",
        "MLPClassifier": ".estimators",
        "MLPRegressor": ".estimators",
        "NeuralNetClassifier": ".custom",
        "NeuralNetRegressor": ".custom",
        "callbacks": ".callbacks",
        "load": ".persistence",
        "scorers": ".scorers",
    },
    globals(),
)
