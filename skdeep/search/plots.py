"""Figures of a search: score per parameter, the best candidates, parameter importance.

matplotlib is imported when a figure is drawn. The figures are plain
:class:`matplotlib.figure.Figure` objects, not attached to pyplot: save them with
``fig.savefig(path)``; notebooks show them when they are the cell's value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..utils.optional import new_figure, require
from .results import _is_numeric, choice_labels, parameter_importance, results_frame


def _log_scale(values: pd.Series) -> bool:
    values = values.dropna().astype(float)
    return bool(len(values)) and values.min() > 0 and values.max() / values.min() >= 100


def _labels(column: pd.Series, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Codes and names of a categorical column (None included), in order of first appearance.

    ``names``: the names to code against (those of a larger frame); default the column's own.
    """
    labels = choice_labels(column)
    names = list(dict.fromkeys(labels)) if names is None else names
    return np.array([names.index(label) for label in labels], dtype=int), names


def plot_scores(search, score: str | None = None):
    """Plot the score against each parameter, one panel per parameter.

    Complete candidates are dots; pruned ones, where they have a score, grey crosses.
    Numeric parameters spanning two decades or more get a log axis; choices are spread
    along the axis with a little jitter.

    Parameters
    ----------
    search : fitted search, optuna.Study, or a frame from :func:`results_frame`
    score : str or None, default=None
        The score column; None takes the one that ranks the candidates.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["complete"] * 3, "lr": [1e-3, 1e-2, 1e-1],
    ...                       "act": ["relu", "tanh", "relu"], "mean_test_score": [.5, .7, .6]})
    >>> frame.attrs.update(params=["lr", "act"], score="mean_test_score", greater_is_better=True)
    >>> len(plot_scores(frame).axes)
    2
    """
    frame = results_frame(search)
    score = score or frame.attrs["score"]
    params = frame.attrs["params"]
    columns = min(len(params), 3) or 1
    rows = -(-len(params) // columns) or 1
    figure = new_figure(4 * columns, 3 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    jitter = np.random.default_rng(0)
    for ax, name in zip(axes, params, strict=False):
        for status, style in [("complete", {"marker": "o"}), ("pruned", {"marker": "x"})]:
            numeric = _is_numeric(frame[name])
            part = frame[(frame["status"] == status) & frame[score].notna()]
            if numeric:  # a choice of None is a category of its own; a missing number is not
                part = part[part[name].notna()]
            if part.empty:
                continue
            color = "tab:blue" if status == "complete" else "0.6"
            if numeric:
                x = part[name].astype(float)
            else:
                codes, names = _labels(part[name], _labels(frame[name])[1])
                x = codes + jitter.uniform(-0.15, 0.15, len(part))
                ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
                ax.set_xlim(-0.5, len(names) - 0.5)  # every choice, even one without a dot
            ax.scatter(x, part[score], color=color, label=status, alpha=0.8, **style)
        if _is_numeric(frame[name]) and _log_scale(frame[name]):
            ax.set_xscale("log")
            # Within a decade matplotlib labels the minor ticks too: 2x10^-8, 3x10^-8 ...
            ax.tick_params(axis="x", which="both", labelrotation=30)
        ax.set_xlabel(name)
        ax.set_ylabel(score)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    counts = frame["status"].value_counts()
    figure.suptitle(
        f"{score} against each parameter ({counts.get('complete', 0)} complete, "
        f"{counts.get('pruned', 0)} pruned candidates)"
    )
    return figure


def plot_parallel_coordinates(search, top: int = 10, score: str | None = None):
    """Plot the ``top`` best complete candidates across all parameters, coloured by score.

    Each parameter is an axis scaled to [0, 1] (log-scaled when it spans two decades or
    more), labelled with its smallest and largest value; a choice's values, None included,
    are evenly spaced along its axis, each labelled.

    Parameters
    ----------
    search : fitted search, optuna.Study, or a frame from :func:`results_frame`
    top : int, default=10
    score : str or None, default=None

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["complete"] * 3, "lr": [1e-3, 1e-2, 1e-1],
    ...                       "act": ["relu", "tanh", "relu"], "mean_test_score": [.5, .7, .6]})
    >>> frame.attrs.update(params=["lr", "act"], score="mean_test_score", greater_is_better=True)
    >>> len(plot_parallel_coordinates(frame, top=2).axes[0].lines)
    2
    """
    colormaps = require("matplotlib").colormaps
    frame = results_frame(search)
    score = score or frame.attrs["score"]
    params = frame.attrs["params"]
    done = frame[(frame["status"] == "complete") & frame[score].notna()]
    best = done.sort_values(score, ascending=not frame.attrs["greater_is_better"]).head(top)
    scaled, ticks = {}, {}
    for name in params:
        column = best[name]
        if _is_numeric(column):
            values = column.astype(float)
            if _log_scale(values):
                values = np.log10(values)
            low, high = values.min(), values.max()
            if high > low:
                scaled[name] = (values - low) / (high - low)
                ticks[name] = [(0.0, f"{column.min():.3g}"), (1.0, f"{column.max():.3g}")]
            else:
                scaled[name] = values * 0 + 0.5
                ticks[name] = [(0.5, f"{column.min():.3g}")]
        else:
            codes, names = _labels(column)
            if len(names) > 1:
                levels = np.linspace(0.0, 1.0, len(names))
            else:
                levels = np.array([0.5])
            scaled[name] = pd.Series(levels[codes], index=column.index)
            ticks[name] = list(zip(levels, names, strict=True))
    figure = new_figure(max(4, 1.6 * len(params)), 4)
    ax = figure.subplots()
    colormap = colormaps["viridis"]
    scores = best[score].astype(float)
    span = scores.max() - scores.min() or 1.0
    positions = np.arange(len(params))
    for index in best.index:
        shade = (scores[index] - scores.min()) / span
        ax.plot(positions, [scaled[n][index] for n in params], color=colormap(shade), alpha=0.9)
    ax.vlines(positions, 0, 1, color="0.7", linewidth=0.8)
    # Room above and below the axes for their end labels, which no frame line crosses.
    ax.set_ylim(-0.12, 1.12)
    for side in ("top", "bottom", "left", "right"):
        ax.spines[side].set_visible(False)
    for position, name in zip(positions, params, strict=True):
        for level, text in ticks[name]:
            # The ends of an axis are labelled below and above it, the levels between beside it.
            if level == 0.0:
                offset, alignment = (0, -12), {"ha": "center"}
            elif level == 1.0:
                offset, alignment = (0, 4), {"ha": "center"}
            else:
                offset, alignment = (4, 0), {"ha": "left", "va": "center"}
            ax.annotate(
                text,
                (position, level),
                xytext=offset,
                textcoords="offset points",
                fontsize=7,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
                **alignment,
            )
    ax.set_xticks(positions, params, rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_title(f"best {len(best)} candidates by {score}")
    mappable = require("matplotlib.cm").ScalarMappable(cmap=colormap)
    mappable.set_clim(scores.min(), scores.max())
    figure.colorbar(mappable, ax=ax, label=score)
    return figure


def plot_importance(search, score: str | None = None, method: str = "correlation"):
    """Plot :func:`~skdeep.search.parameter_importance` as horizontal bars.

    Parameters
    ----------
    search : fitted search, optuna.Study, or a frame from :func:`results_frame`
    score : str or None, default=None
    method : {"correlation", "optuna"}, default="correlation"

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["complete"] * 3, "lr": [1e-3, 1e-2, 1e-1],
    ...                       "act": ["relu", "tanh", "relu"], "mean_test_score": [.5, .7, .6]})
    >>> frame.attrs.update(params=["lr", "act"], score="mean_test_score", greater_is_better=True)
    >>> len(plot_importance(frame).axes[0].patches)
    2
    """
    importance = parameter_importance(search, score=score, method=method)
    figure = new_figure(5, 0.5 * len(importance) + 1.2)
    ax = figure.subplots()
    ordered = importance.iloc[::-1]
    colors = ["tab:blue" if v >= 0 else "tab:red" for v in ordered]
    ax.barh(ordered.index.astype(str), ordered.to_numpy(), color=colors)
    ax.axvline(0, color="0.3", linewidth=0.8)
    label = "Optuna importance" if method == "optuna" else "correlation with the score"
    ax.set_xlabel(label)
    return figure
