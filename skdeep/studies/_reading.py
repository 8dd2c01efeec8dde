"""Reading a study: each expectation held against the measured results by a rule.

A rule looks at the per-variant means and standard deviations over seeds (and, where it
speaks of every run, at the runs themselves) and returns one of three verdicts:

- ``BORNE_OUT``: the results show what the expectation says, by more than the seeds' spread;
- ``NOT_BORNE_OUT``: they show the opposite, by more than the spread;
- ``CANNOT_TELL``: the difference lies within the seeds' spread, or the runs disagree.

The spread of a difference between two variants is the sum of their standard deviations over
seeds (ddof=0); with a single seed there is no spread and the sign of the difference decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

BORNE_OUT = "borne out"
NOT_BORNE_OUT = "not borne out"
CANNOT_TELL = "cannot tell"

# What each measure is called in a table, how it is printed, and which panel shows it.
MEASURES: dict[str, tuple[str, str, str]] = {
    "test_accuracy": ("test accuracy", ".3f", "test accuracy"),
    "train_accuracy": ("training accuracy", ".3f", "train–validation gap"),
    "accuracy_gap": ("training − test accuracy", ".3f", "train–validation gap"),
    "final_train_loss": ("final training loss", ".3g", "train–validation gap"),
    "final_valid_loss": ("final validation loss", ".3g", "validation loss per epoch"),
    "best_valid_loss": ("best validation loss", ".3g", "validation loss per epoch"),
    "max_valid_loss": ("highest validation loss", ".3g", "validation loss per epoch"),
    "best_epoch": ("epoch of best validation loss", ".1f", "validation loss per epoch"),
    "first_grad_norm": (
        "first-layer gradient norm, epoch 1",
        ".2g",
        "gradient norms per layer",
    ),
    "grad_ratio": ("first / last layer gradient norm", ".2g", "gradient norms per layer"),
    "epoch_time": ("seconds per epoch", ".3g", "seconds per epoch and memory"),
    "fit_time": ("seconds per fit", ".3g", "seconds per epoch and memory"),
    "memory_increase_mb": ("memory increase (MB)", ".3g", "seconds per epoch and memory"),
    "peak_memory_mb": ("peak memory (MB)", ".0f", "seconds per epoch and memory"),
    "n_params": ("parameters", ",.0f", "test accuracy"),
}


@dataclass(frozen=True)
class Measured:
    """What the rules read: the per-variant summary, the runs, and the study's scale.

    Parameters
    ----------
    frame : DataFrame
        Indexed by variant, with ``<measure>_mean`` and ``<measure>_std`` columns.
    runs : DataFrame
        One row per variant and seed, with ``status`` and the measures.
    n_classes : int
    max_epochs : int
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    n_classes: int
    max_epochs: int

    @property
    def seeds(self) -> int:
        return int(self.runs.groupby("variant").size().max()) if len(self.runs) else 0

    def mean_std(self, measure: str, variant: str | float) -> tuple[float, float]:
        if not isinstance(variant, str):
            return float(variant), 0.0
        if variant not in self.frame.index:
            raise KeyError(f"The study has no variant {variant!r}.")
        mean = self.frame.loc[variant].get(f"{measure}_mean", math.nan)
        std = self.frame.loc[variant].get(f"{measure}_std", 0.0)
        return float(mean), 0.0 if pd.isna(std) else float(std)

    def variant_runs(self, variant: str) -> pd.DataFrame:
        return self.runs[self.runs["variant"] == variant]


@dataclass(frozen=True)
class Verdict:
    """One expectation, its verdict, the numbers behind it, and the figure that shows it."""

    expectation: str
    outcome: str
    evidence: str
    figure: str

    def to_markdown(self) -> str:
        # Evidence that is a sentence of its own (a missing variant's) ends with a full stop.
        return (
            f"- **{self.outcome.capitalize()}**: {self.expectation} {self.evidence.rstrip('.')} "
            f"(figure: {self.figure})."
        )


def _format(measure: str, value: float) -> str:
    if pd.isna(value):
        return "n/a"
    return format(value, MEASURES[measure][1])


def mean_std_text(measure: str, mean: float, std: float | None = None) -> str:
    """``mean ± std`` in the measure's format, the std to as many decimals as the mean.

    >>> mean_std_text("epoch_time", 0.04351, 0.00031), mean_std_text("epoch_time", 12.34, 1.2)
    ('0.0435 ± 0.0003', '12.3 ± 1.2')
    """
    text = _format(measure, mean)
    if std is None or pd.isna(std) or pd.isna(mean):
        return text
    spec = MEASURES[measure][1]
    if spec.endswith("g") and mean != 0:
        digits = int(spec.strip(".,g"))
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(mean))))
        return f"{text} ± {std:.{decimals}f}"
    return f"{text} ± {_format(measure, std)}"


