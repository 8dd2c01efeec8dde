"""Reports on disk: an output folder that is never overwritten silently, and Markdown reports."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pandas as pd

from . import __version__


def prepare_output_dir(path: str | Path, force: bool = False) -> Path:
    """Create ``path``, refusing a non-empty one unless ``force`` (then its content is removed).

    Parameters
    ----------
    path : str or Path
    force : bool, default=False

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        When ``path`` holds files and ``force`` is False.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> prepare_output_dir(folder).is_dir()
    True
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise FileExistsError(
                f"{path} is not empty; choose another --out folder, or pass --force to replace "
                "its content."
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def _save_figure(result, path: Path) -> None:
    plt = pyplot()
    figure = result.plot()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _timing_and_command(what: str, command: str) -> list[str]:
    """The closing lines of a report: where the times come from, and how to run it again."""
    return [
        f"- Times were measured on this machine, {what} at a time:",
        *[f"  {line}" for line in environment_lines()],
        "",
        f"Command: `{command}`",
        "",
    ]


def write_comparison_report(
    result, out_dir: Path, *, title: str, description: list[str], command: str
) -> list[Path]:
    """Write ``report.md``, ``results.csv``, ``fold_scores.csv`` and ``comparison.png``.

    Parameters
    ----------
    result : ComparisonResult
    out_dir : Path
        An existing folder (see :func:`prepare_output_dir`).
    title : str
    description : list of str
        Lines about the data, shown under the title.
    command : str
        The command line that produced the report.

    Returns
    -------
    list of Path
        The files written.
    """
    pyplot()  # without matplotlib, fail before writing anything
    metric = result.scoring[0]
    files = [
        out_dir / name
        for name in (
            "report.md",
            "results.csv",
            "fold_scores.csv",
            "comparison.png",
            "results.json",
        )
    ]
    report, results_csv, folds_csv, figure_png, results_json = files
    result.frame.to_csv(results_csv)
    result.fold_scores.to_csv(folds_csv, index=False)
    results_json.write_text(json.dumps(comparison_summary(result), indent=2))
    _save_figure(result, figure_png)

    frame = result.frame
    best = result.best
    close = [name for name in frame.index[1:] if not (frame.loc[name, "p_vs_best"] < 0.05)]
    lines = [
        f"# {title}",
        "",
        *[f"- {line}" for line in description],
        f"- {result.n_folds}-fold cross-validation, the same folds for every model; "
        f"models ranked by mean {metric}.",
        "",
        "## Results",
        "",
        result.to_markdown(),
        "",
        "`fit_time` and `predict_time` are seconds per fold (`predict_time` includes scoring). "
        "`t_vs_best`/`p_vs_best`: Nadeau and Bengio's corrected resampled t-test of the "
        f"fold-by-fold {metric} of each model against {best} (the plain paired t-test is too "
        "optimistic on overlapping training folds).",
        "",
        "![comparison](comparison.png)",
        "",
        "## Reading",
        "",
        f"- Best mean {metric}: **{best}** ({frame.loc[best, f'{metric}_mean']:.4f} ± "
        f"{frame.loc[best, f'{metric}_std']:.4f}).",
    ]
    if close:
        lines.append(
            f"- Not distinguishable from it at the 5% level on these folds: {', '.join(close)}."
        )
    else:
        lines.append("- Every other model is worse at the 5% level on these folds.")
    failed = frame[frame["failed_folds"] > 0]
    for name, row in failed.iterrows():
        lines.append(f"- {name} failed on {row['failed_folds']} fold(s); its scores are NaN.")
    lines += [
        "",
        "## Limits",
        "",
        f"- {result.n_folds} folds of {result.n_samples} samples and one seed per model: "
        "differences smaller than the std across folds are not evidence.",
        "- Default hyper-parameters for every model; a tuned model may rank differently.",
        *_timing_and_command("one model", command),
    ]
    report.write_text("\n".join(lines))
    return files


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
    result, out_dir: Path, *, description: list[str], command: str
) -> list[Path]:
    """Write ``report.md``, ``results.csv``, ``runs.csv``, ``curves.csv`` and ``study.png``.

    Parameters
    ----------
    result : StudyResult
    out_dir : Path
        An existing folder (see :func:`prepare_output_dir`).
    description : list of str
        Lines about the data.
    command : str
        The command line that produced the report.

    Returns
    -------
    list of Path
        The files written.
    """
    pyplot()  # without matplotlib, fail before writing anything
    study = result.study
    files = [
        out_dir / name
        for name in ("report.md", "results.csv", "runs.csv", "curves.csv", "study.png")
    ]
    report, results_csv, runs_csv, curves_csv, figure_png = files
    result.frame.to_csv(results_csv)
    result.runs.to_csv(runs_csv, index=False)
    result.curves.to_csv(curves_csv, index=False)
    _save_figure(result, figure_png)

    frame = result.frame.dropna(subset=["test_accuracy_mean"])
    lines = [
        f"# skdeep study {study.name}: {study.question}",
        "",
        *[f"- {line}" for line in description],
        f"- {len(result.frame)} variants x {result.seeds} seeds, {result.max_epochs} epochs "
        f"each; trained on {result.n_train} samples, scored on {result.n_test} held-out ones.",
        "",
        "## Expected beforehand",
        "",
        study.expectation,
        "",
        "## Results",
        "",
        result.to_markdown(),
        "",
        "![study](study.png)",
        "",
        "## Reading",
        "",
    ]
    if not frame.empty:
        best = frame["test_accuracy_mean"].idxmax()
        best_mean = frame.loc[best, "test_accuracy_mean"]
        best_std = frame.loc[best, "test_accuracy_std"]
        close = [
            v
            for v in frame.index
            if v != best and frame.loc[v, "test_accuracy_mean"] >= best_mean - max(best_std, 1e-12)
        ]
        lines.append(f"- Best mean test accuracy: **{best}** ({best_mean:.4f} ± {best_std:.4f}).")
        if close:
            lines.append(f"- Within one std of it: {', '.join(close)}.")
    lines += [f"- Failed: {note}" for note in result.notes]
    lines += [
        "",
        "## Limits",
        "",
        f"- {result.seeds} seeds per variant (they change the initialisation, shuffling and "
        "dropout, not the split); one train/test split.",
        f"- {result.max_epochs} epochs for every variant: a slow variant may still be improving.",
        f"- {result.n_train} training samples; larger data may favour larger networks.",
        *_timing_and_command("one run", command),
    ]
    report.write_text("\n".join(lines))
    return files
