"""The classical baselines a network is compared against, each with the preprocessing it needs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler
from sklearn.svm import SVC

from .core import BaseNetwork
from .estimators import CNNClassifier, MLPClassifier, MLPRegressor

__all__ = [
    "CLASSIFICATION_MODELS",
    "NETWORK_RECIPES",
    "MODEL_NAMES",
    "REGRESSION_MODELS",
    "default_models",
    "find_network",
    "make_preprocessor",
    "with_network_preprocessing",
]

MODEL_NAMES = {
    "mlp": "MLP",
    "cnn": "CNN",
    "logistic": "LogisticRegression",
    "ridge": "Ridge",
    "random_forest": "RandomForest",
    "hist_gradient_boosting": "HistGradientBoosting",
    "svc": "SVC (RBF)",
    "knn": "k-NN",
}
CLASSIFICATION_MODELS = ("mlp", "logistic", "random_forest", "hist_gradient_boosting", "svc", "knn")
REGRESSION_MODELS = ("mlp", "ridge", "random_forest", "hist_gradient_boosting")


# How the comparison trains its networks: the recipe of a careful hand-written torch script
# (AdamW, a one-cycle learning rate over a fixed number of epochs, label smoothing, every
# training row used), sized for a few seconds a fold on digits. docs/compare.md has the
# measurements that chose it.
_ONE_CYCLE = {
    "optimizer": "adamw",
    "learning_rate": 3e-3,
    "lr_schedule": "one_cycle",
    "validation_fraction": 0.0,
}
NETWORK_RECIPES: dict[str, dict] = {
    "mlp_classification": {
        "hidden_layer_sizes": (256, 256),
        "dropout": 0.3,
        "max_epochs": 40,
        "label_smoothing": 0.05,
        **_ONE_CYCLE,
    },
    "mlp_regression": {
        "hidden_layer_sizes": (256, 256),
        "batch_size": 64,
        "max_epochs": 40,
        **_ONE_CYCLE,
    },
    "cnn_classification": {
        "filters": (32, 64),
        "kernel_sizes": (3, 3),
        "batch_norm": True,
        "dense_units": 128,
        "dropout": 0.3,
        "batch_size": 64,
        "max_epochs": 15,
        "label_smoothing": 0.05,
        **_ONE_CYCLE,
    },
}


SCALERS = ("standard", "quantile")


def _scaler(name: str, n_samples: int) -> BaseEstimator:
    if name == "standard":
        return StandardScaler()
    if name == "quantile":
        # Never more quantiles than the rows it is fitted on (scikit-learn would warn and
        # lower them): often a part of X, a fold or a trial's rows, so at most half of X's.
        return QuantileTransformer(
            output_distribution="normal", n_quantiles=max(2, min(1000, n_samples // 2))
        )
    raise ValueError(f"scaler must be one of {SCALERS}, got {name!r}.")


def make_preprocessor(X, scale: bool = True, scaler: str = "standard") -> BaseEstimator | str:
    """Return the preprocessing a model needs in front of it for ``X``.

    Mixed tables (a DataFrame with non-numeric columns or missing values) get a
    ColumnTransformer: median imputation (and scaling) of numeric columns, most-frequent
    imputation and one-hot encoding of the others. Numeric arrays get scaling (and imputation
    where values are missing). ``"passthrough"`` when nothing is needed.

    Parameters
    ----------
    X : array-like or DataFrame
    scale : bool, default=True
        Scale numeric columns (for linear models, SVC, k-NN and networks).
    scaler : {"standard", "quantile"}, default="standard"
        How: standardise each column, or map its quantiles onto a normal distribution
        (scikit-learn's ``QuantileTransformer``), which also tames skewed columns and outliers.

    Returns
    -------
    estimator or "passthrough"

    Examples
    --------
    >>> frame = pd.DataFrame({"size": [1.0, None, 3.0], "colour": ["red", "blue", None]})
    >>> make_preprocessor(frame).fit_transform(frame).shape
    (3, 3)
    >>> make_preprocessor(np.ones((10, 2)), scaler="quantile")[-1].n_quantiles
    5
    """
    scaling = [_scaler(scaler, len(X))] if scale else []
    if isinstance(X, pd.DataFrame):
        numeric = X.select_dtypes(include=["number", "bool"]).columns.tolist()
        other = [c for c in X.columns if c not in numeric]
        if other or X[numeric].isna().to_numpy().any():
            numeric_steps = [SimpleImputer(strategy="median"), *scaling]
            categorical = make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            )
            return ColumnTransformer(
                [
                    ("numeric", make_pipeline(*numeric_steps), numeric),
                    ("categorical", categorical, other),
                ],
                verbose_feature_names_out=False,
            )
    steps = []
    if np.isnan(np.asarray(X, dtype=float)).any():
        steps.append(SimpleImputer(strategy="median"))
    steps.extend(scaling)
    return make_pipeline(*steps) if steps else "passthrough"


def with_network_preprocessing(estimator, task: str, X):
    """Put a bare skdeep network in the preprocessing the default network of a comparison gets.

    For ``X``: the scaling (not for a CNN, whose pixels keep their scale), imputation and
    one-hot encoding of :func:`make_preprocessor`, in a Pipeline (steps ``preprocess`` and
    ``model``); for regression, also standardised targets through a
    :class:`~sklearn.compose.TransformedTargetRegressor`. Anything else (a Pipeline, a
    scikit-learn model) is returned as it is.

    Examples
    --------
    >>> frame = pd.DataFrame({"rooms": [3.0, 5.0], "ocean": ["NEAR BAY", "INLAND"]})
    >>> model = with_network_preprocessing(MLPRegressor(), "regression", frame)
    >>> type(model).__name__, type(model.regressor[0]).__name__
    ('TransformedTargetRegressor', 'ColumnTransformer')
    """
    if not isinstance(estimator, BaseNetwork):
        return estimator
    preprocessing = make_preprocessor(X, scale=not isinstance(estimator, CNNClassifier))
    model = Pipeline([("preprocess", preprocessing), ("model", estimator)])
    if task == "regression":
        # Networks learn badly on targets in the hundreds of thousands: standardise them.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return model


def default_models(
    task: str,
    X,
    names: Sequence[str] | None = None,
    *,
    random_state: int = 0,
    device: str = "auto",
    max_epochs: int | None = None,
    n_threads: int | str = "auto",
) -> dict[str, BaseEstimator]:
    """Return the models of a comparison, each inside a Pipeline with its preprocessing.

    Parameters
    ----------
    task : {"classification", "regression"}
    X : array-like or DataFrame
        The data, to choose the preprocessing.
    names : sequence of str, default=None
        Keys of ``MODEL_NAMES``; None gives every model of the task (``"cnn"`` only on request).
    random_state : int, default=0
    device : str, default="auto"
        Device of the networks.
    max_epochs : int, default=None
        Epochs of the networks; None keeps their recipe's (40 for the MLP, 15 for the CNN).
        The networks train with the recipes of ``NETWORK_RECIPES``: AdamW, a one-cycle
        learning rate sized to these epochs, label smoothing 0.05 for classifiers, and every
        training row (no validation split, no early stopping).
    n_threads : int or "auto", default="auto"
        CPU threads of the networks. ``"auto"`` chooses by timing, and a CNN's results then
        vary in the last digits from run to run (its convolutions sum in an order that
        depends on the thread count); a number makes every run repeat exactly.

    Returns
    -------
    dict of display name to Pipeline
        Steps ``preprocess`` and ``model``.

    Examples
    --------
    >>> import numpy as np
    >>> list(default_models("regression", np.zeros((4, 2))))
    ['MLP', 'Ridge', 'RandomForest', 'HistGradientBoosting']
    >>> mlp = default_models("classification", np.zeros((4, 2)), ["mlp"], max_epochs=5)["MLP"]
    >>> mlp[-1].lr_schedule, mlp[-1].max_epochs, mlp[-1].hidden_layer_sizes
    ('one_cycle', 5, (256, 256))
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
    names = (
        list(CLASSIFICATION_MODELS if task == "classification" else REGRESSION_MODELS)
        if names is None
        else list(names)
    )
    allowed = CLASSIFICATION_MODELS + ("cnn",) if task == "classification" else REGRESSION_MODELS
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"Unknown {task} models {unknown}; choose among {list(allowed)}.")
    network_params = {"random_state": random_state, "device": device, "n_threads": n_threads}
    if max_epochs is not None:
        network_params["max_epochs"] = max_epochs

    def network(estimator, kind):
        return estimator(**{**NETWORK_RECIPES[f"{kind}_{task}"], **network_params})

    scaled, unscaled = make_preprocessor(X, scale=True), make_preprocessor(X, scale=False)
    rs = {"random_state": random_state}
    builders = {
        "mlp": lambda: network(MLPClassifier if task == "classification" else MLPRegressor, "mlp"),
        # Images keep their pixel scale: standardising each pixel would distort them.
        "cnn": lambda: network(CNNClassifier, "cnn"),
        "logistic": lambda: LogisticRegression(max_iter=1000),
        "ridge": lambda: Ridge(),
        "random_forest": lambda: (
            RandomForestClassifier if task == "classification" else RandomForestRegressor
        )(n_jobs=-1, **rs),
        "hist_gradient_boosting": lambda: (
            HistGradientBoostingClassifier
            if task == "classification"
            else HistGradientBoostingRegressor
        )(**rs),
        "svc": lambda: SVC(),
        "knn": lambda: KNeighborsClassifier(),
    }
    models = {}
    for name in names:
        if name in ("mlp", "cnn"):
            models[MODEL_NAMES[name]] = with_network_preprocessing(builders[name](), task, X)
            continue
        preprocessing = unscaled if name in ("random_forest", "hist_gradient_boosting") else scaled
        if preprocessing != "passthrough":
            preprocessing = clone(preprocessing)
        models[MODEL_NAMES[name]] = Pipeline(
            [("preprocess", preprocessing), ("model", builders[name]())]
        )
    return models


def find_network(estimator):
    """Return the skdeep network inside a fitted Pipeline or TransformedTargetRegressor, or None.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> find_network(make_pipeline(StandardScaler(), Ridge())) is None
    True
    """
    while True:
        if hasattr(estimator, "count_params"):
            return estimator
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, TransformedTargetRegressor):
            estimator = getattr(estimator, "regressor_", estimator.regressor)
        else:
            return None
