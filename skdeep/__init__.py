"""skdeep: PyTorch networks as first-class scikit-learn estimators."""

from .estimators import CNNClassifier, MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["CNNClassifier", "MLPClassifier", "MLPRegressor", "__version__"]
