"""``skdeep tune``: an Optuna search of a network on a dataset within a time budget.

``_data`` holds the test rows apart from the start, ``_spaces`` names the search spaces,
``_trial`` fits one trial, ``_ensemble`` averages the best ones, ``_budget`` and ``_watch``
keep the run within its budget, ``_workers`` runs trials in parallel processes (``--workers``),
``_study`` opens its Optuna storage and ``_report`` writes what was found.
"""

from ._budget import parse_budget
from ._data import TuneData, load_tune_data
from ._ensemble import TrialEnsemble
from ._run import TuneResult, tune
from ._spaces import (
    CLASSIFIER_SPACE,
    DATA_KINDS,
    IMAGE_SPACE,
    KIND_SPACES,
    MODEL_SPACES,
    TABLE_SPACE,
)

__all__ = [
    "CLASSIFIER_SPACE",
    "DATA_KINDS",
    "IMAGE_SPACE",
    "KIND_SPACES",
    "MODEL_SPACES",
    "TABLE_SPACE",
    "TrialEnsemble",
    "TuneData",
    "TuneResult",
    "load_tune_data",
    "parse_budget",
    "tune",
]
