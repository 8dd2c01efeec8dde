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
    A :meth:`subset` (the training or validation split) shares the arrays and holds only the
    row numbers, so a split costs no copy of the data.

    Parameters
    ----------
    X : torch.Tensor
        Features, first axis the samples.
    y : torch.Tensor
        Targets, first axis the samples.
    sample_weight : torch.Tensor or None, default=None
        One weight per sample.
    rows : torch.Tensor or None, default=None
        The rows of the arrays that make up this dataset, in order; None: all of them.

    Examples
    --------
    >>> data = TensorData(torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 0]))
    >>> len(data)
    3
    >>> data.take(torch.tensor([2, 0]))
    (tensor([[4., 5.],
            [0., 1.]]), tensor([0, 0]))
    >>> data.subset(torch.tensor([1, 2])).slice(0, 1)
    (tensor([[2., 3.]]), tensor([1]))
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> None:
        if len(X) != len(y) or (sample_weight is not None and len(sample_weight) != len(X)):
            raise ValueError("X, y and sample_weight must have the same number of samples.")
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.rows = rows

    @property
    def device(self) -> torch.device:
        """The device the tensors are on."""
        return self.X.device

    def __len__(self) -> int:
        return len(self.X) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        return self.take(torch.as_tensor([i], device=self.device))

    def _target(self, y: torch.Tensor, w: torch.Tensor | None) -> Target:
        return y if w is None else (y, w)

    def _gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, Target]:
        # index_select, not ``X[rows]``: advanced indexing is several times slower on CPU.
        w = None if self.sample_weight is None else self.sample_weight.index_select(0, rows)
        return self.X.index_select(0, rows), self._target(self.y.index_select(0, rows), w)

    def rows_of(self, index: torch.Tensor) -> torch.Tensor:
        """Return the rows of the arrays behind the samples at ``index`` of this dataset."""
        return index if self.rows is None else self.rows.index_select(0, index)

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, Target]:
        """Return the batch of the samples at ``index``."""
        return self._gather(self.rows_of(index))

    def slice(self, start: int, stop: int) -> tuple[torch.Tensor, Target]:
        """Return the batch of samples ``start:stop``; views, without copying, if not a subset."""
        if self.rows is not None:
            return self._gather(self.rows[start:stop])
        w = None if self.sample_weight is None else self.sample_weight[start:stop]
        return self.X[start:stop], self._target(self.y[start:stop], w)

    def subset(self, index: torch.Tensor) -> TensorData:
        """Return the dataset of the samples at ``index``, sharing this one's arrays."""
        return TensorData(self.X, self.y, self.sample_weight, rows=self.rows_of(index))


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
        data, size = self.dataset, self.batch_size
        if not self.shuffle:
            for start in range(0, len(data), size):
                yield data.slice(start, start + size)
            return
        rows = data.rows_of(torch.randperm(len(data), device=data.device))
        for batch_rows in rows.split(size):
            yield data._gather(batch_rows)
