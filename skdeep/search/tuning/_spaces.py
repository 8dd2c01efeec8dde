"""The search space of each model that ``skdeep tune`` tunes, and how it starts on each data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..space import SearchSpace

MODELS = ("mlp", "deep-mlp", "cnn")
# "none" rather than None: a missing value would read as NaN in the tables and figures.
LR_SCHEDULES = ["none", "exponential", "plateau", "cyclic"]
# What a tuning run trains on: images (classes), or a table of classes or of a number.
DATA_KINDS = ("images", "classification", "regression")

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


# What tables add to every model's space: how their numeric columns are scaled
# (``make_preprocessor``'s ``scaler``); images keep their pixels in [0, 1].
TABLE_SPACE = SearchSpace({"scaling": ["standard", "quantile"]})


def data_kind(images: bool, task: str) -> str:
    """``"images"``, or the task of a table: the key of :attr:`ModelSpace.starts`."""
    return "images" if images else task


def _training(
    batch_size: int,
    learning_rate: float,
    *,
    dropout: float = 0.0,
    l2: float = 1e-8,
    lr_schedule: str = "none",
    optimizer: str = "adam",
) -> dict[str, Any]:
    """The training half of a first trial: every model's parameters in ``_TRAINING``."""
    return {
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": optimizer,
        "dropout": dropout,
        "l2": l2,
        "lr_schedule": lr_schedule,
    }


def _widths(*widths: int) -> dict[str, int]:
    """deep-mlp's layers of a first trial: ``n_layers`` and ``width_1`` ... ``width_<n>``."""
    return {"n_layers": len(widths), **{f"width_{i}": w for i, w in enumerate(widths, 1)}}


def _convolutions(
    first: tuple[int, int], second: tuple[int, int], *, dense_units: int, batch_norm: bool
) -> dict[str, Any]:
    """The network half of a CNN first trial: (filters, kernel) of each convolution."""
    return {
        "filters_1": first[0],
        "kernel_1": first[1],
        "filters_2": second[0],
        "kernel_2": second[1],
        "dense_units": dense_units,
        "batch_norm": batch_norm,
    }


@dataclass(frozen=True)
class Start:
    """How a model starts on one kind of data: its first trials, epochs, patience and pruning.

    ``first_trials`` are given to Optuna's ``enqueue_trial`` before TPE takes over;
    ``max_epochs`` bounds every trial and ``patience`` is its early stopping's, in epochs;
    the pruner compares a trial with the others only after ``warmup_epochs`` epochs.
    """

    first_trials: tuple[Mapping[str, Any], ...]
    max_epochs: int
    patience: int
    warmup_epochs: int