def _describe(measured: Measured, measure: str, variant: str | float) -> str:
    if not isinstance(variant, str):
        return _format(measure, variant)
    mean, std = measured.mean_std(measure, variant)
    return f"{variant} {mean_std_text(measure, mean, std if measured.seeds > 1 else None)}"


def _against(measured: Measured, measure: str, a: str, b: str | float) -> str:
    """The evidence of a comparison: the measure's name, then ``a`` against ``b``."""
    name = MEASURES[measure][0]
    return f"{name}: {_describe(measured, measure, a)} against {_describe(measured, measure, b)}"


NOT_MEASURED = " (not measured: a variant failed or lacks it)"
WITHIN_SPREAD = " (within the seeds' spread)"


def _outcome(evidence: str, borne_out: bool, not_borne_out: bool) -> tuple[str, str]:
    if borne_out:
        return BORNE_OUT, evidence
    if not_borne_out:
        return NOT_BORNE_OUT, evidence
    return CANNOT_TELL, evidence + WITHIN_SPREAD


def _all_equal(measured: Measured, measure: str) -> bool:
    values = measured.frame[f"{measure}_mean"].dropna()
    return len(values) > 1 and values.max() - values.min() < 0.5


class Rule:
    """A test of one expectation against the measured results; subclasses set ``measure``."""

    def judge(self, measured: Measured) -> tuple[str, str]:
        """Return ``(outcome, evidence)``."""
        raise NotImplementedError

    @property
    def figure(self) -> str:
        return MEASURES[getattr(self, "measure", "test_accuracy")][2]


@dataclass(frozen=True)
class _Comparison(Rule):
    """A rule that holds variant ``a``'s measure against ``b``'s (a variant or a number)."""

    measure: str
    a: str
    b: str | float

    def _sides(self, measured: Measured) -> tuple[float, float, float, float, str]:
        """``a``'s mean and std, ``b``'s, and the evidence that names them."""
        mean_a, std_a = measured.mean_std(self.measure, self.a)
        mean_b, std_b = measured.mean_std(self.measure, self.b)
        return mean_a, std_a, mean_b, std_b, _against(measured, self.measure, self.a, self.b)


@dataclass(frozen=True)
class Higher(_Comparison):
    """``a``'s measure exceeds ``b``'s (a variant or a number) by more than ``by``.

    With ``ratio=True`` the test is ``a / b > by`` instead, the bounds of the ratio taken at
    one standard deviation either side of each mean.
    """

    by: float = 0.0
    ratio: bool = False

    def judge(self, measured: Measured) -> tuple[str, str]:
        mean_a, std_a, mean_b, std_b, evidence = self._sides(measured)
        if pd.isna(mean_a) or pd.isna(mean_b):
            return CANNOT_TELL, evidence + NOT_MEASURED
        if self.measure == "peak_memory_mb" and _all_equal(measured, self.measure):
            return CANNOT_TELL, evidence + (
                " (every variant reports the same peak: the process's high-water mark, not "
                "each fit's own)"
            )
        if self.ratio:
            if mean_b <= 0:
                return CANNOT_TELL, evidence
            low = (mean_a - std_a) / (mean_b + std_b)
            high = (mean_a + std_a) / max(mean_b - std_b, 1e-300)
            evidence += f", a ratio of {mean_a / mean_b:.2g}"
            return _outcome(evidence, low > self.by, high < self.by)
        excess = mean_a - mean_b - self.by
        spread = std_a + std_b
        return _outcome(evidence, excess > spread, excess < -spread)


@dataclass(frozen=True)
class Lower(_Comparison):
    """``a``'s measure falls below ``b``'s by more than ``by`` (:class:`Higher` reversed)."""

    by: float = 0.0

    def judge(self, measured: Measured) -> tuple[str, str]:
        outcome, reversed_evidence = Higher(self.measure, self.b, self.a, self.by).judge(measured)
        # Higher's evidence names b first; its verdict's reason (the suffix) stays as it is.
        reason = reversed_evidence.removeprefix(_against(measured, self.measure, self.b, self.a))
        return outcome, _against(measured, self.measure, self.a, self.b) + reason


@dataclass(frozen=True)
class Similar(_Comparison):
    """``a`` and ``b`` lie within ``within`` of each other.

    Borne out when the difference of means is at most ``within``; not borne out when it
    exceeds ``within`` by more than the seeds' spread; otherwise cannot tell.
    """

    within: float

    def judge(self, measured: Measured) -> tuple[str, str]:
        mean_a, std_a, mean_b, std_b, evidence = self._sides(measured)
        if pd.isna(mean_a) or pd.isna(mean_b):
            return CANNOT_TELL, evidence + NOT_MEASURED
        difference = abs(mean_a - mean_b)
        evidence += f", {_format(self.measure, difference)} apart"
        return _outcome(
            evidence, difference <= self.within, difference - (std_a + std_b) > self.within
        )


