"""The callbacks every skdeep fit runs: accuracies, epoch metrics, divergence guard.

They run once per batch, so each keeps its per-batch work to a few tensor operations on the
fit's device and reads results back to the host once per epoch.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict

import torch
from skorch.callbacks import Callback

from ..utils.memory import peak_rss_mb, reset_peak_rss, rss_mb
from ._common import ParamsRepr, current_lr


def correct_predictions(outputs: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Whether each sample's prediction from the module's ``outputs`` is right, as booleans.

    Class indices ``y_true`` (integers) are compared with the arg-max of the logits; a
    multilabel indicator matrix (floats, one column per label) with the logits' signs, a
    sample being right when all its labels are (scikit-learn's subset accuracy). Works under
    :func:`torch.func.vmap`.

    Examples
    --------
    >>> correct_predictions(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    tensor([ True, False])
    >>> correct_predictions(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
    tensor([True])
    """
    if y_true.is_floating_point():
        return ((outputs > 0) == (y_true > 0.5)).all(dim=-1)
    return outputs.argmax(dim=-1) == y_true


# Rows of outputs a BatchAccuracy gathers before counting them together: a few hundred small
# batches make one count (each count is several tensor operations, a good part of a small CPU
# step).
PENDING_ROWS = 8192


class BatchAccuracy(Callback):
    """Record the accuracy of the batches' own outputs of each epoch in the history.

    Counted from the outputs the training (``on_train=True``) or validation step already
    computed: no extra prediction pass. On the training side this is the running accuracy
    Keras reports: each batch's outputs come from the weights of that step, before its update,
    with dropout active; batches count by their size. The batches' outputs and targets are
    copied into buffers of :data:`PENDING_ROWS` rows and counted together when the buffers are
    full; the count stays on the fit's device and is read back once per epoch. Skipped in
    epochs without such batches.

    Copies, rather than the batches' own tensors kept until the count: on a CPU, keeping them
    made glibc hand memory back to the system and fault it in again at every step (about 50
    page faults a step for an MLP at batch 32, a tenth of its time; docs/performance.md).

    Parameters
    ----------
    on_train : bool, default=False
        Count the training batches (recorded as ``train_acc``) rather than the validation
        batches (``valid_acc``).
    """

    def __init__(self, on_train: bool = False) -> None:
        self.on_train = on_train

    @property
    def column(self) -> str:
        return "train_acc" if self.on_train else "valid_acc"

    def on_epoch_begin(self, net, **kwargs) -> None:
        self.correct_ = None
        self.count_ = 0
        self.pending_rows_ = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs) -> None:
        if training != self.on_train:
            return
        y_true = batch[1][0] if isinstance(batch[1], tuple) else batch[1]
        y_pred = y_pred.detach()
        rows, start = len(y_true), self.pending_rows_
        buffers = self.__dict__.get("buffers_")
        if buffers is None or not _fits(buffers, y_pred, y_true, start + rows):
            self._count_pending()
            start = 0
            if rows >= PENDING_ROWS:
                self._count(y_pred, y_true)
                return
            if buffers is None or not _fits(buffers, y_pred, y_true, rows):
                buffers = self.buffers_ = tuple(
                    torch.empty((PENDING_ROWS, *t.shape[1:]), dtype=t.dtype, device=t.device)
                    for t in (y_pred, y_true)
                )
        buffers[0][start : start + rows].copy_(y_pred)
        buffers[1][start : start + rows].copy_(y_true)
        self.pending_rows_ = start + rows

    def _count(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        correct = correct_predictions(outputs, targets).sum()
        self.correct_ = correct if self.correct_ is None else self.correct_ + correct
        self.count_ += len(targets)

    def _count_pending(self) -> None:
        if self.pending_rows_:
            outputs, targets = (t[: self.pending_rows_] for t in self.buffers_)
            self._count(outputs, targets)
            self.pending_rows_ = 0

    def on_epoch_end(self, net, **kwargs) -> None:
        self._count_pending()
        if self.count_:
            net.history.record(self.column, float(self.correct_) / self.count_)
        self.correct_ = None

    def on_train_end(self, net, **kwargs) -> None:
        self.buffers_ = None  # not kept, nor pickled, with the fitted net


def _fits(buffers: tuple, y_pred: torch.Tensor, y_true: torch.Tensor, rows: int) -> bool:
    """Whether ``rows`` rows of batches like ``y_pred``, ``y_true`` fit in ``buffers``."""
    return rows <= PENDING_ROWS and all(
        buffer.shape[1:] == t.shape[1:] and buffer.dtype == t.dtype and buffer.device == t.device
        for buffer, t in zip(buffers, (y_pred, y_true), strict=True)
    )


class TrainAccuracy(BatchAccuracy):
    """Record ``train_acc``: the running accuracy of the epoch's training batches.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(max_epochs=2, device="cpu").fit(X, y)
    >>> 0.0 <= clf.history_[-1, "train_acc"] <= 1.0
    True
    """

    def __init__(self) -> None:
        super().__init__(on_train=True)


class ValidAccuracy(BatchAccuracy):
    """Record the accuracy on the validation split as ``valid_acc`` in the history.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(max_epochs=2, validation_fraction=0.5, device="cpu").fit(X, y)
    >>> 0.0 <= clf.history_[-1, "valid_acc"] <= 1.0
    True
    """

    def __init__(self) -> None:
        super().__init__(on_train=False)


class EpochMetrics(ParamsRepr, Callback):
    """Record, in each history row, how the epoch went: time, learning rate, memory, gradients.

    Always on in skdeep's estimators. Columns written:

    - ``epoch_time``: wall-clock seconds of the epoch, including waiting for the GPU;
    - ``lr``: the learning rate of the epoch's first optimizer step (first param group);
    - ``peak_rss_mb``: the peak resident memory of the process during this training so far,
      in MiB (on Linux the process's peak is reset when the training begins, so that a fit
      after a larger one reports its own peak; elsewhere it is the process's peak since it
      started; ``rss_reset_`` says which);
    - ``memory_increase_mb``: how far the fit's peak rose above the resident memory at the
      start of training (data and network already in memory), in MiB: what the batch size,
      the activations and the optimizer state cost. Linux only;
    - ``peak_cuda_mb``: on a CUDA device, the peak memory allocated by torch during the epoch;
    - ``grad_norm_<layer>``, one per layer with trainable parameters (``<layer>`` as in
      ``module.named_modules()``): the root mean square, over ``grad_norm_samples`` evenly
      spaced optimizer steps of the epoch (every step of a shorter epoch), of the L2 norm of
      that layer's gradient. Vanishing gradients show as columns near zero in the first layers,
      exploding ones as columns that grow epoch after epoch.

    A sampled step costs two fused tensor operations, the others nothing; the sums stay on the
    device and are read back once per epoch. Sampling keeps the cost out of the per-step
    budget: measuring every step of a small MLP would add some 5% to its training time.

    Parameters
    ----------
    grad_norm_samples : int >= 0, default=32
        Steps per epoch whose gradient norms are measured; 0 records no ``grad_norm_`` column.

    Examples
    --------
    >>> from skdeep import MLPClassifier
    >>> X, y = [[0.0], [1.0]] * 10, [0, 1] * 10
    >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=2, device="cpu").fit(X, y)
    >>> sorted(c for c in clf.history_frame().columns if c.startswith("grad_norm"))
    ['grad_norm_0', 'grad_norm_2']
    """

    def __init__(self, grad_norm_samples: int = 32) -> None:
        self.grad_norm_samples = grad_norm_samples

    def on_train_begin(self, net, **kwargs) -> None:
        named = [(n, p) for n, p in net.module_.named_parameters() if p.requires_grad]
        self.params_ = [p for _, p in named]
        self.layer_of_param_ = [name.rpartition(".")[0] or name for name, _ in named]
        self.cuda_device_ = (
            torch.device(net.device) if torch.device(net.device).type == "cuda" else None
        )
        # The data and the network are resident by now, so they count in the fit's peak.
        self.rss_reset_ = reset_peak_rss()
        self.rss_start_mb_ = rss_mb() if self.rss_reset_ else None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        self.start_ = time.perf_counter()
        self.lr_ = None
        self.grad_square_sums_ = None
        self.steps_ = 0  # training steps seen this epoch
        self.sampled_ = 0  # of which measured
        self.stride_ = 1
        if self.grad_norm_samples and dataset_train is not None:
            n_steps = len(net.get_iterator(dataset_train, training=True))
            self.stride_ = max(1, n_steps // self.grad_norm_samples)
        if self.cuda_device_ is not None:
            torch.cuda.reset_peak_memory_stats(self.cuda_device_)

    def on_batch_end(self, net, training=False, **kwargs) -> None:
        if not training:
            return
        if self.lr_ is None:
            lr = net.optimizer_.param_groups[0]["lr"]
            # A tensor rate may be changed in place later in the epoch: keep this step's value.
            self.lr_ = lr.detach().clone() if isinstance(lr, torch.Tensor) else lr
        self.steps_ += 1
        if (
            not self.grad_norm_samples
            or not self.params_
            or (self.steps_ - 1) % self.stride_
            or self.sampled_ >= self.grad_norm_samples
        ):
            return
        grads = [p.grad for p in self.params_]
        if any(g is None for g in grads):
            grads = [
                torch.zeros(1, device=p.device) if g is None else g
                for p, g in zip(self.params_, grads, strict=True)
            ]
        norms = torch._foreach_norm(grads)
        if self.grad_square_sums_ is None:
            self.grad_square_sums_ = torch._foreach_mul(norms, norms)
        else:
            torch._foreach_addcmul_(self.grad_square_sums_, norms, norms)
        self.sampled_ += 1

    def on_train_end(self, net, **kwargs) -> None:
        # References to the module's parameters would be pickled apart from the module.
        self.params_ = []
        self.grad_square_sums_ = None

    def on_epoch_end(self, net, **kwargs) -> None:
        history = net.history
        square_sums = None
        if self.grad_square_sums_ is not None:
            square_sums = torch.stack(self.grad_square_sums_).tolist()  # the epoch's one sync
        elif self.cuda_device_ is not None:
            torch.cuda.synchronize(self.cuda_device_)
        history.record("epoch_time", time.perf_counter() - self.start_)
        history.record("lr", float(self.lr_) if self.lr_ is not None else current_lr(net))
        rss = peak_rss_mb()
        if rss is not None:
            history.record("peak_rss_mb", rss)
            if getattr(self, "rss_start_mb_", None) is not None:
                history.record("memory_increase_mb", max(rss - self.rss_start_mb_, 0.0))
        if self.cuda_device_ is not None:
            history.record(
                "peak_cuda_mb", torch.cuda.max_memory_allocated(self.cuda_device_) / 2**20
            )
        if square_sums is not None:
            per_layer: dict[str, float] = defaultdict(float)
            for layer, square_sum in zip(self.layer_of_param_, square_sums, strict=True):
                per_layer[layer] += square_sum
            for layer, total in per_layer.items():
                history.record(f"grad_norm_{layer}", math.sqrt(total / self.sampled_))


class TrainingDivergedError(FloatingPointError):
    """The fit diverged: its loss or weights stopped being finite, or its loss exploded."""


class TrainingDivergedWarning(UserWarning):
    """A fit diverged and, as ``on_divergence`` asked, stopped or went on instead of raising."""


ON_DIVERGENCE = ("raise", "stop", "continue")


# Regression targets beyond this (in absolute value) are named as the likely cause of a
# divergence: a network's outputs start near 0, and the squared error of 1e30 is inf in float32.
HUGE_TARGETS = 1e6


def divergence_advice(lr: float, target_scale: float | None = None) -> str:
    """What a diverged fit should change: the learning rate and X, or y when it is huge.

    ``target_scale`` is the largest absolute regression target (None for a classifier).

    Examples
    --------
    >>> divergence_advice(0.1).split(",")[0]
    'Lower the learning_rate (it is 0.1; try 0.01)'
    >>> divergence_advice(0.1, 1e30).split(":")[0]
    'y reaches 1e+30 in absolute value, too large a scale for a network to predict'
    """
    if target_scale is not None and target_scale > HUGE_TARGETS:
        return (
            f"y reaches {target_scale:.3g} in absolute value, too large a scale for a network "
            "to predict: standardise y, for example with TransformedTargetRegressor("
            "regressor, transformer=StandardScaler()), and X if it is not."
        )
    return (
        f"Lower the learning_rate (it is {lr:g}; try {lr / 10:g}), and standardise X (for "
        "example with a StandardScaler in a Pipeline) if it is not."
    )


class TerminateOnNaN(Callback):
    """Stop a diverging fit with :class:`TrainingDivergedError`.

    Always on in skdeep's estimators. The fit stops when

    - the training loss becomes NaN or infinite. When skorch has already brought a batch's loss
      to the host (it records each batch's ``train_loss``), the check is free and the fit stops
      at that batch; otherwise the losses are summed on the device and checked once, at the end
      of the epoch;
    - an epoch's training loss exceeds ``max_loss_growth`` times the loss the fit started from:
      the first batch's loss at the initial weights (for a resumed or loaded fit, its first
      epoch's). For a classifier the starting point is at least ``ln(n_classes)``, the loss of
      predicting every class alike. A cross-entropy that large means the network predicts
      wrong classes with near certainty: its weights have blown up, and it no longer learns
      (plain SGD with ``learning_rate=1e3`` on raw pixels reaches 1e18 in epoch 1);
    - a weight stops being finite (checked at the end of each epoch, one read-back).

    The checks run before any later callback (a checkpoint, say) sees the epoch, so no further
    epoch runs and nothing diverged is saved; the error names the epoch and suggests a lower
    learning rate. Inside a search the candidate fails (scikit-learn's ``error_score``) and the
    search goes on.

    With ``on_divergence="stop"`` the fit ends instead, as early stopping ends it: the history
    is kept, the weights go back to those of the last epoch that ended with finite weights (the
    initial ones if none did), a :class:`TrainingDivergedWarning` says why, and the epoch's
    history row records ``diverged=True``. With ``"continue"`` it warns once, records
    ``diverged`` and trains on, to show what an extreme learning rate does.

    Parameters
    ----------
    max_loss_growth : float > 1, default=100.0
        How many times its starting loss an epoch's training loss may reach.
    on_divergence : {"raise", "stop", "continue"}, default="raise"
        What a divergence does (the estimators' parameter of the same name).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeep import MLPRegressor
    >>> X = np.arange(40.0).reshape(-1, 1)
    >>> reg = MLPRegressor(optimizer="sgd", learning_rate=10.0, max_epochs=5, device="cpu",
    ...                    random_state=0)
    >>> try:
    ...     reg.fit(X, X.ravel() ** 3)
    ... except TrainingDivergedError as error:
    ...     print(str(error).split(" to ")[0])
    Training diverged: the training loss grew
    """

    def __init__(self, max_loss_growth: float = 100.0, on_divergence: str = "raise") -> None:
        self.max_loss_growth = max_loss_growth
        self.on_divergence = on_divergence

    def initialize(self):
        if self.on_divergence not in ON_DIVERGENCE:
            raise ValueError(
                f"on_divergence must be one of {list(ON_DIVERGENCE)}, got {self.on_divergence!r}."
            )
        self.start_loss_ = None
        self.diverged_ = False
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        self.finite_weights_ = self._weights(net) if self.on_divergence == "stop" else None

    def on_epoch_begin(self, net, **kwargs) -> None:
        self.loss_sum_ = None
        self.n_batches_ = 0

    def on_batch_end(self, net, training=False, loss=None, y_pred=None, **kwargs) -> None:
        if not training:
            return
        recorded = net.history[-1]["batches"][-1].get("train_loss")
        if getattr(self, "start_loss_", None) is None:
            self.start_loss_ = self._start_loss(net, recorded, loss, y_pred)
        self.n_batches_ += 1
        if isinstance(recorded, float):
            if not math.isfinite(recorded):
                self._stop(
                    net, f"the training loss became {recorded}", len(net.history[-1]["batches"])
                )
        elif loss is not None:
            loss = loss.detach()
            self.loss_sum_ = loss.clone() if self.loss_sum_ is None else self.loss_sum_ + loss

    @staticmethod
    def _start_loss(net, recorded, loss, y_pred) -> float:
        # Read once per fit: the first epoch of a resumed or loaded fit, else this first batch.
        first = net.history[0].get("train_loss") if len(net.history) > 1 else None
        if not isinstance(first, float):
            first = recorded if isinstance(recorded, float) else float(loss)
        if getattr(net, "classification", False) and y_pred is not None and y_pred.ndim == 2:
            first = max(first, math.log(y_pred.shape[1]))
        return first

    def on_epoch_end(self, net, **kwargs) -> None:
        epoch_loss = net.history[-1].get("train_loss")
        if self.loss_sum_ is not None:
            total = float(self.loss_sum_)
            if not math.isfinite(total):
                self._stop(net, f"the training loss became {total}")
            if not isinstance(epoch_loss, float):
                epoch_loss = total / max(self.n_batches_, 1)
        start = getattr(self, "start_loss_", None)
        if (
            isinstance(epoch_loss, float)
            and start is not None
            and math.isfinite(start)
            and start > 0
            and epoch_loss > self.max_loss_growth * start
        ):
            self._stop(
                net,
                f"the training loss grew to {epoch_loss:.3g}, more than "
                f"{self.max_loss_growth:g} times the {start:.3g} it started from,",
            )
        module = getattr(net, "module_", None)
        params = [] if module is None else [p for p in module.parameters() if p.numel()]
        if params and not bool(torch.stack(torch._foreach_norm(params, math.inf)).isfinite().all()):
            self._stop(net, "the weights became NaN or infinite")
        elif getattr(self, "finite_weights_", None) is not None:
            self.finite_weights_ = self._weights(net)

    @staticmethod
    def _weights(net) -> dict | None:
        module = getattr(net, "module_", None)
        if module is None:
            return None
        return {name: value.detach().clone() for name, value in module.state_dict().items()}

    def _stop(self, net, what: str, batch: int | None = None) -> None:
        epoch = net.history[-1]["epoch"]
        where = f"epoch {epoch}" + ("" if batch is None else f" (batch {batch})")
        advice = divergence_advice(current_lr(net), getattr(net, "target_scale_", None))
        message = f"Training diverged: {what} in {where}. {advice}"
        if self.on_divergence == "raise":
            raise TrainingDivergedError(message)
        if getattr(self, "diverged_", False):  # "continue": said once already
            return
        self.diverged_ = True
        net.history.record("diverged", True)
        if self.on_divergence == "continue":
            warnings.warn(
                f"{message} Training goes on (on_divergence='continue').",
                TrainingDivergedWarning,
                stacklevel=2,
            )
            return
        if self.finite_weights_ is not None:
            net.module_.load_state_dict(self.finite_weights_)
        warnings.warn(
            f"{message} Training stopped with the weights of the last epoch that ended with "
            "finite weights (on_divergence='stop').",
            TrainingDivergedWarning,
            stacklevel=2,
        )
        raise KeyboardInterrupt  # how skorch's callbacks end a fit
