"""What several callbacks share: which way a monitored value improves, reading it, the lr."""

from __future__ import annotations

import torch

# A monitored column whose name holds one of these words improves upwards (a score); any other
# (a loss, an error, a time) improves downwards. Words, not substrings: "layer2_loss" is a loss.
HIGHER_IS_BETTER_WORDS = frozenset(
    {"acc", "accuracy", "auc", "score", "f1", "precision", "recall", "r2"}
)


def lower_is_better_for(monitor: str) -> bool:
    """Whether a smaller value of the history column ``monitor`` is better, judged by its name.

    ``valid_loss`` or ``train_mae`` improve downwards; ``valid_acc``, ``valid_f1`` or
    ``valid_r2`` upwards (the name holds one of ``HIGHER_IS_BETTER_WORDS``).

    Examples
    --------
    >>> lower_is_better_for("valid_loss"), lower_is_better_for("valid_acc")
    (True, False)
    """
    return not set(monitor.lower().split("_")) & HIGHER_IS_BETTER_WORDS


def monitored_value(net, monitor: str, owner: str) -> float:
    """The value of ``monitor`` in the net's last history row, or a ValueError that says why not."""
    row = net.history[-1]
    if monitor in row:
        return row[monitor]
    hint = ""
    if monitor.startswith("valid"):
        hint = (
            " Validation columns need a validation split: set validation_fraction > 0, with "
            "enough samples that the split holds at least one."
        )
    columns = sorted(key for key in row if key != "batches")
    raise ValueError(
        f"{owner} monitors {monitor!r}, but epoch {row['epoch']} of the history has no such "
        f"column (it has {columns}).{hint}"
    )


def set_group_lr(group: dict, lr: float) -> None:
    """Write ``lr`` into an optimizer param group, in place when the rate is a tensor."""
    if isinstance(group["lr"], torch.Tensor):
        # A capturable optimizer (CUDA graphs) reads its rate from this very tensor.
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def current_lr(net) -> float:
    """The learning rate of the net's first optimizer param group, as a float."""
    return float(net.optimizer_.param_groups[0]["lr"])


class ParamsRepr:
    """Mixin: ``repr`` shows the callback's parameters, as scikit-learn estimators do."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({params})"


class UsesEstimatorParams:
    """Mixin: callbacks that record the estimator's hyper-parameters.

    skdeep's estimators set ``estimator_params_`` (their ``get_params(deep=False)``) on their
    copy of such a callback before the fit; on a bare skorch net it stays None.
    """

    estimator_params_: dict | None = None
