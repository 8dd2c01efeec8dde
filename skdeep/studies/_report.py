"""The report of a study."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..utils.machine import load_sentence
from ..utils.reports import figure_writer, start_report, timing_and_command, write_report


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
    start_report(out_dir, force)
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
        f"- {load_sentence(*result.load_average)}",
        *timing_and_command("one run", command),
    ]
    data_writers = {
        "results.csv": result.frame.to_csv,
        "runs.csv": lambda path: result.runs.to_csv(path, index=False),
        "curves.csv": lambda path: result.curves.to_csv(path, index=False),
        "gradients.csv": lambda path: result.gradients.to_csv(path, index=False),
        "study.png": figure_writer(result.plot),
    }
    return write_report(out_dir, lines, data_writers, force)
