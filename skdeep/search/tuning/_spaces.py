"""The search space of each model that ``skdeep tune`` tunes, and how it starts on each data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..space import SearchSpace

MODELS = ("mlp", "deep-mlp", "cnn")
# "none" rather than None: a missing value would read as NaN in the tables and figures.
LR_SCHEDULES = ["none", "exponential", "plateau", "cyclic", "one_cycle", "cosine"]
# The schedules sized to the trial's epochs before its first step.
SIZED_SCHEDULES = ("one_cycle", "cosine")
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
# (``make_preprocessor``'s ``scaler``; images keep their pixels in [0, 1]) and embedded.
TABLE_SPACE = SearchSpace(
    {
        "scaling": ["standard", "quantile"],
        "numeric_embedding": ["none", "periodic", "piecewise_linear"],
    }
)
# What classifiers add: smoothed labels, and what their early stopping watches.
CLASSIFIER_SPACE = SearchSpace(
    {
        "label_smoothing": ("float", 0.0, 0.2),
        "early_stopping_monitor": ["valid_loss", "valid_acc"],
    }
)
# What images add: the strength of the training images' augmentation, 0 (none) to 1 (shifts of
# up to 2 pixels, rotations of 10 degrees, scaling by 10 %: the "standard" preset).
IMAGE_SPACE = SearchSpace({"augmentation_strength": ("float", 0.0, 1.0)})
KIND_SPACES = {
    "images": (IMAGE_SPACE, CLASSIFIER_SPACE),
    "classification": (TABLE_SPACE, CLASSIFIER_SPACE),
    "regression": (TABLE_SPACE,),
}
# What a first trial takes for the parameters of its kind of data that it does not name: the
# estimators' defaults, so that a documented configuration is replayed as it was.
_UNNAMED = {
    "scaling": "standard",
    "numeric_embedding": "none",
    "label_smoothing": 0.0,
    "early_stopping_monitor": "valid_loss",
    "augmentation_strength": 0.0,
}


def augmentation(strength: float) -> dict[str, float] | None:
    """The ``augmentation`` of a strength in [0, 1]: the "standard" preset scaled by it.

    Examples
    --------
    >>> augmentation(0.5)
    {'shift': 1.0, 'rotation': 5.0, 'scale': 0.05}
    >>> augmentation(0.0) is None
    True
    """
    if strength <= 0:
        return None
    # Imported here: the core imports torch, which the option checks must not load.
    from ...core import AUGMENTATION_PRESETS

    return {key: value * strength for key, value in AUGMENTATION_PRESETS["standard"].items()}


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


# The recipe of a careful hand-written torch script (AdamW, a one-cycle rate, smoothed labels,
# early stopping that watches the accuracy, and for images random shifts, rotations and
# scaling): the first trial of each model on images and on tables of classes.
_RECIPE = {"optimizer": "adamw", "lr_schedule": "one_cycle"}
_CLASSIFIER_RECIPE = {"label_smoothing": 0.05, "early_stopping_monitor": "valid_acc"}


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
    the pruner compares a trial with the others only after ``warmup_epochs`` epochs. A trial
    whose learning rate follows a one-cycle or cosine schedule trains ``schedule_epochs``
    (the schedule's length: it is sized before the first step).
    """

    first_trials: tuple[Mapping[str, Any], ...]
    max_epochs: int
    patience: int
    warmup_epochs: int
    schedule_epochs: int

    def epochs(self, params: Mapping[str, Any], max_epochs: int | None = None) -> int:
        """The epochs of a trial of ``params``: ``max_epochs`` (the user's) when given, else
        ``schedule_epochs`` for a one-cycle or cosine schedule and ``self.max_epochs`` for
        the others.

        Examples
        --------
        >>> start = MODEL_SPACES["cnn"].start("images")
        >>> start.epochs({"lr_schedule": "one_cycle"}), start.epochs({"lr_schedule": "none"})
        (6, 20)
        """
        if max_epochs is not None:
            return max_epochs
        if params.get("lr_schedule") in SIZED_SCHEDULES:
            return self.schedule_epochs
        return self.max_epochs


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
        """The :class:`Start` of ``kind``, one of :data:`DATA_KINDS` that the model takes.

        Its first trials name every parameter of the kind's spaces: what one leaves out takes
        the estimators' default (no embedding, smoothing or augmentation).
        """
        if kind not in self.starts:
            raise ValueError(
                f"--model {self.name} takes {' or '.join(self.starts)} data, not {kind}."
            )
        start = self.starts[kind]
        names = [name for space in KIND_SPACES[kind] for name in space.spec]
        unnamed = {name: _UNNAMED[name] for name in names}
        return replace(start, first_trials=tuple({**unnamed, **t} for t in start.first_trials))

    def suggest(self, trial, kind: str = "images") -> dict[str, Any]:
        """Draw one trial's parameters on ``kind`` of data, with the conditional widths of its
        layers and the spaces of its kind of data (:data:`TABLE_SPACE`,
        :data:`CLASSIFIER_SPACE`, :data:`IMAGE_SPACE`)."""
        params = self.space.suggest(trial)
        for space in KIND_SPACES[kind]:
            params.update(space.suggest(trial))
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
        for name in ("lr_schedule", "numeric_embedding"):
            if params.get(name) == "none":
                params[name] = None
        if "augmentation_strength" in params:
            params["augmentation"] = augmentation(params.pop("augmentation_strength"))
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
_TABLE_EPOCHS = {"max_epochs": 150, "patience": 10, "warmup_epochs": 20, "schedule_epochs": 60}
# Images: a few epochs of tens of thousands of images already rank the trials; the script's
# MLP trains 30 epochs of its one-cycle schedule.
_IMAGE_EPOCHS = {"patience": 5, "warmup_epochs": 2, "schedule_epochs": 30}

