"""Studies: one question about training (depth, batch size, learning rate, ...), answered by
fitting the variants it names, measuring them, and reading the measures against what the course
expects.

``_designs`` names the studies (:data:`STUDIES`) and ``_variants`` their networks; ``_run`` fits
them; ``_reading`` turns measures into verdicts; ``_figure`` and ``_report`` show the result.
The catalogue imports no estimator, so ``skdeep study --list`` answers at once; the rest is
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports
from ._designs import STUDIES, Study
from ._variants import Variant

__all__ = [
    "STUDIES",
    "Study",
    "StudyResult",
    "Variant",
    "run_study",
    "summarise",
    "write_study_report",
]

if TYPE_CHECKING:
    from ._report import write_study_report
    from ._run import StudyResult, run_study, summarise

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "StudyResult": "._run",
        "run_study": "._run",
        "summarise": "._run",
        "write_study_report": "._report",
    },
    globals(),
)
