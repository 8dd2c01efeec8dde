"""The skorch net that trains skdeep's modules: skorch runs the loop, this adds what it lacks.

It adds to :class:`skorch.NeuralNet`: sample weights and L1/L2 weight penalties in the loss, a
validation accuracy for classifiers, ``partial_fit`` for a given number of epochs, and on a GPU
the training step captured in a CUDA graph (:mod:`skdeep._graph_step`).
"""

from __future__ import annotations

import torch
from skorch import NeuralNet

from ._fast_loop import FastLoopMixin, mean_loss, per_sample_loss
from ._graph_step import start_static_step
from .callbacks import EpochMetrics, TerminateOnNaN, ValidAccuracy
from .modules import penalized_parameters, weight_penalty

# Samples per forward pass when predicting or validating on a CPU: batches whose activations
# stay in the cache run faster than one large pass (measured: about 2x for LeNet-5, see
# docs/performance.md); on a GPU, larger batches are better.
CPU_PREDICT_BATCH_SIZE = 1024


class SkdeepNet(FastLoopMixin, NeuralNet):
    """A :class:`skorch.NeuralNet` whose criterion returns one loss per sample.

    skorch runs the loop; :class:`~skdeep._fast_loop.FastLoopMixin` trims its per-batch work.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`. The criterion must use ``reduction="none"``.
    l1, l2 : float, default=0.0
        Penalties ``l1 * sum|w| + l2 / 2 * sum w**2`` on weights (not biases), added to the
        training loss.
    classification : bool, default=False
        Record ``valid_acc`` in the history.
    graph_step : {"auto", "cuda_graph", "none"}, default="auto"
        Whether the training step is captured in a CUDA graph and replayed per batch
        (:mod:`skdeep._graph_step`; the estimators' ``compile``); ``train_step_mode_`` and
        ``eager_reason_`` say what each training did. Not skorch's ``compile``, which is
        ``torch.compile``.
    """

    def __init__(
        self,
        *args,
        l1: float = 0.0,
        l2: float = 0.0,
        classification: bool = False,
        graph_step: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.l1 = l1
        self.l2 = l2
        self.classification = classification
        self.graph_step = graph_step

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        # Before print_log, so that the printed table shows them; being defaults, they run
        # before the user's callbacks, so that a diverged epoch never reaches a checkpoint.
        if self.classification:
            callbacks.insert(-1, ("valid_acc", ValidAccuracy()))
        callbacks.insert(-1, ("epoch_metrics", EpochMetrics()))
        callbacks.insert(-1, ("terminate_on_nan", TerminateOnNaN()))
        return callbacks

    def initialize_module(self):
        super().initialize_module()
        self.penalized_params_ = penalized_parameters(self.module_)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if isinstance(y_true, tuple):
            y_true, weight = y_true
        else:
            weight = None
        if weight is None:
            loss = mean_loss(self.criterion_, y_pred, y_true)
        else:
            loss = (per_sample_loss(self.criterion_, y_pred, y_true) * weight).mean()
        if training and (self.l1 or self.l2):
            loss = loss + weight_penalty(self.penalized_params_, self.l1, self.l2)
        return loss

    def partial_fit(self, X, y=None, classes=None, epochs: int | None = None, **fit_params):
        """Train for ``epochs`` epochs (``max_epochs`` when None) without re-initialising."""
        if not self.initialized_:
            self.initialize()
        # Before the callbacks' on_train_begin: the rate becomes a tensor they then set.
        self.static_step_ = start_static_step(self)
        try:
            self.notify("on_train_begin", X=X, y=y)
            try:
                self.fit_loop(X, y, epochs=epochs, **fit_params)
            except KeyboardInterrupt:
                pass
        finally:
            if self.static_step_ is not None:
                self.static_step_.close()
            self.static_step_ = None
        self.notify("on_train_end", X=X, y=y)
        return self

    def train_step(self, batch, **fit_params):
        static = self.__dict__.get("static_step_")
        if static is not None and not fit_params:
            step = static.run(batch)
            if step is not None:
                return step
        return super().train_step(batch, **fit_params)

    def predict_outputs(self, X: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Return the module's raw outputs for ``X``, computed in large batches in eval mode.

        On a CPU the batches hold at most :data:`CPU_PREDICT_BATCH_SIZE` samples.
        """
        if torch.device(self.device).type == "cpu":
            batch_size = min(batch_size, CPU_PREDICT_BATCH_SIZE)
        self.module_.eval()
        with torch.inference_mode():
            outputs = [
                self.module_(X[start : start + batch_size].to(self.device))
                for start in range(0, len(X), batch_size)
            ]
        return torch.cat(outputs).cpu()
