"""Reports on disk, in a folder where skdeep replaces only the files it wrote, and in Markdown."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import __version__
from ._comparison_table import first_line, format_number, lower_is_better, score_label
from ._files import check_output_dir, write_output_files

__all__ = [
    "check_output_dir",
    "comparison_summary",
    "environment_lines",
    "json_records",
    "markdown_table",
    "pyplot",
    "write_comparison_report",
    "write_study_report",
]


def environment_lines() -> list[str]:
    """Versions and machine facts that a reader needs to judge timings."""
    import os

    import sklearn
    import skorch
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return [
        f"skdeep {__version__}, torch {torch.__version__}, skorch {skorch.__version__}, "
        f"scikit-learn {sklearn.__version__}, pandas {pd.__version__}",
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, {device}",
    ]


def pyplot():
    """Return ``matplotlib.pyplot``, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "Figures need matplotlib: pip install 'skdeep[all]' (or pip install matplotlib)."
        ) from None
    return plt


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """Return ``frame`` as a Markdown table, missing values left blank.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"score": [0.5, None]}, index=["a", "b"])))
    |    |   score |
    |:---|--------:|
    | a  |  0.5000 |
    | b  |         |
    """
    return _fill_missing(frame, "").to_markdown(floatfmt=floatfmt)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Return the rows of ``frame``, index first, as dicts with None for missing values.

    Examples
    --------
    >>> json_records(pd.DataFrame({"score": [0.5, None]}, index=pd.Index(["a", "b"], name="m")))
    [{'m': 'a', 'score': 0.5}, {'m': 'b', 'score': None}]
    """
    return _fill_missing(frame, None).reset_index().to_dict(orient="records")


def _fill_missing(frame: pd.DataFrame, value) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), value)


def _figure_writer(draw: Callable[[], object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        plt = pyplot()
        figure = draw()
        try:
            figure.savefig(path, dpi=120, format="png")
        finally:
            plt.close(figure)

    return write


def _text_writer(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _start_report(out_dir: str | Path, force: bool) -> None:
    """Fail before anything is written: without matplotlib, or where the folder is refused."""
    pyplot()
    check_output_dir(out_dir, force)


def _write_report(
    out_dir: str | Path, lines: list[str], data_writers: dict, force: bool
) -> list[Path]:
    """Write ``report.md`` from ``lines``, then the files of ``data_writers``; return them."""
    writers = {"report.md": _text_writer("\n".join(lines)), **data_writers}
    return write_output_files(out_dir, writers, force=force)


def _timing_and_command(what: str, command: str) -> list[str]:
    """The closing lines of a report: where the times come from, and how to run it again."""
    return [
        f"- Times were measured on this machine, {what} at a time:",
        *[f"  {line}" for line in environment_lines()],
        "",
        f"Command: `{command}`",
        "",
    ]


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
    they are all a previous skdeep report's (see :func:`skdeep._files.check_output_dir`). The
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
    _start_report(out_dir, force)
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
        f"fold-by-fold {label} against {result.best}'s (the plain paired t-test is too "
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
        *_timing_and_command("one model", command),
    ]
    data_writers = {
        "results.csv": result.frame.to_csv,
        "fold_scores.csv": lambda path: result.fold_scores.to_csv(path, index=False),
        "results.json": _text_writer(json.dumps(comparison_summary(result), indent=2)),
        "comparison.png": _figure_writer(lambda: result.plot(title, dataset, unit)),
    }
    return _write_report(out_dir, lines, data_writers, force)


def comparison_summary(result) -> dict:
    """A JSON-serialisable summary of a ComparisonResult (for ``--json``)."""
    return {
        "task": result.task,
        "scoring": result.scoring,
        "n_samples": result.n_samples,
        "n_folds": result.n_folds,
        "best": result.best,
        "models": json_records(result.frame),
    }


def write_study_report(
    result, out_dir: str | Path, *, description: list[str], command: str, force: bool = False
) -> list[Path]:
    """Write ``report.md``, ``results.csv``, ``runs.csv``, ``curves.csv``, ``gradients.csv``
    and ``study.png``.

    The folder, ``description``, ``command``, ``force`` and what is returned are as for
    :func:`write_comparison_report`.

    Parameters
    ----------
    result : StudyResult
    out_dir : str or Path
    description : list of str
    command : str
    force : bool, default=False

    Returns
    -------
    list of Path
    """
    _start_report(out_dir, force)
    study = result.study

    counts = pd.Series([v.outcome for v in result.verdicts]).value_counts()
    lines = [
        f"# skdeep study {study.name}: {study.question}",
        "",
        *[f"- {line}" for line in description],
        f"- {len(result.frame)} variants x {result.seeds} seeds, {result.max_epochs} epochs "
        f"each; trained on {result.n_train} samples, scored on {result.n_test} held-out ones.",
        "",
        "## Design",
        "",
        study.design,
        "",
        "## Expected beforehand",
        "",
        *[f"{i}. {e.text}" for i, e in enumerate(study.expectations, 1)],
        "",
        "## Results",
        "",
        result.to_markdown(),
        "",
        f"Mean ± std over {result.seeds} seeds. Times leave out a warm-up fit before the "
        "first run; seconds per epoch leave out each run's first epoch. Training accuracy is "
        "scored on the whole training split after the fit (dropout off). All measures: "
        "`results.csv`; each run: `runs.csv`; each epoch: `curves.csv`.",
        "",
        "![study](study.png)",
        "",
        "## Reading",
        "",
        "Each expectation against the numbers: *borne out* or *not borne out* when the "
        "difference exceeds the seeds' spread (the sum of the two standard deviations), "
        "*cannot tell* when it lies within it. "
        + ", ".join(f"{n} {o}" for o, n in counts.items())
        + ".",
        "",
        *[verdict.to_markdown() for verdict in result.verdicts],
        *[f"- Failed: {note}" for note in result.notes],
        "",
        "## Limits",
        "",
        f"- {result.seeds} seeds per variant (they change the initialisation, shuffling and "
        "dropout, not the split); one train/test split.",
        f"- {result.max_epochs} epochs for every variant: a slow variant may still be improving.",
        f"- {result.n_train} training samples; larger data may favour larger networks.",
        f"- The machine's load average (1 min) was {result.load_average[0]:.1f} before the "
        f"runs and {result.load_average[1]:.1f} after; on a busy machine times are longer "
        "and noisier, so compare them as ratios within this study.",
        *_timing_and_command("one run", command),
    ]
    data_writers = {
        "results.csv": result.frame.to_csv,
        "runs.csv": lambda path: result.runs.to_csv(path, index=False),
        "curves.csv": lambda path: result.curves.to_csv(path, index=False),
        "gradients.csv": lambda path: result.gradients.to_csv(path, index=False),
        "study.png": _figure_writer(result.plot),
    }
    return _write_report(out_dir, lines, data_writers, force)
