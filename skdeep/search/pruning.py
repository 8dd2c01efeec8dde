"""Prune an Optuna trial from inside a skdeep fit, once per epoch, fold by fold."""

from __future__ import annotations

import threading
from typing import Any

from skorch.callbacks import Callback

from ..utils.optional import require


class _FoldCounter:
    """Numbers the fits of one trial: shared by every copy of one pruning callback."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            fold, self._next = self._next, self._next + 1
            return fold


class OptunaPruning(Callback):
    """Report a validation metric to an Optuna trial after every epoch; prune when told.

    Give it in the estimator's ``callbacks`` inside an objective. Every fit of the estimator
    and of its clones (the folds of ``cross_validate``) counts as one fold, numbered in the
    order the fits start, and reports epoch ``e`` of fold ``k`` at step
    ``k * epochs_per_fold + e``. So the pruner compares fold 2 of this trial with fold 2 of
    the others, which saw the same data, instead of only ever seeing fold 1 (what
    optuna-integration's ``SkorchPruningCallback`` does, as it reports at the epoch number).

    Folds must run one after another in the process that owns the trial (``n_jobs=1`` in
    the cross-validation); run several trials at once instead.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The trial of the objective. Shared, not copied, by ``clone`` and ``deepcopy``.
    monitor : str, default="valid_loss"
        The history column to report, for example ``"valid_loss"`` or ``"valid_acc"``; it
        needs a validation split (``validation_fraction > 0``).
    lower_is_better : bool or None, default=None
        Whether smaller values of ``monitor`` are better; None means True for names ending in
        ``"loss"``. When it disagrees with the study's direction the value is reported negated,
        so that the pruner ranks trials the right way round.
    epochs_per_fold : int or None, default=None
        Steps reserved per fold; None takes the estimator's ``max_epochs``. Set it to the
        largest ``max_epochs`` when ``max_epochs`` itself is searched, so that step numbers
        mean the same in every trial.

    Examples
    --------
    >>> import optuna
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> def objective(trial):
    ...     clf = MLPClassifier(
    ...         learning_rate=trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True),
    ...         max_epochs=2, device="cpu", random_state=0,
    ...         callbacks=[OptunaPruning(trial, monitor="valid_acc")])
    ...     return cross_val_score(clf, X, y, cv=3).mean()
    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(objective, n_trials=1)
    >>> sorted(study.trials[0].intermediate_values)  # fold k, epoch e: step 2 * k + e
    [0, 1, 2, 3, 4, 5]
    """

    def __init__(
        self,
        trial,
        monitor: str = "valid_loss",
        lower_is_better: bool | None = None,
        epochs_per_fold: int | None = None,
    ) -> None:
        self.trial = trial
        self.monitor = monitor
        self.lower_is_better = lower_is_better
        self.epochs_per_fold = epochs_per_fold

    # -- sharing the trial between the copies that scikit-learn and skdeep make ---------------

    def _shared_folds(self) -> _FoldCounter:
        return self.__dict__.setdefault("_folds", _FoldCounter())

    def __sklearn_clone__(self) -> OptunaPruning:
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict) -> OptunaPruning:
        twin = type(self)(self.trial, self.monitor, self.lower_is_better, self.epochs_per_fold)
        twin._folds = self._shared_folds()
        return twin

    def __getstate__(self) -> dict[str, Any]:
        # A fitted estimator keeps its callbacks; pickling it must not drag the study along.
        state = {**self.__dict__, "trial": None}
        state.pop("_folds", None)
        return state

    # -- the hooks --------------------------------------------------------------------------

    def _sign(self) -> float:
        optuna = require("optuna")
        lower_is_better = self.lower_is_better
        if lower_is_better is None:
            lower_is_better = self.monitor.endswith("loss")
        study = getattr(self.trial, "study", None)
        if study is None:  # FixedTrial and the like: nothing is compared
            return 1.0
        if len(study.directions) > 1:
            raise ValueError(
                "OptunaPruning needs a single-objective study: Optuna cannot prune trials of "
                "a multi-objective one."
            )
        minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
        return 1.0 if lower_is_better == minimize else -1.0

    def initialize(self) -> OptunaPruning:
        # skorch initialises the callbacks once per new net, that is once per fit from scratch
        # (not for warm starts or partial_fit): the next fit is the next fold.
        self.__dict__.pop("_fold_", None)
        return super().initialize()

    def on_train_begin(self, net, **kwargs) -> None:
        if self.trial is None:
            raise ValueError(
                "This OptunaPruning has no trial (it was unpickled); give a new one with the "
                "trial of the objective."
            )
        self._sign_ = self._sign()
        self._stride_ = self.epochs_per_fold or net.max_epochs
        if not hasattr(self, "_fold_"):
            self._fold_ = self._shared_folds().next()

    def on_epoch_end(self, net, **kwargs) -> None:
        optuna = require("optuna")
        epoch = len(net.history) - 1
        if epoch >= self._stride_:
            raise ValueError(
                f"OptunaPruning reports at most {self._stride_} epochs per fold and this fit "
                "went past it; set epochs_per_fold to the largest number of epochs a fit trains."
            )
        row = net.history[-1]
        if self.monitor not in row:
            available = sorted(k for k in row if k not in ("batches", "epoch"))
            raise ValueError(
                f"OptunaPruning monitors {self.monitor!r}, which this fit does not record; it "
                f"records {available}. Validation metrics need validation_fraction > 0."
            )
        value = float(row[self.monitor])
        step = self._fold_ * self._stride_ + epoch
        self.trial.report(self._sign_ * value, step)
        if self.trial.should_prune():
            # Counted from 1, as the history counts epochs.
            raise optuna.TrialPruned(
                f"Pruned at fold {self._fold_ + 1}, epoch {row['epoch']} "
                f"({self.monitor}={value:.6g})."
            )
