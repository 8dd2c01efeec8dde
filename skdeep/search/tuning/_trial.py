"""One trial of ``skdeep tune``: its estimator, its training within the budget, its score."""

from __future__ import annotations

import math
import time
import warnings

from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ...utils.optional import require
from ..pruning import OptunaPruning
from ._budget import BudgetStop
from ._data import TuneData
from ._spaces import SIZED_SCHEDULES, ModelSpace, data_kind

# The share of a trial's training rows that its early stopping and the pruner watch.
EARLY_STOPPING_FRACTION = 0.1
# The ensemble averages this many of the run's best trials.
ENSEMBLE_SIZE = 3
# A one-cycle or cosine trial's epochs are sized to the budget from a pilot fit of its network
# on this many batches, for two epochs (the first a warm-up); the estimate is kept this much
# above the pilot's epoch, for the validation rows scored at each epoch and the machine's swings.
PILOT_BATCHES = 16
PILOT_MARGIN = 1.15


def metric_name(task: str) -> str:
    """The score of a task: ``"accuracy"`` or ``"r2"``."""
    return "accuracy" if task == "classification" else "r2"


def score(task: str, estimator, X, y) -> float:
    """Accuracy (classification) or R² (regression) of ``estimator`` on ``X, y``."""
    predicted = estimator.predict(X)
    if task == "classification":
        return float(accuracy_score(y, predicted))
    return float(r2_score(y, predicted))


def _network_class(model: str, task: str):
    from ...estimators import CNNClassifier, MLPClassifier, MLPRegressor

    if model == "cnn":
        return CNNClassifier
    return MLPClassifier if task == "classification" else MLPRegressor


def make_estimator(
    data: TuneData,
    model_space: ModelSpace,
    params: dict,
    *,
    max_epochs: int,
    patience: int,
    validating: bool,
    callbacks: list,
    device: str,
    random_state: int,
):
    """The estimator of one trial (``validating``) or of the refit, with its preprocessing."""
    from ...baselines import make_preprocessor

    network_params = model_space.estimator_params(params)
    if data.images and model_space.name != "cnn" and network_params.get("augmentation"):
        side = math.isqrt(data.X_train.shape[1])  # flat square images: 64 or 784 pixels
        network_params["input_shape"] = (side, side)
    network = _network_class(model_space.name, data.task)(
        **network_params,
        max_epochs=max_epochs,
        early_stopping=validating,
        n_iter_no_change=patience,
        validation_fraction=EARLY_STOPPING_FRACTION if validating else 0.0,
        callbacks=callbacks,
        device=device,
        random_state=random_state,
    )
    if data.images:
        return network  # pixels already in [0, 1]
    preprocessing = make_preprocessor(data.X_train, scaler=params.get("scaling", "standard"))
    if preprocessing != "passthrough":
        preprocessing = clone(preprocessing)
    estimator = Pipeline([("preprocess", preprocessing), ("model", network)])
    if data.task == "regression":
        # Networks learn badly on targets in the hundreds of thousands: standardise them.
        estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    return estimator


def best_epoch(estimator) -> int:
    """The epoch whose weights early stopping kept (the last epoch without early stopping).

    Early stopping's own record, not the history's ``valid_loss_best``: an epoch that beat
    the best loss by less than ``tol`` is marked best in the history, but its weights are
    not the ones kept and scored.
    """
    from ...baselines import find_network

    network = find_network(estimator)
    stopping = dict(network.net_.callbacks_).get("early_stopping")
    kept = getattr(stopping, "best_epoch_", None)
    return int(kept) if kept else len(network.history_)


