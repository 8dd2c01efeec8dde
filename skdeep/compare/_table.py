"""A comparison as a reader sees it: score names in words, errors positive, failures spelt out."""

from __future__ import annotations

import pandas as pd

# scikit-learn's scorer names (without "neg_") and skdeep's -> what a reader calls them.
_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "top_k_accuracy": "top-k accuracy",
    "r2": "R²",
    "explained_variance": "explained variance",
    "f1": "F1",
    "f1_macro": "F1 (macro)",
    "f1_micro": "F1 (micro)",
    "f1_weighted": "F1 (weighted)",
    "roc_auc": "ROC AUC",
    "roc_auc_ovr": "ROC AUC (one vs rest)",
    "roc_auc_ovo": "ROC AUC (one vs one)",
    "average_precision": "average precision",
    "log_loss": "log loss",
    "brier_score": "Brier score",
    "root_mean_squared_error": "RMSE",
    "mean_squared_error": "MSE",
    "mean_absolute_error": "MAE",
    "median_absolute_error": "median absolute error",
    "max_error": "max error",
    "mean_absolute_percentage_error": "MAPE",
    "best_valid_loss": "best validation loss",
    "best_valid_accuracy": "best validation accuracy",
    "accuracy_per_second": "accuracy per second",
}
# Scorers whose values are errors negated so that greater is better.
_NEGATED_WITHOUT_PREFIX = {"max_error", "best_valid_loss"}
_IN_TARGET_UNITS = {
    "root_mean_squared_error",
    "mean_absolute_error",
    "median_absolute_error",
    "max_error",
}
_IN_SQUARED_UNITS = {"mean_squared_error"}
_ERROR_WIDTH = 70


def score_label(name: str, unit: str | None = None) -> tuple[str, float]:
    """The name a reader knows a score by, and the sign that makes its values read that way.

    scikit-learn negates errors (``neg_root_mean_squared_error``) so that greater is always
    better; a reader expects the RMSE itself, positive, in the target's units.

    Parameters
    ----------
    name : str
        A scorer name, scikit-learn's or skdeep's.
    unit : str, default=None
        The target's unit, shown after errors measured in it.

    Returns
    -------
    label : str
    sign : float
        -1.0 for a negated error, else 1.0: ``sign * score`` is what the label names.

    Examples
    --------
    >>> score_label("neg_root_mean_squared_error", "USD")
    ('RMSE (USD)', -1.0)
    >>> score_label("balanced_accuracy")
    ('balanced accuracy', 1.0)
    """
    negated = name.startswith("neg_") or name in _NEGATED_WITHOUT_PREFIX
    base = name.removeprefix("neg_")
    label = _LABELS.get(base, base.replace("_", " "))
    if unit and base in _IN_TARGET_UNITS:
        label += f" ({unit})"
    elif unit and base in _IN_SQUARED_UNITS:
        label += f" ({unit}²)"
    return label, -1.0 if negated else 1.0


def lower_is_better(name: str) -> bool:
    """Whether the score, as :func:`score_label` shows it, is better when lower (an error)."""
    return score_label(name)[1] < 0


def format_number(value: float) -> str:
    """Four decimals for scores, thousands separators for errors in large units.

    Examples
    --------
    >>> format_number(0.97654), format_number(47691.3), format_number(float("nan"))
    ('0.9765', '47,691', '')
    """
    if pd.isna(value):
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _seconds_cell(value: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def _p_value(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def first_line(error: str, width: int = _ERROR_WIDTH) -> str:
    """The first line of an error message, shortened to ``width`` characters."""
    line = str(error).strip().splitlines()[0] if str(error).strip() else str(error)
    return line if len(line) <= width else line[: width - 3] + "..."


def readable_table(result, unit: str | None = None) -> pd.DataFrame:
    """The comparison's table with the columns a reader understands, values as text.

    One row per model, best first: each score as ``mean ± std`` (errors positive, in the
    target's units), seconds per fold, the parameter count, the corrected t-test's p-value
    against the best model and its Holm adjustment. A model that failed on every fold reads
    ``failed: <its first error>``; one that failed on some folds says on how many.
    """
    frame = result.frame
    columns = {}
    for position, metric in enumerate(result.scoring):
        label, sign = score_label(metric, unit)
        cells = []
        for _, row in frame.iterrows():
            failed = int(row["failed_folds"])
            if failed == result.n_folds:
                cells.append(f"failed: {first_line(row['error'])}" if position == 0 else "")
                continue
            mean, std = sign * row[f"{metric}_mean"], row[f"{metric}_std"]
            cell = f"{format_number(mean)} ± {format_number(std)}"
            if failed and position == 0:
                cell += f" ({failed} of {result.n_folds} folds failed)"
            cells.append(cell)
        columns[label] = cells
    best = result.best
    columns["fit s per fold"] = frame["fit_time"].map(_seconds_cell).tolist()
    columns["predict s per fold"] = frame["predict_time"].map(_seconds_cell).tolist()
    columns["parameters"] = frame["n_params"].map(lambda n: "" if pd.isna(n) else f"{n:,}").tolist()
    columns["p vs best"] = [
        "(best)" if name == best else _p_value(p) for name, p in frame["p_vs_best"].items()
    ]
    columns["p vs best, Holm"] = [
        "(best)" if name == best else _p_value(p) for name, p in frame["p_holm"].items()
    ]
    return pd.DataFrame(columns, index=frame.index)


def plot_comparison(result, title: str | None = None, dataset: str | None = None, unit=None):
    """The primary score (mean ± std over the folds) and the fit time of each model.

    Returns a pyplot figure (close it after saving).
    """
    from ..plotting import readable_log_axis
    from ..utils.optional import pyplot

    plt = pyplot()
    metric = result.scoring[0]
    label, sign = score_label(metric, unit)
    frame = result.frame.iloc[::-1]
    failed = frame["failed_folds"] == result.n_folds
    fig, (score_ax, time_ax) = plt.subplots(
        1,
        2,
        figsize=(10, 0.5 * len(frame) + 2.2),
        sharey=True,
        gridspec_kw={"width_ratios": [2, 1]},
    )
    shown = frame[~failed]
    score_ax.errorbar(
        sign * shown[f"{metric}_mean"],
        shown.index,
        xerr=shown[f"{metric}_std"],
        fmt="o",
        capsize=3,
        color="tab:blue",
    )
    for name in frame.index[failed]:
        score_ax.annotate(
            "failed (see report)",
            (0.02, name),
            xycoords=("axes fraction", "data"),
            va="center",
            color="tab:red",
        )
    score_ax.grid(axis="x", alpha=0.3)
    better = "lower" if sign < 0 else "higher"
    score_ax.set_xlabel(f"{label}, mean ± std over {result.n_folds} folds ({better} is better)")
    times = frame["fit_time"].where(~failed)
    time_ax.barh(frame.index, times.fillna(0), color="tab:orange")
    if (times > 0).any():
        time_ax.set_xscale("log")
        time_ax.set_xlim(times[times > 0].min() / 2, times.max() * 2)
        readable_log_axis(time_ax, "x")
    time_ax.set_xlabel("fit time per fold (s, log scale)")
    time_ax.grid(axis="x", alpha=0.3, which="both")
    heading = title or "Model comparison"
    if dataset:
        heading += f"\n{dataset}"
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()
    return fig