def _collapse(run: pd.Series, n_classes: int) -> str | None:
    """Why one run collapsed (failed, stayed near chance, or its validation loss blew up)."""
    chance = 1.0 / n_classes
    if run["status"] != "complete":
        return f"seed {run['seed']} failed"
    if run["test_accuracy"] <= chance + 0.1:
        return f"seed {run['seed']} at {run['test_accuracy']:.3f} (chance {chance:.2f})"
    best, highest = run.get("best_valid_loss"), run.get("max_valid_loss")
    if pd.notna(best) and pd.notna(highest) and highest >= 10 * best:
        return f"seed {run['seed']}'s validation loss rose to {highest:.3g} from {best:.3g}"
    return None


@dataclass(frozen=True)
class Collapses(Rule):
    """Every run of ``variant`` collapses: it fails, stays within 0.1 of chance accuracy, or
    its validation loss rises to ten times its lowest (a blow-up)."""

    variant: str
    measure: str = "max_valid_loss"

    @property
    def figure(self) -> str:
        return "test accuracy; validation loss per epoch"

    def judge(self, measured: Measured) -> tuple[str, str]:
        runs = measured.variant_runs(self.variant)
        if runs.empty:
            raise KeyError(f"The study has no variant {self.variant!r}.")
        reasons = [_collapse(run, measured.n_classes) for _, run in runs.iterrows()]
        collapsed = [r for r in reasons if r is not None]
        if len(collapsed) == len(reasons):
            return BORNE_OUT, f"{self.variant}: " + "; ".join(collapsed)
        fine = runs[[r is None for r in reasons]]
        evidence = (
            f"{self.variant}: {len(fine)} of {len(runs)} runs trained, test accuracy "
            f"{fine['test_accuracy'].min():.3f} at worst, highest validation loss "
            f"{fine['max_valid_loss'].max():.3g}"
        )
        if collapsed:
            return CANNOT_TELL, evidence + "; " + "; ".join(collapsed)
        return NOT_BORNE_OUT, evidence


@dataclass(frozen=True)
class Turns(Rule):
    """In every run of ``variant``, validation loss reaches its lowest before the last epoch
    and ends at least ``rise`` (a fraction) above it: training went on past its best."""

    variant: str
    rise: float = 0.05
    measure: str = "best_epoch"

    def judge(self, measured: Measured) -> tuple[str, str]:
        runs = measured.variant_runs(self.variant)
        runs = runs[runs["status"] == "complete"]
        if runs.empty:
            return CANNOT_TELL, f"{self.variant}: no run completed"
        turned = runs["final_valid_loss"] >= (1 + self.rise) * runs["best_valid_loss"]
        evidence = (
            f"{self.variant}: lowest validation loss at epoch "
            f"{'/'.join(str(int(e)) for e in runs['best_epoch'])} of "
            f"{'/'.join(str(int(e)) for e in runs['epochs_run'])} "
            f"({runs['best_valid_loss'].mean():.3g}), final "
            f"{runs['final_valid_loss'].mean():.3g}"
        )
        if turned.all():
            return BORNE_OUT, evidence
        if not turned.any():
            return NOT_BORNE_OUT, evidence
        return CANNOT_TELL, evidence + " (the seeds disagree)"


@dataclass(frozen=True)
class Expectation:
    """A sentence written before running, and the rule that holds it against the results."""

    text: str
    rule: Rule

    def read(self, measured: Measured) -> Verdict:
        try:
            outcome, evidence = self.rule.judge(measured)
        except KeyError as error:
            outcome, evidence = CANNOT_TELL, f"{error.args[0]}"
        return Verdict(self.text, outcome, evidence, self.rule.figure)


def read_study(expectations, measured: Measured) -> list[Verdict]:
    """Hold each expectation against the results; one :class:`Verdict` each, in order.

    Examples
    --------
    >>> frame = pd.DataFrame({"test_accuracy_mean": [0.9, 0.7], "test_accuracy_std": [0.01, 0.02]},
    ...                      index=["he", "glorot"])
    >>> runs = pd.DataFrame({"variant": ["he", "he", "glorot", "glorot"], "seed": [0, 1, 0, 1],
    ...                      "status": "complete"})
    >>> [verdict] = read_study([Expectation("He beats Glorot.", Higher("test_accuracy", "he",
    ...                         "glorot"))], Measured(frame, runs, n_classes=10, max_epochs=3))
    >>> verdict.outcome
    'borne out'
    """
    return [expectation.read(measured) for expectation in expectations]