class Objective:
    """One trial: draw, train on the fitting rows with pruning and the budget, score on the
    selection rows.

    Each trial records as user attributes its ``seconds``, ``epochs``, ``seconds_per_epoch``,
    ``best_epoch`` and ``stopped_by`` (``budget``, ``early_stopping``, ``max_epochs``,
    ``pruner`` or ``error``, with the ``error``).
    """

    def __init__(self, data, model_space, fit_rows, valid_rows, budget, **settings) -> None:
        self.data = data
        self.model_space = model_space
        self.X_fit, self.y_fit = fit_rows
        self.X_valid, self.y_valid = valid_rows
        self.budget = budget
        self.start = settings["start"]
        self.max_epochs = settings["max_epochs"]  # the user's, or None for the start's
        self.patience = self.start.patience
        self.device = settings["device"]
        self.random_state = settings["random_state"]
        self.refit_factor = settings["refit_factor"]
        self.worker = settings.get("worker")  # the process of a run with several, else None
        self.kind = data_kind(data.images, data.task)
        self.monitor = "valid_acc" if data.task == "classification" else "valid_loss"
        # The best complete trials of this run as they were trained, best first: the ensemble's
        # members.
        self.kept: list[tuple[float, int, object]] = []

    def _keep(self, value: float, number: int, estimator) -> None:
        if not math.isfinite(value):
            return
        self.kept.append((value, number, estimator))
        self.kept.sort(key=lambda kept: (-kept[0], kept[1]))
        del self.kept[ENSEMBLE_SIZE:]

    def _pilot_epoch_seconds(self, params: dict) -> float | None:
        """Seconds an epoch of the fitting rows will take, from a pilot fit of the trial's
        network on a few batches; None when the pilot fails (the trial will say why)."""
        from ...baselines import find_network

        pilot = make_estimator(
            self.data,
            self.model_space,
            params,
            max_epochs=2,
            patience=self.patience,
            validating=False,
            callbacks=[],
            device=self.device,
            random_state=self.random_state,
        )
        rows = min(len(self.y_fit), PILOT_BATCHES * find_network(pilot).batch_size)
        try:
            # What it warns of (a scaler fitted on few rows) is the pilot's, not the trial's.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pilot.fit(self.X_fit[:rows], self.y_fit[:rows])
        except Exception:  # noqa: BLE001 - the trial itself fails and records the error
            return None
        seconds = float(find_network(pilot).history_[-1, "dur"])
        return PILOT_MARGIN * seconds * len(self.y_fit) / rows

    def _epochs(self, trial, params: dict) -> int:
        """The trial's epochs: the start's (or the user's), and for a schedule sized to its
        epochs, no more than the budget holds with the refit, so that it ends its cycle."""
        epochs = self.start.epochs(params, self.max_epochs)
        sized = params.get("lr_schedule") in SIZED_SCHEDULES
        if self.max_epochs is not None or not sized or self.budget.seconds is None:
            return epochs
        per_epoch = self._pilot_epoch_seconds(params)
        if per_epoch is None:
            return epochs
        epochs = max(1, min(epochs, self.budget.affordable_epochs(per_epoch, self.refit_factor)))
        trial.set_user_attr("pilot_seconds_per_epoch", per_epoch)
        trial.set_user_attr("epochs_planned", epochs)
        return epochs

    def __call__(self, trial) -> float:
        optuna = require("optuna")
        params = self.model_space.suggest(trial, self.kind)
        if self.worker is not None:
            trial.set_user_attr("worker", self.worker)
        epochs = self._epochs(trial, params)
        record: dict = {}
        callbacks = [
            BudgetStop(self.budget, self.refit_factor, record),
            OptunaPruning(trial, monitor=self.monitor, epochs_per_fold=epochs),
        ]
        estimator = make_estimator(
            self.data,
            self.model_space,
            params,
            max_epochs=epochs,
            patience=self.patience,
            validating=True,
            callbacks=callbacks,
            device=self.device,
            random_state=self.random_state,
        )
        start = time.perf_counter()
        stopped_by = None
        try:
            estimator.fit(self.X_fit, self.y_fit)
        except optuna.TrialPruned:
            stopped_by = "pruner"
            raise
        except Exception as error:  # a failed fit is recorded and the search goes on
            stopped_by = "error"
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            return math.nan
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - start)
            trial.set_user_attr("epochs", record.get("epochs", 0))
            trial.set_user_attr("seconds_per_epoch", record.get("seconds_per_epoch"))
            if stopped_by is not None:
                trial.set_user_attr("stopped_by", stopped_by)
        if record["stopped_by_budget"]:
            stopped_by = "budget"
        elif record["epochs"] < epochs:
            stopped_by = "early_stopping"
        else:
            stopped_by = "max_epochs"
        trial.set_user_attr("stopped_by", stopped_by)
        trial.set_user_attr("best_epoch", best_epoch(estimator))
        value = score(self.data.task, estimator, self.X_valid, self.y_valid)
        self._keep(value, trial.number, estimator)
        return value