MODEL_SPACES: dict[str, ModelSpace] = {
    "mlp": ModelSpace(
        "mlp",
        SearchSpace({"width": ("int", 128, 2048, "log"), **_TRAINING}),
        starts={
            "images": Start(
                (
                    {
                        "width": 2048,
                        **_training(128, 3e-3, dropout=0.3, **_RECIPE),
                        **_CLASSIFIER_RECIPE,
                        "augmentation_strength": 1.0,
                    },
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
                        "width": 512,
                        **_training(64, 3e-3, **_RECIPE),
                        "scaling": "quantile",
                        "numeric_embedding": "piecewise_linear",
                    },
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
                        "width": 512,
                        **_training(128, 3e-3, dropout=0.2, **_RECIPE),
                        **_CLASSIFIER_RECIPE,
                        "scaling": "quantile",
                        "numeric_embedding": "piecewise_linear",
                    },
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
                    # The hand-written script's MLP: 784-1024-1024-10, dropout 0.2.
                    {
                        **_widths(1024, 1024),
                        **_training(128, 3e-3, dropout=0.2, **_RECIPE),
                        **_CLASSIFIER_RECIPE,
                        "augmentation_strength": 1.0,
                    },
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
                        **_widths(256, 256),
                        **_training(64, 3e-3, **_RECIPE),
                        "scaling": "quantile",
                        "numeric_embedding": "piecewise_linear",
                    },
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
                        **_widths(256, 256),
                        **_training(128, 3e-3, dropout=0.2, **_RECIPE),
                        **_CLASSIFIER_RECIPE,
                        "scaling": "quantile",
                        "numeric_embedding": "piecewise_linear",
                    },
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
                    # The hand-written script's CNN: 32 and 64 filters of 3x3 with batch norm,
                    # 128 dense units, dropout 0.3 (99.40 % on MNIST after 6 epochs).
                    {
                        **_convolutions((32, 3), (64, 3), dense_units=128, batch_norm=True),
                        **_training(128, 3e-3, dropout=0.3, **_RECIPE),
                        **_CLASSIFIER_RECIPE,
                        "augmentation_strength": 1.0,
                    },
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
                schedule_epochs=6,  # the script's CNN: 99.40 % after 6 epochs
            ),
        },
    ),
}
