"""``StackedSearchCV``: a grid or random search whose candidates train side by side.

Candidates that differ only in what can be stacked (learning rate, weight decay, schedules, ...)
train as one batched network (``_members`` groups them, ``_trainer`` runs the stacked fit); the
others fall back to ordinary fits.
"""

from ._search import StackedSearchCV

__all__ = ["StackedSearchCV"]
