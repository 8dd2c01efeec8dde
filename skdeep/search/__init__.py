"""Hyper-parameter search for skdeep estimators, with scikit-learn and Optuna.

- :class:`SearchSpace`: declare a space once; ``to_grid``/``to_sklearn`` for GridSearchCV and
  RandomizedSearchCV, ``to_optuna``/``suggest`` for OptunaSearchCV and Optuna objectives.
- :func:`open_study`, :func:`optimize_study`, :func:`make_objective`, :class:`OptunaPruning`:
  persistent Optuna studies (resumed without dead trials or trials beyond ``n_trials``),
  cross-validated objectives, per-epoch pruning that stays correct across folds.
- :func:`results_frame`, :func:`parameter_importance` and the ``plot_*`` functions: any search
  as a DataFrame and as figures.
- :class:`StackedSearchCV`: GridSearchCV/RandomizedSearchCV that trains same-shape candidates
  and their folds together, as one stacked model.
- :func:`fit_with_progress`, :class:`SearchProgress`: candidates done, best score, time left.
- :func:`tune`: the time-boxed search behind ``skdeep tune``, tested once on held-out rows.

Optuna, matplotlib and tqdm are imported only by the functions that use them.
"""

from .objective import (
    fail_trials_dead_before_their_first_heartbeat,
    make_objective,
    open_study,
    optimize_study,
    storage_url,
)
from .plots import plot_importance, plot_parallel_coordinates, plot_scores
from .progress import SearchProgress, fit_with_progress
from .pruning import OptunaPruning
from .results import parameter_importance, results_frame
from .space import Dimension, SearchSpace, layer_sizes, loguniform_int
from .stacked import StackedSearchCV
from .tuning import tune

__all__ = [
    "Dimension",
    "OptunaPruning",
    "SearchProgress",
    "SearchSpace",
    "StackedSearchCV",
    "fit_with_progress",
    "layer_sizes",
    "loguniform_int",
    "fail_trials_dead_before_their_first_heartbeat",
    "make_objective",
    "open_study",
    "optimize_study",
    "parameter_importance",
    "plot_importance",
    "plot_parallel_coordinates",
    "plot_scores",
    "results_frame",
    "storage_url",
    "tune",
]