@dataclass(frozen=True)
class ModelSpace:
    """The search space of one model, and how it starts on each kind of data.

    ``space`` is drawn in every trial. ``per_layer`` is drawn once per hidden layer, as
    ``width_1`` ... ``width_<n_layers>``, after ``n_layers`` (deep-mlp's conditional widths).
    ``starts`` maps each kind of data the model takes (:data:`DATA_KINDS`) to its
    :class:`Start`.
    """

    name: str
    space: SearchSpace
    starts: Mapping[str, Start]
    per_layer: SearchSpace | None = None

    def start(self, kind: str) -> Start:
        """The :class:`Start` of ``kind``, one of :data:`DATA_KINDS` that the model takes."""
        if kind not in self.starts:
            raise ValueError(
                f"--model {self.name} takes {' or '.join(self.starts)} data, not {kind}."
            )
        return self.starts[kind]

    def suggest(self, trial, kind: str = "images") -> dict[str, Any]:
        """Draw one trial's parameters on ``kind`` of data, with the conditional widths of its
        layers and, for tables, :data:`TABLE_SPACE`."""
        params = self.space.suggest(trial)
        if kind != "images":
            params.update(TABLE_SPACE.suggest(trial))
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
        >>> MODEL_SPACES["mlp"].estimator_params({"width": 256, "scaling": "quantile"})
        {'hidden_layer_sizes': (256,)}
        >>> MODEL_SPACES["cnn"].estimator_params({"filters_1": 32, "filters_2": 64,
        ...     "kernel_1": 5, "kernel_2": 3, "dense_units": 128, "batch_norm": True})
        {'batch_norm': True, 'filters': (32, 64), 'kernel_sizes': (5, 3), 'dense_units': (128,)}
        """
        params = dict(params)
        params.pop("scaling", None)  # the preprocessing's, not the network's
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


# Tables: a few thousand to tens of thousands of rows, so an epoch is short and a network
# needs many of them; a slowly decaying rate and patience let it settle. Such a network
# peaks after 40 to 120 epochs: compared from its third, a slower starter is pruned long
# before it shows what it reaches.
_TABLE_EPOCHS = {"max_epochs": 150, "patience": 10, "warmup_epochs": 20}
# Images: a few epochs of tens of thousands of images already rank the trials.
_IMAGE_EPOCHS = {"patience": 5, "warmup_epochs": 2}

MODEL_SPACES: dict[str, ModelSpace] = {
    "mlp": ModelSpace(
        "mlp",
        SearchSpace({"width": ("int", 128, 2048, "log"), **_TRAINING}),
        starts={
            "images": Start(
                (
                    # As wide as the space goes, with dropout and a decaying rate: the strongest
                    # single layer that two CPU cores train to its best in a few minutes.
                    {"width": 2048, **_training(128, 1e-3, dropout=0.4, lr_schedule="exponential")},
                    # The course's sizes (784-1685-10, Adam 5e-4, batch 100), regularised.
                    {"width": 1685, **_training(100, 5e-4, dropout=0.3, lr_schedule="exponential")},
                    # The course's best MLP as it was (98.78 % on MNIST after 3 hours of search).
                    {"width": 1685, **_training(100, 5e-4)},
                ),
                max_epochs=40,
                **_IMAGE_EPOCHS,
            ),
            "regression": Start(
                (
                    {
                        "width": 256,
                        **_training(64, 2e-3, dropout=0.05, lr_schedule="cyclic"),
                        "scaling": "quantile",
                    },
                    {
                        "width": 512,
                        **_training(256, 3e-3, l2=1e-6, lr_schedule="exponential"),
                        "scaling": "standard",
                    },
                ),
                **_TABLE_EPOCHS,
            ),
            "classification": Start(
                (
                    {
                        "width": 256,
                        **_training(256, 1e-3, dropout=0.2, l2=1e-5, lr_schedule="exponential"),
                        "scaling": "quantile",
                    },
                    {
                        "width": 512,
                        **_training(128, 5e-4, dropout=0.3, lr_schedule="cyclic"),
                        "scaling": "standard",
                    },
                ),
                **_TABLE_EPOCHS,
            ),
        },
    ),
    "deep-mlp": ModelSpace(
        "deep-mlp",
        SearchSpace({"n_layers": ("int", 2, 4), **_TRAINING}),
        per_layer=SearchSpace({"width": ("int", 64, 2048, "log")}),
        starts={
            "images": Start(
                (
                    {
                        **_widths(1024, 1024),
                        **_training(128, 1e-3, dropout=0.3, lr_schedule="exponential"),
                    },
                ),
                max_epochs=40,
                **_IMAGE_EPOCHS,
            ),
            "regression": Start(
                (
                    {
                        **_widths(512, 256, 128),
                        **_training(128, 1e-3, l2=1e-6, lr_schedule="exponential"),
                        "scaling": "quantile",
                    },
                    {
                        **_widths(256, 256),
                        **_training(256, 2e-3, dropout=0.05),
                        "scaling": "standard",
                    },
                ),
                **_TABLE_EPOCHS,
            ),
            "classification": Start(
                (
                    {
                        **_widths(256, 128),
                        **_training(256, 1e-3, dropout=0.2, l2=1e-5, lr_schedule="exponential"),
                        "scaling": "quantile",
                    },
                    {
                        **_widths(512, 256, 128),
                        **_training(128, 5e-4, dropout=0.3),
                        "scaling": "standard",
                    },
                ),
                **_TABLE_EPOCHS,
            ),
        },
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
                "batch_norm": [False, True],
                **_TRAINING,
            }
        ),
        starts={
            "images": Start(
                (
                    # LeNet-5 widened: 32 filters of 5x5, then 64 of 3x3 (16 % faster than 64 of
                    # 5x5), batch norm for fast convergence in the few epochs a CPU has, dropout
                    # in the dense layer and a decaying rate.
                    {
                        **_convolutions((32, 5), (64, 3), dense_units=128, batch_norm=True),
                        **_training(128, 1e-3, dropout=0.4, lr_schedule="exponential"),
                    },
                    # Half the filters, at 0.6 times the time per epoch (docs/tune.md).
                    {
                        **_convolutions((16, 5), (32, 5), dense_units=128, batch_norm=True),
                        **_training(128, 1e-3, dropout=0.3, lr_schedule="exponential"),
                    },
                    # LeNet-5's own sizes (6 and 16 filters, 120 units).
                    {
                        **_convolutions((6, 5), (16, 5), dense_units=120, batch_norm=False),
                        **_training(64, 1e-3),
                    },
                ),
                max_epochs=20,
                patience=4,
                warmup_epochs=2,
            ),
        },
    ),
}
