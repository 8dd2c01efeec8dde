"""What ``skdeep tune`` writes: trials.csv, summary.json, the figures and report.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ...utils.formatting import format_seconds
from ...utils.machine import load_sentence
from ...utils.optional import new_figure, require
from ..plots import plot_importance, plot_parallel_coordinates, plot_scores
from ..results import results_frame

_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


# What each trial records (its user attributes), as columns of trials.csv.
TRIAL_COLUMNS = ["epochs", "best_epoch", "seconds", "stopped_by", "error"]
OPTIONAL_COLUMNS = ["epochs_planned", "pilot_seconds_per_epoch", "worker"]


def trials_frame(study) -> pd.DataFrame:
    """One row per trial: number, state, parameters, score, epochs, seconds, why it stopped.

    Examples
    --------
    >>> import optuna
    >>> study = optuna.create_study(direction="maximize")
    >>> study.add_trial(optuna.trial.create_trial(
    ...     params={"lr": 0.01}, distributions={"lr": optuna.distributions.FloatDistribution(
    ...     1e-3, 1e-1, log=True)}, value=0.9, user_attrs={"epochs": 3, "seconds": 1.5}))
    >>> trials_frame(study)[["trial", "state", "lr", "score", "epochs"]].to_dict("records")
    [{'trial': 0, 'state': 'complete', 'lr': 0.01, 'score': 0.9, 'epochs': 3}]
    """
    params: dict[str, None] = {}
    rows = []
    started = [trial for trial in study.trials if trial.state.name != "WAITING"]
    # Columns that only some runs have: sized schedules, several workers.
    optional = [name for name in OPTIONAL_COLUMNS if any(name in t.user_attrs for t in started)]
    for trial in started:
        for name in trial.params:
            params.setdefault(name, None)
        complete = trial.state.name == "COMPLETE"
        rows.append(
            {
                "trial": trial.number,
                "state": _STATES.get(trial.state.name, trial.state.name.lower()),
                **trial.params,
                "score": trial.value if complete else np.nan,
                **{name: trial.user_attrs.get(name) for name in TRIAL_COLUMNS + optional},
            }
        )
    return pd.DataFrame(
        rows, columns=["trial", "state", *params, "score", *TRIAL_COLUMNS, *optional]
    )


def _plot_history(frame: pd.DataFrame, metric: str):
    figure = new_figure(6, 3.5)
    ax = figure.subplots()
    done = frame[frame["state"] == "complete"].dropna(subset=["score"])
    ax.scatter(done["trial"], done["score"], color="tab:blue", label="complete", zorder=3)
    if not done.empty:
        best = done["score"].cummax()
        ax.step(done["trial"], best, where="post", color="tab:orange", label="best so far")
        low = done["score"].min()
    else:
        low = 0.0
    others = frame[frame["state"] != "complete"]
    if not others.empty:
        ax.scatter(
            others["trial"],
            [low] * len(others),
            marker="x",
            color="0.5",
            label="pruned / failed / running",
            zorder=3,
        )
    ax.xaxis.set_major_locator(require("matplotlib.ticker").MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title("optimisation history")
    ax.margins(y=0.12)
    # Beside the axes, not over them: a legend inside hid a trial's point.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def _save(figure, path: Path) -> None:
    figure.savefig(path, dpi=100)


def _figures(study, frame: pd.DataFrame, out: Path, metric: str) -> tuple[list[Path], list[str]]:
    """Draw what the trials allow; return the files and notes on the figures left out."""
    written, notes = [], []
    _save(_plot_history(frame, metric), out / "history.png")
    written.append(out / "history.png")
    # Optuna calls the objective's score "value"; the figures name what it measures.
    label = f"validation {metric}"
    search_frame = results_frame(study).rename(columns={"value": label})
    search_frame.attrs = {**search_frame.attrs, "score": label}
    n_complete = int((search_frame["status"] == "complete").sum())
    drawers = {
        "importance.png": lambda: plot_importance(study, method="optuna"),
        "correlations.png": lambda: plot_importance(search_frame, method="correlation"),
        "scores.png": lambda: plot_scores(search_frame),
        "parallel.png": lambda: plot_parallel_coordinates(search_frame, top=10),
    }
    if n_complete < 3:
        notes.append(
            f"Importances, correlations and parallel coordinates need 3 complete trials; the "
            f"study has {n_complete}."
        )
        drawers = {"scores.png": drawers["scores.png"]} if n_complete else {}
    for name, draw in drawers.items():
        try:
            figure = draw()
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            notes.append(f"{name} not drawn: {error}")
            continue
        _save(figure, out / name)
        written.append(out / name)
    return written, notes


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(
    study, summary: dict, out: Path, *, description: list[str], command: str | None, metric: str
) -> list[Path]:
    """Write ``trials.csv``, ``summary.json``, the figures and ``report.md`` into ``out``."""
    from ...utils.optional import pyplot
    from ...utils.reports import environment_lines

    pyplot()  # without matplotlib, fail before writing anything
    frame = trials_frame(study)
    frame.to_csv(out / "trials.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    figures, notes = _figures(study, frame, out, metric)
    test_key, valid_key = f"test_{metric}", f"valid_{metric}"
    budget = summary["budget_seconds"]
    lines = [
        f"# skdeep tune: {summary['model']} on {summary['dataset']}",
        "",
        *[f"- {line}" for line in description],
        f"- Selection: every trial trains on {summary['n_fit']} of the {summary['n_train']} "
        f"training rows (early stopping and the pruner watch 10 % of them) and is scored on the "
        f"other {summary['n_valid']} training rows. The best trial is refitted on all "
        f"{summary['n_train']} training rows and scored once on the {summary['n_test']} test "
        "rows, which no trial saw.",
        "",
        "## Result",
        "",
        f"- Test {metric} of the refitted best trial (trial {summary['best_trial']}): "
        f"**{summary[test_key]:.4f}** (its validation {metric}: {summary[valid_key]:.4f}).",
        f"- Refit: {summary['refit_epochs']} epochs (the epoch its trial peaked at: "
        f"{summary['refit_epochs_planned']}), {format_seconds(summary['refit_seconds'])}"
        + (", cut short by the budget" if summary["refit_stopped_by_budget"] else "")
        + ".",
    ]
    ensemble = summary.get("ensemble")
    if ensemble:
        trials = ", ".join(str(number) for number in ensemble["trials"])
        lines.append(
            f"- Ensemble of this run's {len(ensemble['trials'])} best trials ({trials}), the "
            f"mean of their {'probabilities' if metric == 'accuracy' else 'predictions'}, each "
            f"network as its trial trained it: test {metric} **{ensemble[test_key]:.4f}** "
            f"(validation {metric}: {ensemble[valid_key]:.4f})."
        )
    lines.append(
        f"- `best_estimator`: the {summary['best_estimator']}, the better of the two on the "
        "selection rows, a tie keeping the refit (the test rows chose nothing)."
        if ensemble
        else "- `best_estimator`: the refitted best trial (an ensemble needs two complete "
        "trials of this run)."
    )
    if summary.get("warning"):
        lines.append(f"- **Too short**: {summary['warning']}")
    baseline = summary.get("baseline")
    if baseline:
        lines.append(
            f"- Reference, same split: {baseline['model']} test {metric} "
            f"{baseline[test_key]:.4f} ({format_seconds(baseline['seconds'])})."
        )
    lines += [
        f"- Trials: {summary['n_trials']} in the study ({summary['trials_this_run']} this run): "
        f"{summary['n_complete']} complete, {summary['n_pruned']} pruned, "
        f"{summary['n_failed']} failed, {summary['n_running']} running or left by a killed run.",
        f"- Time: {format_seconds(summary['seconds'])} in all"
        + ("" if budget is None else f" for a budget of {format_seconds(budget)}")
        + f" (search {format_seconds(summary['search_seconds'])}, "
        f"refit {format_seconds(summary['refit_seconds'])}).",
        "",
        "| parameter | value |",
        "| --- | --- |",
        *[f"| {name} | {_format(value)} |" for name, value in summary["best_params"].items()],
        "",
        "## Trials",
        "",
        "Every trial is in `trials.csv`; the 10 best:",
        "",
        _best_trials(frame).to_markdown(index=False, floatfmt=".4g"),
        "",
        *[f"![{path.stem}]({path.name})\n" for path in figures],
        *[f"- {note}" for note in notes],
        "",
        "TensorBoard (HParams and each trial's reported values): "
        f"`tensorboard --logdir {out / 'tensorboard'}`.",
        "",
        "## Limits",
        "",
        "- One selection split and one seed per trial: differences between trials smaller than "
        "a few tenths of a percent are within the noise of the split.",
        f"- {load_sentence(summary['load_average_before'], summary['load_average_after'])}",
        *[f"- {line}" for line in environment_lines()],
        "",
        f"Command: `{command}`" if command else "",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return [out / "trials.csv", out / "summary.json", *figures, out / "report.md"]


def _best_trials(frame: pd.DataFrame) -> pd.DataFrame:
    done = frame[frame["state"] == "complete"].sort_values("score", ascending=False)
    return done.drop(columns=["state", "error"]).head(10).astype(object).fillna("")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
