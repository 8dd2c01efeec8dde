"""skorch callbacks for skdeep's estimators: schedules, early stopping, checkpoints, logging.

Each is a skorch :class:`~skorch.callbacks.Callback` with one behaviour, usable in any skorch
net and in an estimator's ``callbacks``; most are also switched on by estimator parameters
(``early_stopping``, ``lr_schedule``, ``batch_size_scaling``). ``TrainAccuracy`` and
``ValidAccuracy`` (classifiers), ``EpochMetrics``, ``TerminateOnNaN`` and ``EpochLog`` (what
``verbose`` prints) run in every skdeep fit. See ``docs/callbacks.md``.
"""

from ._annealing import CosineDecay, OneCycleLR
from ._checkpoint import Checkpoint, restore_checkpoints, stopped_early
from ._common import lower_is_better_for
from ._epoch_log import EpochLog, epoch_line
from ._from_params import LR_SCHEDULES, estimator_callbacks
from ._metrics import (
    BatchAccuracy,
    EpochMetrics,
    TerminateOnNaN,
    TrainAccuracy,
    TrainingDivergedError,
    TrainingDivergedWarning,
    ValidAccuracy,
    correct_predictions,
    divergence_advice,
)
from ._schedules import BatchSizeScaling, CyclicLR, ExponentialDecay, ReduceLROnPlateau
from ._stopping import EarlyStopping
from ._tensorboard import TensorBoard

__all__ = [
    "LR_SCHEDULES",
    "BatchAccuracy",
    "BatchSizeScaling",
    "Checkpoint",
    "CosineDecay",
    "CyclicLR",
    "EarlyStopping",
    "EpochLog",
    "EpochMetrics",
    "ExponentialDecay",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
    "TrainAccuracy",
    "TrainingDivergedError",
    "TrainingDivergedWarning",
    "ValidAccuracy",
    "correct_predictions",
    "divergence_advice",
    "epoch_line",
    "estimator_callbacks",
    "lower_is_better_for",
    "restore_checkpoints",
    "stopped_early",
]
