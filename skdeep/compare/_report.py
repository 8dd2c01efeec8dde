"""Reports on disk, in a folder where skdeep replaces only the files it wrote, and in Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from ..utils.machine import load_sentence
from ..utils.reports import (
    figure_writer,
    json_records,
    start_report,
    text_writer,
    timing_and_command,
    write_report,
)
from ._table import first_line, format_number, lower_is_better, score_label


def _comparison_reading(result, label: str) -> list[str]:
    frame = result.frame
    failed = result.failed
    if len(failed) == len(frame):
        return ["- Every model failed on every fold; their first errors are in the table."]
    best = result.best
    metric = result.scoring[0]
    mean, std = frame.loc[best, f"{metric}_mean"], frame.loc[best, f"{metric}_std"]
    sign = score_label(metric)[1]
    lines = [
        f"- Best mean {label}: **{best}** ({format_number(sign * mean)} ± {format_number(std)})."
    ]
    tested = frame.drop(index=[best, *failed])
    worse = [name for name in tested.index if tested.loc[name, "p_holm"] < 0.05]
    close = [name for name in tested.index if name not in worse]
    if worse:
        lines.append(
            f"- Worse than {best} at the 5% level (Holm-adjusted p < 0.05): {', '.join(worse)}."
        )
    if close:
        lines.append(
            f"- Not shown different from {best} at the 5% level: {', '.join(close)}. (Not the "
            f"same as equal: {result.n_folds} folds give the test little power.)"
        )
    for name in failed:
        lines.append(
            f"- **{name} failed** on every fold, so it has no score and takes no part in the "
            f"tests; its first error: `{first_line(frame.loc[name, 'error'], 300)}`."
        )
    partly = frame[(frame["failed_folds"] > 0) & (frame["failed_folds"] < result.n_folds)]
    for name, row in partly.iterrows():
        lines.append(
            f"- {name} failed on {row['failed_folds']} of {result.n_folds} folds (first error: "
            f"`{first_line(row['error'], 300)}`); its scores are over the other folds."
        )
    return lines


def write_comparison_report(
    result,
    out_dir: str | Path,
    *,
    title: str,
    description: list[str],
    command: str,
    force: bool = False,
    dataset: str | None = None,
    unit: str | None = None,
) -> list[Path]:
    """Write ``report.md``, ``results.csv``, ``fold_scores.csv``, ``results.json`` and
    ``comparison.png`` into ``out_dir``.

    The folder is created if needed; a folder holding files is refused unless ``force`` and
    they are all a previous skdeep report's (see :func:`skdeep.utils.files.check_output_dir`). The
    files are written to a staging folder first: if anything fails, nothing of the new report
    is left behind.

    Parameters
    ----------
    result : ComparisonResult
    out_dir : str or Path
    title : str
    description : list of str
        Lines about the data, shown under the title.
    command : str
        The command line that produced the report.
    force : bool, default=False
        Replace a previous skdeep report in ``out_dir``.
    dataset : str, default=None
        The line about the data under the figure's title; the first of ``description`` when
        None.
    unit : str, default=None
        The target's unit (``"USD"``), shown with errors measured in it.

    Returns
    -------
    list of Path
        The files written.
    """
    start_report(out_dir, force)
    metric = result.scoring[0]
    label = score_label(metric, unit)[0]
    dataset = dataset if dataset is not None else (description[0] if description else None)
    errors = [score_label(s, unit)[0] for s in result.scoring if lower_is_better(s)]
    units_note = (
        f" {', '.join(errors)}: errors shown positive, lower is better"
        + (f", in the target's units ({unit})" if unit else "")
        + "."
        if errors
        else ""
    )
    m = int(result.frame["p_vs_best"].notna().sum())
    lines = [
        f"# {title}",
        "",
        *[f"- {line}" for line in description],
        f"- {result.n_folds}-fold cross-validation, the same folds for every model; "
        f"models ranked by mean {label}.",
        "",
        "## Results",
        "",
        result.to_markdown(unit),
        "",
        f"Scores are the mean ± std over the {result.n_folds} folds.{units_note} Times are "
        "seconds per fold (predicting includes scoring); each model was first fitted once, "
        "untimed, on a few rows, so that one-off start-up costs are not counted. "
        f"`p vs best`: Nadeau and Bengio's corrected resampled t-test of each model's "
        f"fold-by-fold {label} against {result.best or 'the best model'}'s (the plain paired "
        "t-test is too "
        "optimistic on overlapping training folds)."
        + (
            f" `p vs best, Holm`: the same p-values adjusted by Holm's method for the {m} "
            "comparisons made at once; read this one against 5%."
            if m > 1
            else ""
        ),
        "",
        "![comparison](comparison.png)",
        "",
        "## Reading",
        "",
        *_comparison_reading(result, label),
        "",
        "## Limits",
        "",
        f"- {result.n_folds} folds of {result.n_samples} samples and one seed per model: "
        "differences smaller than the std across folds are not evidence.",
        "- Default hyper-parameters for every model; a tuned model may rank differently.",
        f"- {load_sentence(*result.load_average)}",
        *timing_and_command("one model", command),
    ]
    data_writers = {
        "results.csv": result.frame.to_csv,
        "fold_scores.csv": lambda path: result.fold_scores.to_csv(path, index=False),
        "results.json": text_writer(json.dumps(comparison_summary(result), indent=2)),
        "comparison.png": figure_writer(lambda: result.plot(title, dataset, unit)),
    }
    return write_report(out_dir, lines, data_writers, force)


def comparison_summary(result) -> dict:
    """A JSON-serialisable summary of a ComparisonResult (for ``--json``)."""
    return {
        "task": result.task,
        "scoring": result.scoring,
        "n_samples": result.n_samples,
        "n_folds": result.n_folds,
        "best": result.best,
        "load_average": list(result.load_average),
        "models": json_records(result.frame),
    }


