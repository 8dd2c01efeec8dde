"""In-memory tensor data for skorch: one tensor per array, batches by index, no collation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset

Target = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class TensorData(Dataset):
    """Features, targets and optional sample weights held as tensors on one device.

    Batches are taken with :meth:`take` (an index tensor) or :meth:`slice` (a contiguous range),
    never sample by sample. With sample weights, a batch's target is the pair ``(y, weight)``.

    Parameters
    ----------
    X : torch.Tensor
        Features, first axis the samples.
    y : torch.Tensor
        Targets, first axis the samples.
    sample_weight : torch.Tensor or None, default=None
        One weight per sample.

    Examples
    --------
    >>> data = TensorData(torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 0]))
    >>> len(data)
    3
    >>> data.take(torch.tensor([2, 0]))
    (tensor([[4., 5.],
            [0., 1.]]), tensor([0, 0]))
    """

    def __init__(
        self, X: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        if len(X) != len(y) or (sample_weight is not None and len(sample_weight) != len(X)):
            raise ValueError("X, y and sample_weight must have the same number of samples.")
        self.X = X
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        return self.take(torch.as_tensor([i], device=self.X.device))

    def _target(self, y: torch.Tensor, w: torch.Tensor | None) -> Target:
        return y if w is None else (y, w)

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, Target]:
        """Return the batch of the samples at ``index``."""
        w = None if self.sample_weight is None else self.sample_weight[index]
        return self.X[index], self._target(self.y[index], w)

    def slice(self, start: int, stop: int) -> tuple[torch.Tensor, Target]:
        """Return the batch of samples ``start:stop`` as views, without copying."""
        w = None if self.sample_weight is None else self.sample_weight[start:stop]
        return self.X[start:stop], self._target(self.y[start:stop], w)

    def subset(self, index: torch.Tensor) -> TensorData:
        """Return a new dataset holding the samples at ``index`` (copied once)."""
        w = None if self.sample_weight is None else self.sample_weight[index]
        return TensorData(self.X[index], self.y[index], w)


class BatchIterator:
    """Iterate over a :class:`TensorData` in mini-batches; skorch's ``iterator_train``/``_valid``.

    With ``shuffle``, each pass draws a new permutation from torch's default generator on the
    data's device (seeded by the estimator's ``random_state``) and every sample is seen exactly
    once; the last batch holds the remainder.

    Parameters
    ----------
    dataset : TensorData
    batch_size : int
    shuffle : bool, default=False

    Examples
    --------
    >>> data = TensorData(torch.arange(5.0)[:, None], torch.arange(5))
    >>> [len(X) for X, _ in BatchIterator(data, batch_size=2)]
    [2, 2, 1]
    """

    def __init__(self, dataset: TensorData, batch_size: int, shuffle: bool = False) -> None:
        if not isinstance(dataset, TensorData):
            raise TypeError(f"BatchIterator needs a TensorData, got {type(dataset).__name__}.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Target]]:
        n, size = len(self.dataset), self.batch_size
        if not self.shuffle:
            for start in range(0, n, size):
                yield self.dataset.slice(start, start + size)
            return
        order = torch.randperm(n, device=self.dataset.X.device)
        for start in range(0, n, size):
            yield self.dataset.take(order[start : start + size])
