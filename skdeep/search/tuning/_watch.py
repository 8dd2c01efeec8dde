"""What ``skdeep tune`` does after each trial: TensorBoard, the refit reserve, the stop, a line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...utils.formatting import format_seconds
from ._budget import Budget


def trial_counts(study) -> dict:
    """Trials of the study by state; enqueued trials that no run has started are not counted."""
    states = [trial.state.name for trial in study.trials if trial.state.name != "WAITING"]
    return {
        "n_trials": len(states),
        "n_complete": states.count("COMPLETE"),
        "n_pruned": states.count("PRUNED"),
        "n_failed": states.count("FAIL"),
        "n_running": states.count("RUNNING"),
    }


def best_trial(study):
    """The complete trial of the best finite score, or None."""
    complete = [t for t in study.trials if t.state.name == "COMPLETE" and math.isfinite(t.value)]
    return max(complete, key=lambda t: t.value) if complete else None


def refit_seconds(trial, refit_factor: float) -> float:
    """The estimated seconds of refitting ``trial``: its best epochs on the refit's rows."""
    per_epoch = trial.user_attrs.get("seconds_per_epoch") or 0.0
    return refit_factor * per_epoch * trial.user_attrs.get("best_epoch", 1)


def _hparam(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_hparams(board_dir: Path, trial, metric: str) -> None:
    """Write one trial to TensorBoard: its reported values per epoch and its HParams row."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(board_dir / f"trial-{trial.number:04d}")) as writer:
        for step, value in sorted(trial.intermediate_values.items()):
            writer.add_scalar("pruning/reported", value, step)
        hparams = {name: _hparam(value) for name, value in trial.params.items()}
        hparams["state"] = trial.state.name.lower()
        complete = trial.state.name == "COMPLETE" and trial.value is not None
        writer.add_hparams(
            hparams,
            {
                f"hparam/valid_{metric}": float(trial.value) if complete else math.nan,
                "hparam/epochs": float(trial.user_attrs.get("epochs", 0)),
                "hparam/seconds": float(trial.user_attrs.get("seconds", 0.0)),
            },
            run_name=".",
        )


class Watch:
    """Optuna callback after each trial: TensorBoard, the reserve for the refit, the stop,
    and a progress line (unless ``quiet``)."""

    def __init__(
        self,
        budget: Budget,
        refit_factor: float,
        board_dir: Path,
        stream,
        quiet,
        metric: str,
        prefix: str = "",
    ) -> None:
        self.budget = budget
        self.refit_factor = refit_factor
        self.board_dir = board_dir
        self.stream = stream
        self.quiet = quiet
        self.metric = metric
        self.prefix = prefix  # of the lines, naming the worker process
        self.added = 0
        self.stopped = False  # by the budget

    def update_reserve(self, study) -> None:
        """Keep back the estimated refit of the best trial so far."""
        best = best_trial(study)
        if best is not None:
            self.budget.reserve = self.budget.refit_reserve(refit_seconds(best, self.refit_factor))

    def __call__(self, study, trial) -> None:
        self.added += 1
        write_hparams(self.board_dir, trial, self.metric)
        self.update_reserve(study)
        per_epoch = [
            t.user_attrs["seconds_per_epoch"]
            for t in study.trials
            if t.user_attrs.get("seconds_per_epoch")
        ]
        two_epochs = 2 * float(np.median(per_epoch)) if per_epoch else 0.0
        if self.budget.left() - self.budget.reserve < two_epochs:
            self.stopped = True
            study.stop()
        if not self.quiet:
            print(self._line(study, trial), file=self.stream, flush=True)

    def _line(self, study, trial) -> str:
        counts = trial_counts(study)
        state = trial.state.name.lower()
        detail = f"{self.metric} {trial.value:.4f}" if state == "complete" else state
        best = best_trial(study)
        best_text = f"best {best.value:.4f} (trial {best.number})" if best else "no best yet"
        left = self.budget.left()
        left_text = "" if math.isinf(left) else f"; {format_seconds(max(left, 0))} left"
        return (
            f"{self.prefix}trial {trial.number}: {detail}, "
            f"{trial.user_attrs.get('epochs')} epochs, "
            f"{format_seconds(trial.user_attrs.get('seconds', 0))} | {counts['n_trials']} trials "
            f"({self.added} this run), {counts['n_pruned']} pruned, {best_text}{left_text}"
        )
