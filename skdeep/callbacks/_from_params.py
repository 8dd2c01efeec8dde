"""The callbacks that an estimator's parameters switch on, around the user's own ``callbacks``."""

from __future__ import annotations

import copy

from sklearn.base import is_classifier
from skorch.callbacks import Callback
from skorch.callbacks.scoring import ScoringBase

from ._annealing import CosineDecay, OneCycleLR
from ._common import UsesEstimatorParams
from ._schedules import BatchSizeScaling, CyclicLR, ExponentialDecay, ReduceLROnPlateau
from ._stopping import EarlyStopping

LR_SCHEDULES = ("exponential", "cyclic", "plateau", "one_cycle", "cosine")
BATCH_SIZE_SCALING_BASE = 32  # the estimators' default batch_size: scaling changes nothing there


def named_lr_schedule(name: str, learning_rate: float, validating: bool):
    """The callback behind ``lr_schedule=name``, for a (batch-size scaled) ``learning_rate``.

    - ``"exponential"``: ``ExponentialDecay(decay_steps="epoch", decay_rate=0.96)``, the rate
      shrinking smoothly by 4% per epoch (to 44% after 20 epochs, 2% after 100);
    - ``"cyclic"``: ``CyclicLR(base_lr=learning_rate / 10, max_lr=learning_rate, step_size=5)``,
      triangular cycles of 10 epochs between a tenth of the rate and the rate;
    - ``"plateau"``: ``ReduceLROnPlateau(monitor, factor=0.1, patience=3)``, on ``valid_loss``
      when a validation split is held out, else on ``train_loss``;
    - ``"one_cycle"``: ``OneCycleLR(pct_start=0.3, div_factor=25, final_div_factor=1e4)``,
      per step over the ``max_epochs``: up from ``learning_rate / 25`` to ``learning_rate`` in
      the first 30% of the steps, then down to ``learning_rate / 2.5e5`` (torch's defaults);
    - ``"cosine"``: ``CosineDecay(warmup_fraction=0.0, min_lr=0.0)``, per step from
      ``learning_rate`` down to 0 at the end of the ``max_epochs`` along a half cosine.

    Examples
    --------
    >>> named_lr_schedule("cyclic", 0.01, validating=True)
    CyclicLR(base_lr=0.001, max_lr=0.01, step_size=5, mode='triangular', unit='epoch', gamma=1.0)
    """
    if name == "exponential":
        return ExponentialDecay(decay_steps="epoch", decay_rate=0.96)
    if name == "cyclic":
        return CyclicLR(base_lr=learning_rate / 10, max_lr=learning_rate, step_size=5)
    if name == "plateau":
        return ReduceLROnPlateau(monitor="valid_loss" if validating else "train_loss")
    if name == "one_cycle":
        return OneCycleLR()
    if name == "cosine":
        return CosineDecay()
    raise ValueError(
        f"lr_schedule must be one of {LR_SCHEDULES}, a callback or None; got {name!r}."
    )


def _is_callback(value) -> bool:
    return isinstance(value, Callback) or (isinstance(value, type) and issubclass(value, Callback))


def _check_callbacks(callbacks) -> None:
    """Refuse entries of ``callbacks`` that are not skorch callbacks, before any training."""
    for index, item in enumerate(callbacks or []):
        named = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
        if not (_is_callback(item[1]) if named else _is_callback(item)):
            raise TypeError(
                f"callbacks[{index}] is of type {type(item).__name__}, not a skorch callback; "
                "callbacks takes skorch Callback instances (or (name, callback) pairs)."
            )


def _scoring_callback(callbacks, name: str) -> ScoringBase | None:
    """The skorch scoring callback of ``callbacks`` that records the column ``name``, if any."""
    for item in callbacks or []:
        callback = item[1] if isinstance(item, tuple) else item
        if isinstance(callback, ScoringBase):
            recorded = callback.name
            if recorded is None and isinstance(callback.scoring, str):
                recorded = callback.scoring
            if recorded == name:
                return callback
    return None


def early_stopping_rule(estimator, validating: bool) -> EarlyStopping:
    """The :class:`EarlyStopping` of ``early_stopping=True``, its monitor checked before training.

    It monitors ``early_stopping_monitor``: ``train_loss``, ``valid_loss``, for classifiers
    ``train_acc`` and ``valid_acc``, or a column one of the estimator's ``callbacks`` records
    (which the first epoch checks, as the callbacks may record any column). Its direction is
    that of the skorch scoring callback recording it, when there is one, else read from the
    name (:func:`lower_is_better_for`). Raises ValueError for a validation column without a
    validation split, and for a column no callback can record.
    """
    monitor = estimator.early_stopping_monitor
    if monitor.startswith("valid") and not validating:
        raise ValueError(
            f"early_stopping=True stops on {monitor!r}, but validation_fraction=0 holds no "
            "validation data out; set validation_fraction > 0 (for example 0.1), or monitor a "
            "training column (early_stopping_monitor='train_loss')."
        )
    recorded = ["train_loss", "valid_loss"]
    if is_classifier(estimator):
        recorded += ["train_acc", "valid_acc"]
    scorer = _scoring_callback(estimator.callbacks, monitor)
    if monitor not in recorded and scorer is None and not estimator.callbacks:
        raise ValueError(
            f"early_stopping_monitor={monitor!r} is not a column this fit records; it "
            f"records {recorded}. Another score needs a callback that records it under that "
            "name, for example callbacks=[EpochScoring('f1_macro', lower_is_better=False, "
            "name='valid_f1')] with early_stopping_monitor='valid_f1'."
        )
    mode = "auto" if scorer is None else ("min" if scorer.lower_is_better else "max")
    return EarlyStopping(
        monitor=monitor,
        patience=estimator.n_iter_no_change,
        min_delta=estimator.tol,
        restore_best_weights=True,
        mode=mode,
    )


def estimator_callbacks(estimator) -> list:
    """The skorch callbacks of one fit of ``estimator``: its parameters' and copies of its own.

    In order: batch-size scaling, a deep copy of ``callbacks``, the learning-rate schedule
    (after them, so that it can monitor a metric that one of them records), then early stopping
    (last, so that every other callback sees the epoch at which it stops).
    Callbacks that record hyper-parameters get the estimator's. Raises ValueError, before any
    training, for ``early_stopping=True`` on a validation column without a validation split or
    on a column that nothing records.
    """
    validating = estimator.validation_fraction > 0
    _check_callbacks(estimator.callbacks)
    stopping = early_stopping_rule(estimator, validating) if estimator.early_stopping else None
    learning_rate = estimator.learning_rate
    callbacks: list = []
    if estimator.batch_size_scaling is not None:
        scaling = BatchSizeScaling(BATCH_SIZE_SCALING_BASE, rule=estimator.batch_size_scaling)
        learning_rate *= scaling.factor(estimator.batch_size)
        callbacks.append(("batch_size_scaling", scaling))
    callbacks += copy.deepcopy(estimator.callbacks or [])
    schedule = estimator.lr_schedule
    if isinstance(schedule, str):
        callbacks.append(("lr_schedule", named_lr_schedule(schedule, learning_rate, validating)))
    elif schedule is not None:
        callbacks.append(("lr_schedule", copy.deepcopy(schedule)))
    if stopping is not None:
        callbacks.append(("early_stopping", stopping))
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k != "callbacks"}
    for item in callbacks:
        callback = item[1] if isinstance(item, tuple) else item
        if isinstance(callback, UsesEstimatorParams):
            callback.estimator_params_ = params
    return callbacks
