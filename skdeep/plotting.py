"""matplotlib figures of skdeep's results (matplotlib is imported by the functions that draw)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_HISTORY_METRICS = ("loss", "acc")


def _require_matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "skdeep's plots need matplotlib; install it with `pip install skdeep[all]`."
        ) from error
    return Figure


def _history_frame(source) -> pd.DataFrame:
    """One row per epoch, indexed by epoch, from an estimator, a history or a frame."""
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        # A Pipeline (or a fitted search) plots its final network.
        for _ in range(16):
            if hasattr(source, "steps"):
                source = source.steps[-1][1]
            elif hasattr(source, "best_estimator_"):
                source = source.best_estimator_
            else:
                break
        rows = getattr(source, "history_", source)
        try:
            rows = [{k: v for k, v in row.items() if k != "batches"} for row in rows]
        except (TypeError, AttributeError):
            raise TypeError(
                "plot_history needs a fitted skdeep estimator (or a Pipeline ending in one), a "
                f"skorch History, a list of per-epoch dicts or a DataFrame; got "
                f"{type(source).__name__}."
            ) from None
        frame = pd.DataFrame(rows)
    if "epoch" in frame.columns:
        frame = frame.set_index("epoch")
    if frame.empty:
        raise ValueError("The history is empty: fit the estimator for at least one epoch.")
    return frame


def _panel_columns(frame: pd.DataFrame, metric: str) -> list[str]:
    if metric in frame.columns:
        return [metric]
    return [c for c in (f"train_{metric}", f"valid_{metric}") if c in frame.columns]


def plot_history(
    estimator_or_history,
    metrics: Sequence[str] | None = None,
    *,
    figsize: tuple[float, float] | None = None,
):
    """Draw learning curves: one panel per metric, training and validation per epoch.

    Parameters
    ----------
    estimator_or_history : estimator, Pipeline, skorch History, list of dict or DataFrame
        A fitted skdeep estimator (a Pipeline or search is read at its final network) or its
        history.
    metrics : sequence of str, default=("loss", "acc")
        One panel each. A name ``m`` draws ``train_m`` and ``valid_m`` when the history has
        them (``"loss"``: ``train_loss`` and ``valid_loss``), or the column ``m`` itself
        (``"lr"``, ``"grad_norm_0"``, ``"epoch_time"`` ...). By default, panels the history
        cannot fill (accuracy for a regressor) are left out; a name asked for explicitly must
        exist.
    figsize : (float, float), default=None
        Width and height in inches; by default 5 by 3.5 per panel.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot: show it in a notebook by leaving it as a cell's value, or
        save it with ``fig.savefig("history.png")``.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(max_epochs=3, validation_fraction=0.5, device="cpu").fit(X, y)
    >>> fig = plot_history(clf)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'acc']
    """
    Figure = _require_matplotlib_figure()
    frame = _history_frame(estimator_or_history)
    explicit = metrics is not None
    panels = []
    for metric in DEFAULT_HISTORY_METRICS if metrics is None else metrics:
        columns = _panel_columns(frame, metric)
        if columns:
            panels.append((metric, columns))
        elif explicit:
            raise ValueError(
                f"The history has no column for metric {metric!r} (looked for {metric!r}, "
                f"'train_{metric}' and 'valid_{metric}'); it has {sorted(map(str, frame.columns))}."
            )
    if not panels:
        raise ValueError(f"The history has none of the default metrics {DEFAULT_HISTORY_METRICS}.")
    figure = Figure(figsize=figsize or (5 * len(panels), 3.5), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, columns) in zip(axes, panels, strict=True):
        for column in columns:
            label = {"train": "training", "valid": "validation"}.get(column.split("_")[0], column)
            ax.plot(frame.index, frame[column], marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric if len(columns) == 1 else f"{metric}: training vs validation")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return figure


def _plain_number(value: float, _position=None) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


_SUBS = (
    (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
    (1.0, 2.0, 3.0, 5.0),
    (1.0, 2.0, 5.0),
    (1.0, 3.0),
)
MAX_LOG_TICKS = 6


def _log_subs(low: float, high: float) -> tuple[float, ...]:
    """The densest 1-2-5-like set of ticks per decade that puts at most MAX_LOG_TICKS in view."""
    if not low > 0 or not high > low:
        return (1.0,)
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    for subs in _SUBS:
        ticks = [s * 10.0**d for d in decades for s in subs]
        if sum(low <= t <= high for t in ticks) <= MAX_LOG_TICKS:
            return subs
    return (1.0,)


def readable_log_axis(ax, axis: str = "x") -> None:
    """Give a log-scaled axis tick labels a reader can read, whatever its span.

    matplotlib labels a log axis with powers of ten, and an axis spanning less than a decade
    gets its minor ticks labelled in that notation, printed over each other. This labels
    plain numbers (``0.02``, ``0.5``, ``3``, ``1,000``) at the densest of every digit, 1-2-3-5,
    1-2-5 or 1-3 times each power of ten that puts at most six labels in view (powers of ten
    alone on wide axes), and leaves the minor ticks unlabelled. Call it after drawing, once
    the limits are known.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Its ``axis`` must already be log-scaled.
    axis : {"x", "y"}, default="x"

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> _ = ax.plot([0.03, 0.08], [1, 2])
    >>> ax.set_xscale("log")
    >>> readable_log_axis(ax)
    >>> ax.figure.canvas.draw()
    >>> low, high = ax.get_xlim()
    >>> [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    ['0.03', '0.04', '0.05', '0.06', '0.07', '0.08']
    >>> _ = ax.set_xlim(0.025, 0.11)
    >>> readable_log_axis(ax)
    >>> ax.figure.canvas.draw()
    >>> [t.get_text() for t in ax.get_xticklabels() if 0.025 <= t.get_position()[0] <= 0.11]
    ['0.03', '0.05', '0.1']
    """
    from matplotlib import ticker

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}.")
    target = ax.xaxis if axis == "x" else ax.yaxis
    if target.get_scale() != "log":
        raise ValueError(f"The {axis} axis is not log-scaled: call ax.set_{axis}scale('log').")
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    subs = _log_subs(low, high)
    target.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    target.set_major_formatter(ticker.FuncFormatter(_plain_number))
    target.set_minor_formatter(ticker.NullFormatter())


__all__ = ["plot_history", "readable_log_axis"]
