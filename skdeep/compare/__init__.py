"""Compare networks with classical baselines on the same folds, and report the comparison.

:func:`compare` cross-validates every model on one set of folds and tests each against the best
(``_stats``: the corrected paired t-test, Holm's adjustment); ``_table`` makes the table and the
figure that people read; ``_report`` writes them to a folder.
"""

from ..baselines import (
    CLASSIFICATION_MODELS,
    MODEL_NAMES,
    REGRESSION_MODELS,
    default_models,
    find_network,
    make_preprocessor,
)
from ..utils.tasks import MAX_INTEGER_CLASSES, infer_task
from ._report import comparison_summary, write_comparison_report
from ._run import DEFAULT_SCORING, ComparisonResult, compare
from ._stats import corrected_paired_ttest, holm_adjust

__all__ = [
    # The baselines live in skdeep.baselines and the task in skdeep.utils.tasks; both stay
    # importable from here.
    "CLASSIFICATION_MODELS",
    "DEFAULT_SCORING",
    "MAX_INTEGER_CLASSES",
    "MODEL_NAMES",
    "REGRESSION_MODELS",
    "ComparisonResult",
    "compare",
    "comparison_summary",
    "corrected_paired_ttest",
    "default_models",
    "find_network",
    "holm_adjust",
    "infer_task",
    "make_preprocessor",
    "write_comparison_report",
]
