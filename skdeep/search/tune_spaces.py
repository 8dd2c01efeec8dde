"""The search space of each model that ``skdeep tune`` tunes, and its strong first trials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .space import SearchSpace

MODELS = ("mlp", "deep-mlp", "cnn")
# "none" rather than None: a missing value would read as NaN in the tables and figures.
LR_SCHEDULES = ["none", "exponential", "plateau", "cyclic"]

# What every model tunes the same way: how it is trained and regularised.
_TRAINING = {
    "batch_size": ("int", 32, 512, "log"),
    "learning_rate": ("log", 1e-4, 1e-2),
    "optimizer": ["adam", "adamw", "nadam"],
    "dropout": ("float", 0.0, 0.5),
    # A log scale needs low > 0: 1e-8 is no penalty in practice.
    "l2": ("log", 1e-8, 1e-3),
    "lr_schedule": LR_SCHEDULES,
}


@dataclass(frozen=True)
class ModelSpace:
    """The search space of one model: fixed parameters, conditional ones, first trials.

    ``space`` is drawn in every trial. ``per_layer`` is drawn once per hidden layer, as
    ``width_1`` ... ``width_<n_layers>``, after ``n_layers`` (deep-mlp's conditional widths).
    ``first_trials`` are given to Optuna's ``enqueue_trial`` before TPE takes over.
    """

    name: str
    space: SearchSpace
    per_layer: SearchSpace | None = None
    first_trials: tuple[Mapping[str, Any], ...] = ()
    max_epochs: int = 30
    patience: int = 4
    notes: tuple[str, ...] = field(default=())

    def suggest(self, trial) -> dict[str, Any]:
        """Draw one trial's parameters, with the conditional widths of its layers."""
        params = self.space.suggest(trial)
        if self.per_layer is not None:
            for layer in range(1, params["n_layers"] + 1):
                layer_space = SearchSpace(
                    {f"{name}_{layer}": spec for name, spec in self.per_layer.spec.items()}
                )
                params.update(layer_space.suggest(trial))
        return params

    def estimator_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Turn drawn parameters into the estimator's ``__init__`` arguments.

        Examples
        --------
        >>> MODEL_SPACES["deep-mlp"].estimator_params(
        ...     {"n_layers": 2, "width_1": 512, "width_2": 128, "dropout": 0.2})
        {'dropout': 0.2, 'hidden_layer_sizes': (512, 128)}
        >>> MODEL_SPACES["cnn"].estimator_params({"filters_1": 32, "filters_2": 64,
        ...     "kernel_1": 5, "kernel_2": 3, "dense_units": 128})
        {'filters': (32, 64), 'kernel_sizes': (5, 3), 'dense_units': (128,)}
        """
        params = dict(params)
        if params.get("lr_schedule") == "none":
            params["lr_schedule"] = None
        if self.name == "mlp":
            params["hidden_layer_sizes"] = (params.pop("width"),)
        elif self.name == "deep-mlp":
            n_layers = params.pop("n_layers")
            params["hidden_layer_sizes"] = tuple(
                params.pop(f"width_{layer}") for layer in range(1, n_layers + 1)
            )
        else:
            params["filters"] = (params.pop("filters_1"), params.pop("filters_2"))
            params["kernel_sizes"] = (params.pop("kernel_1"), params.pop("kernel_2"))
            params["dense_units"] = (params.pop("dense_units"),)
        return params


MODEL_SPACES: dict[str, ModelSpace] = {
    "mlp": ModelSpace(
        "mlp",
        SearchSpace({"width": ("int", 128, 2048, "log"), **_TRAINING}),
        first_trials=(
            # The course's best MLP: 784-1685-10, Adam 5e-4, batch 100 (98.78 % on MNIST).
            {
                "width": 1685,
                "batch_size": 100,
                "learning_rate": 5e-4,
                "optimizer": "adam",
                "dropout": 0.0,
                "l2": 1e-8,
                "lr_schedule": "none",
            },
            # The same width regularised: dropout and a decaying rate let it train longer.
            {
                "width": 1685,
                "batch_size": 128,
                "learning_rate": 1e-3,
                "optimizer": "adam",
                "dropout": 0.3,
                "l2": 1e-8,
                "lr_schedule": "exponential",
            },
        ),
        max_epochs=40,
        patience=5,
    ),
    "deep-mlp": ModelSpace(
        "deep-mlp",
        SearchSpace({"n_layers": ("int", 2, 4), **_TRAINING}),
        per_layer=SearchSpace({"width": ("int", 64, 2048, "log")}),
        first_trials=(
            {
                "n_layers": 2,
                "width_1": 1024,
                "width_2": 1024,
                "batch_size": 128,
                "learning_rate": 1e-3,
                "optimizer": "adam",
                "dropout": 0.3,
                "l2": 1e-8,
                "lr_schedule": "exponential",
            },
        ),
        max_epochs=40,
        patience=5,
    ),
    "cnn": ModelSpace(
        "cnn",
        SearchSpace(
            {
                "filters_1": ("int", 6, 64, "log"),
                "filters_2": ("int", 16, 128, "log"),
                "kernel_1": [3, 5],
                "kernel_2": [3, 5],
                "dense_units": ("int", 32, 512, "log"),
                **_TRAINING,
            }
        ),
        first_trials=(
            # LeNet-5-like, wider (16 and 32 filters: what two CPU cores train in minutes),
            # one dense layer, dropout and a decaying rate.
            {
                "filters_1": 16,
                "filters_2": 32,
                "kernel_1": 5,
                "kernel_2": 5,
                "dense_units": 128,
                "batch_size": 128,
                "learning_rate": 1e-3,
                "optimizer": "adam",
                "dropout": 0.3,
                "l2": 1e-8,
                "lr_schedule": "exponential",
            },
            # LeNet-5's own sizes (6 and 16 filters, 120 units).
            {
                "filters_1": 6,
                "filters_2": 16,
                "kernel_1": 5,
                "kernel_2": 5,
                "dense_units": 120,
                "batch_size": 64,
                "learning_rate": 1e-3,
                "optimizer": "adam",
                "dropout": 0.0,
                "l2": 1e-8,
                "lr_schedule": "none",
            },
        ),
        max_epochs=20,
        patience=4,
    ),
}
