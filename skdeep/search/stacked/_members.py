"""Which networks can train together in a stack, each prepared as its own ``fit`` would be.

A member is a skdeep estimator prepared for its fit (``net_`` built with its seed, targets
encoded) but not trained, with the rows it trains and validates on. :func:`stack_key` says which
members can share a stack: the same layers, shapes and training loop, differing only in the
values of ``STACKABLE_PARAMS``; :func:`why_not_stackable` says why one cannot be stacked at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ...callbacks import CosineDecay, CyclicLR, ExponentialDecay, OneCycleLR, ReduceLROnPlateau
from ...core import BaseNetwork
from ...utils.device import resolve_device, seeded
from ...utils.reprs import stable_repr

# Stacking works per sample only: batch norm mixes samples and updates buffers in place.
_UNSTACKABLE_LAYERS = (nn.modules.batchnorm._BatchNorm,)
_STACKABLE_SCHEDULES = (None, "exponential", "cyclic", "plateau", "one_cycle", "cosine")
_STACKABLE_SCHEDULE_TYPES = (ExponentialDecay, CyclicLR, ReduceLROnPlateau, OneCycleLR, CosineDecay)
# Parameters whose values each member of a stack holds for itself. ``dropout`` is one because
# the dropout layers of a stack read their rate per member (0 and above 0 still differ: the
# layer is absent at 0).
STACKABLE_PARAMS = frozenset(
    {
        "learning_rate",
        "momentum",
        "l1",
        "l2",
        "dropout",
        "kernel_initializer",
        "random_state",
        "max_epochs",
        "early_stopping",
        "early_stopping_monitor",
        "n_iter_no_change",
        "tol",
        "validation_fraction",
        "class_weight",
        "lr_schedule",
        "batch_size_scaling",
        "verbose",
        "warm_start",
        "compile",
    }
)


@dataclass
class Member:
    """One network of a stack: its prepared estimator and its data.

    Parameters
    ----------
    estimator : BaseNetwork
        Prepared by :func:`prepare_member`: ``net_`` built with its seed, not trained.
    train_rows, valid_rows : torch.Tensor
        Row numbers, into the member's data slot, of its training and validation samples.
    slot : int
        Which copy of the features it trains on (one per fitted preprocessing).
    y : torch.Tensor
        Its encoded targets for every row of the data (rows outside its fold are unused).
    weights : torch.Tensor or None
        Its normalised sample weights for every row, or None.
    generator : torch.Generator
        Draws its epoch permutations, as the default generator does in its separate fit.
    error : str or None
        Set when its training diverged.
    """

    estimator: BaseNetwork
    train_rows: torch.Tensor
    valid_rows: torch.Tensor | None
    slot: int
    y: torch.Tensor
    weights: torch.Tensor | None
    generator: torch.Generator
    error: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._start_state = self.generator.get_state()

    def rewind(self) -> None:
        """Undo a training cut short (out of memory): no history, the first permutation next.

        The module's weights are untouched until a stack's training ends, so they need nothing.
        """
        del self.estimator.net_.history[:]
        self.generator.set_state(self._start_state)
        self.error = None
        schedule = schedule_of(self.estimator)
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.lr_scheduler_ = None  # a new one, on the rate it starts from


def prepare_member(
    estimator: BaseNetwork, X, y, sample_weight, fold_rows: np.ndarray, slot: int, n_rows: int
) -> Member:
    """Prepare ``estimator`` to train, in a stack, on rows ``fold_rows`` of a data slot.

    ``X``, ``y`` and ``sample_weight`` hold those rows only, as its separate ``fit`` would get
    them. Everything a separate fit does before its first epoch happens here: validation,
    target encoding, the seed, the net with its initial weights, the validation split.
    """
    device = resolve_device(estimator.device)
    _, y_encoded, weights = estimator._prepare_data(X, y, sample_weight, first_call=True)
    with seeded(estimator._seed, device):
        estimator.net_ = estimator._build_net(device)
        estimator.net_.target_scale_ = estimator._target_scale(y_encoded)
        # A separate fit draws its permutations from here on, from the data's device.
        generator = torch.Generator(device=device)
        generator.set_state(
            torch.get_rng_state() if device.type == "cpu" else torch.cuda.get_rng_state(device)
        )
    split = estimator._validation_indices(y_encoded)
    train, valid = split if split is not None else (np.arange(len(y_encoded)), None)
    y_all = np.zeros((n_rows, *y_encoded.shape[1:]), dtype=y_encoded.dtype)
    y_all[fold_rows] = y_encoded
    weights_all = None
    if weights is not None:
        weights_all = np.ones(n_rows, dtype=np.float32)
        weights_all[fold_rows] = weights
    to_tensor = lambda a: None if a is None else torch.from_numpy(a).to(device)  # noqa: E731
    return Member(
        estimator,
        train_rows=to_tensor(fold_rows[train]),
        valid_rows=None if valid is None else to_tensor(fold_rows[valid]),
        slot=slot,
        y=to_tensor(y_all),
        weights=to_tensor(weights_all),
        generator=generator,
    )


def why_not_stackable(estimator: BaseNetwork) -> str | None:
    """Return why a prepared estimator cannot train in a stack, or None when it can.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> why_not_stackable(MLPClassifier(batch_norm=True, max_epochs=1).fit([[0.0], [1.0]] * 5,
    ...                                                                   [0, 1] * 5))
    'batch_norm: batch norm layers mix the samples of a batch'
    """
    module = estimator.net_.module_
    if getattr(estimator, "numeric_embedding", None) is not None:
        return (
            f"numeric_embedding={estimator.numeric_embedding!r}: the stack trains plain MLPs "
            "(piecewise-linear bins also differ from fold to fold)"
        )
    if any(isinstance(layer, _UNSTACKABLE_LAYERS) for layer in module.modules()):
        return "batch_norm: batch norm layers mix the samples of a batch"
    if not all(p.requires_grad for p in module.parameters()):
        return "frozen parameters"
    if isinstance(estimator.net_.optimizer_, torch.optim.LBFGS):
        return "optimizer: LBFGS needs a closure over one network's loss"
    if getattr(estimator, "callbacks", None):
        return "callbacks: user callbacks run on one net at a time"
    if getattr(estimator, "on_divergence", "raise") != "raise":
        return "on_divergence: a stack fails a diverged member; 'stop' and 'continue' train alone"
    if estimator.net_.augmentation is not None:
        return "augmentation: a stack's members share each batch, not their own augmented views"
    schedule = getattr(estimator, "lr_schedule", None)
    if not (schedule in _STACKABLE_SCHEDULES or isinstance(schedule, _STACKABLE_SCHEDULE_TYPES)):
        return (
            f"lr_schedule={schedule!r} (stackable: {_STACKABLE_SCHEDULES} or an instance of "
            f"{[t.__name__ for t in _STACKABLE_SCHEDULE_TYPES]})"
        )
    return None


def stack_key(estimator: BaseNetwork) -> tuple:
    """What members of one stack must share: the module's layers and shapes, the training loop.

    Members may differ only in the parameters of ``STACKABLE_PARAMS`` (values each member holds
    for itself) and in their modules' dropout rates; every other parameter, a custom module's
    ``module__*`` included, and every other part of the module's description (widths,
    activations, layer order) must be the same.
    """
    module = estimator.net_.module_
    layers = re.sub(r"Dropout\(p=[^,)]*", "Dropout(p=*", repr(module))
    others = sorted(
        (name, stable_repr(value))
        for name, value in estimator.get_params(deep=False).items()
        if name not in STACKABLE_PARAMS
    )
    return (
        type(estimator),
        layers,
        tuple((name, tuple(p.shape)) for name, p in module.named_parameters()),
        repr(estimator.net_.criterion_),
        str(estimator.net_.device),
        tuple(others),
    )


def schedule_of(estimator: BaseNetwork):
    schedule = dict(estimator.net_.callbacks_).get("lr_schedule")
    return schedule if isinstance(schedule, _STACKABLE_SCHEDULE_TYPES) else None


def initial_lr(estimator: BaseNetwork) -> float:
    """The learning rate of the first step: ``learning_rate``, after any batch-size scaling."""
    scaling = dict(estimator.net_.callbacks_).get("batch_size_scaling")
    factor = 1.0 if scaling is None else scaling.factor(estimator.batch_size)
    return float(estimator.learning_rate) * factor
