"""skdeep: PyTorch networks as first-class scikit-learn estimators."""

from . import callbacks, scorers
from .custom import NeuralNetClassifier, NeuralNetRegressor
from .estimators import CNNClassifier, MLPClassifier, MLPRegressor
from .persistence import load

__version__ = "0.1.0"

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
