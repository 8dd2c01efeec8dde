"""Pieces of the reports that compare, the studies and tune write: Markdown, JSON, environment."""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .._version import __version__
from .files import check_output_dir, write_output_files
from .optional import pyplot


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
    return fill_missing(frame, "").to_markdown(floatfmt=floatfmt)


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Return the rows of ``frame``, index first, as dicts with None for missing values.

    Examples
    --------
    >>> json_records(pd.DataFrame({"score": [0.5, None]}, index=pd.Index(["a", "b"], name="m")))
    [{'m': 'a', 'score': 0.5}, {'m': 'b', 'score': None}]
    """
    return fill_missing(frame, None).reset_index().to_dict(orient="records")


def fill_missing(frame: pd.DataFrame, value) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), value)


def figure_writer(draw: Callable[[], object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        plt = pyplot()
        figure = draw()
        try:
            figure.savefig(path, dpi=120, format="png")
        finally:
            plt.close(figure)

    return write


def text_writer(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def start_report(out_dir: str | Path, force: bool) -> None:
    """Fail before anything is written: without matplotlib, or where the folder is refused."""
    pyplot()
    check_output_dir(out_dir, force)


def write_report(
    out_dir: str | Path, lines: list[str], data_writers: dict, force: bool
) -> list[Path]:
    """Write ``report.md`` from ``lines``, then the files of ``data_writers``; return them."""
    writers = {"report.md": text_writer("\n".join(lines)), **data_writers}
    return write_output_files(out_dir, writers, force=force)


def timing_and_command(what: str, command: str) -> list[str]:
    """The closing lines of a report: where the times come from, and how to run it again."""
    return [
        f"- Times were measured on this machine, {what} at a time:",
        *[f"  {line}" for line in environment_lines()],
        "",
        f"Command: `{command}`",
        "",
    ]
