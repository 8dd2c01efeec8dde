"""The study figure: validation loss per epoch and test accuracy per variant, and the panels
its expectations name (train–validation gap, gradient norms per layer, time and memory)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..plotting import readable_log_axis
from ..utils.optional import pyplot

EXTRA_PANELS = (
    "train–validation gap",
    "gradient norms per layer",
    "seconds per epoch and memory",
)


def log_scale_if_wide(ax, values, axis: str = "y") -> None:
    """Log-scale ``axis`` with readable ticks when ``values`` span over a factor 20.

    The ticks are :func:`skdeep.plotting.readable_log_axis`'s; call this after drawing.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) == 0 or values.max() / values.min() < 20:
        return
    getattr(ax, f"set_{axis}scale")("log")
    readable_log_axis(ax, axis)


def _panels(result) -> list[str]:
    named = {verdict.figure for verdict in result.verdicts}
    panels = [p for p in EXTRA_PANELS if p in named]
    if "gradient norms per layer" in panels and result.gradients.empty:
        panels.remove("gradient norms per layer")
    return panels


def _variant_axis(ax, labels, colours) -> None:
    ax.set_yticks(range(len(labels)), labels[::-1])
    for label in ax.get_yticklabels():
        label.set_color(colours[label.get_text()])
    ax.grid(axis="x", alpha=0.3)


def _mean_std_dots(ax, result, colours, measure: str) -> None:
    """One dot per variant, the first at the top: the mean over seeds, ± the std with several."""
    frame = result.frame
    for position, (variant, row) in enumerate(frame.iloc[::-1].iterrows()):
        ax.errorbar(
            row[f"{measure}_mean"],
            position,
            xerr=row[f"{measure}_std"] if result.seeds > 1 else None,
            fmt="o",
            capsize=3,
            color=colours[variant],
        )
    _variant_axis(ax, list(frame.index), colours)


def _loss_panel(ax, result, colours) -> list:
    from matplotlib.ticker import MaxNLocator

    metric = "valid_loss" if "valid_loss" in result.curves else "train_loss"
    handles = []
    if not result.curves.empty:
        mean = result.curves.groupby(["variant", "epoch"], sort=False)[metric].mean()
        for variant in mean.index.unique(level=0):
            curve = mean.loc[variant]
            (line,) = ax.plot(curve.index, curve.to_numpy(), color=colours[variant], label=variant)
            best = curve.idxmin()
            ax.plot(best, curve[best], "o", color=colours[variant], markersize=4)
            handles.append(line)
        log_scale_if_wide(ax, mean.to_numpy())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric.replace('_', ' ')}, mean over seeds")
    ax.set_title("validation loss per epoch (dot: its lowest)")
    ax.grid(alpha=0.3)
    return handles


def _accuracy_panel(ax, result, colours) -> None:
    frame = result.frame
    _mean_std_dots(ax, result, colours, "test_accuracy")
    ax.set_xlabel("test accuracy" + (" (mean ± std over seeds)" if result.seeds > 1 else ""))
    chance = 1 / result.n_classes
    # Drawn only when a variant comes near it, so as not to squeeze the differences.
    if frame["test_accuracy_mean"].min() < chance + 0.3:
        ax.axvline(chance, color="grey", linestyle=":", linewidth=1)
        ax.set_title("test accuracy (dotted: chance)")
    else:
        ax.set_title("test accuracy")


def _gap_panel(ax, result, colours) -> None:
    frame = result.frame
    for position, (variant, row) in enumerate(frame.iloc[::-1].iterrows()):
        train, test = row.get("train_accuracy_mean"), row["test_accuracy_mean"]
        ax.plot([test, train], [position, position], color=colours[variant], linewidth=2)
        ax.plot(test, position, "o", color=colours[variant])
        ax.plot(train, position, "s", color=colours[variant], markerfacecolor="white")
    _variant_axis(ax, list(frame.index), colours)
    ax.set_xlabel("accuracy: ● test, □ training (the bar is the gap)")
    ax.set_title("train–validation gap")


def _gradient_panel(ax, result, colours) -> None:
    mean = result.gradients.groupby(["variant", "position"], sort=False)["grad_norm"].mean()
    for variant in mean.index.unique(level=0):
        norms = mean.loc[variant]
        ax.plot(norms.index + 1, norms.to_numpy(), marker="o", color=colours[variant])
    log_scale_if_wide(ax, mean.to_numpy())
    ax.set_xlabel("layer with weights (1 = first, after the input)")
    ax.set_ylabel("gradient norm, epoch 1")
    ax.set_title("gradient norms per layer")
    ax.grid(alpha=0.3)


def _time_memory_panel(ax, result, colours) -> None:
    frame = result.frame
    _mean_std_dots(ax, result, colours, "epoch_time")
    for position, (_, row) in enumerate(frame.iloc[::-1].iterrows()):
        if pd.notna(row.get("memory_increase_mb_mean")):
            ax.annotate(
                f"+{row['memory_increase_mb_mean']:.3g} MB",
                (row["epoch_time_mean"], position),
                textcoords="offset points",
                xytext=(8, 4),
                fontsize=8,
            )
    log_scale_if_wide(ax, frame["epoch_time_mean"].to_numpy(), axis="x")
    ax.set_xlabel("seconds per epoch (first epoch left out); label: the fit's memory increase")
    ax.set_title("seconds per epoch and memory")


DRAW = {
    "train–validation gap": _gap_panel,
    "gradient norms per layer": _gradient_panel,
    "seconds per epoch and memory": _time_memory_panel,
}


def plot_study(result):
    """Draw a study: loss curves with a legend, test accuracy, and the panels its reading names.

    Parameters
    ----------
    result : StudyResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    panels = _panels(result)
    n_panels = 2 + len(panels)
    n_rows = math.ceil(n_panels / 2)
    n_variants = len(result.frame)
    row_height = max(3.2, 0.28 * n_variants + 1.6)
    fig, axes = plt.subplots(
        n_rows, 2, figsize=(14, row_height * n_rows + 0.6), layout="constrained", squeeze=False
    )
    axes = axes.ravel()
    palette = plt.get_cmap("tab10" if n_variants <= 10 else "tab20")
    colours = {v: palette(i % palette.N) for i, v in enumerate(result.frame.index)}
    handles = _loss_panel(axes[0], result, colours)
    _accuracy_panel(axes[1], result, colours)
    for ax, panel in zip(axes[2:], panels, strict=False):
        DRAW[panel](ax, result, colours)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, title="variant")
    study = result.study
    fig.suptitle(
        f"skdeep study {study.name}: {study.question}\n"
        f"{getattr(result, 'dataset', '') or 'data'}: {result.n_train} training samples, "
        f"{result.seeds} seed(s), {result.max_epochs} epochs"
    )
    return fig
