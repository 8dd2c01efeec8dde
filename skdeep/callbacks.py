"""skorch callbacks: what skdeep records during training, one class per behaviour."""

from __future__ import annotations

from skorch.callbacks import Callback


class ValidAccuracy(Callback):
    """Record the accuracy on the validation split as ``valid_acc`` in the history.

    Counted from the outputs the validation step already computed: no extra prediction pass.
    Skipped in epochs without validation data.
    """

    def on_epoch_begin(self, net, **kwargs) -> None:
        self._correct = None
        self._count = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs) -> None:
        if training:
            return
        y_true = batch[1][0] if isinstance(batch[1], tuple) else batch[1]
        correct = (y_pred.argmax(dim=1) == y_true).sum()
        self._correct = correct if self._correct is None else self._correct + correct
        self._count += len(y_true)

    def on_epoch_end(self, net, **kwargs) -> None:
        if self._count:
            net.history.record("valid_acc", float(self._correct) / self._count)


__all__ = ["ValidAccuracy"]
