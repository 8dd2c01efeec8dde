"""Numeric feature embeddings for MLPs on tables, from the ``rtdl-num-embeddings`` package.

Gorishniy, Rubachev and Babenko (2022), "On Embeddings for Numerical Features in Tabular Deep
Learning": each feature is mapped to a vector of ``d_embedding`` values before the MLP, either
through periodic functions of learned frequencies or through a piecewise-linear encoding over
quantile bins of the training rows. The modules are the authors' own
(``rtdl_num_embeddings``, the ``tables`` extra), imported when one is built; the bins are
computed here.

Pure torch and numpy: nothing here knows about scikit-learn or skorch.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .modules import MLP, penalized_parameters
from .utils.optional import require

NUMERIC_EMBEDDINGS = ("periodic", "piecewise_linear")
# The starting points the package recommends for an MLP: 24 for the periodic embeddings
# (which end with a ReLU), 12 for the piecewise-linear ones (version "B", no activation).
DEFAULT_D_EMBEDDING = {"periodic": 24, "piecewise_linear": 12}
# The package warns of a feature with one bin (two distinct values: a one-hot column), which
# works as min-max scaling.
_ONE_BIN_WARNING = ".*has just two bin edges"


def _rtdl():
    return require("rtdl_num_embeddings", extra="tables")


def quantile_bins(X: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """The bin edges of each column of ``X`` at its ``n_bins`` quantiles, for piecewise-linear
    embeddings.

    The quantile bins of the paper (Section 3.2.1) as the package's ``compute_bins`` defines
    them: edges at the quantiles ``0, 1/n_bins, ..., 1`` (linear interpolation) with repeated
    values dropped, so a column of few distinct values gets fewer bins. The quantile positions
    are computed exactly, in float64: rounding them as ``torch.quantile`` does in float32 puts
    a spurious edge a few ulps from a repeated value (``0.99999988`` in a 0/1 column), a bin
    whose encoding multiplies its input by some 10^7. At most ``len(X) - 1`` bins; a column
    constant on ``X`` gets the one bin ``[v, v + 1]``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The training rows, finite.
    n_bins : int >= 2

    Returns
    -------
    list of ndarray of float32
        One increasing array of edges (2 to ``n_bins + 1``) per column.

    Examples
    --------
    >>> X = np.array([[0.0, 5.0, 0.0], [1.0, 5.0, 1.0], [2.0, 5.0, 1.0], [3.0, 5.0, 0.0]])
    >>> [edges.tolist() for edges in quantile_bins(X, n_bins=2)]
    [[0.0, 1.5, 3.0], [5.0, 6.0], [0.0, 0.5, 1.0]]
    """
    X = np.asarray(X, dtype=np.float32)
    n_rows = len(X)
    n_bins = min(n_bins, max(n_rows - 1, 1))
    positions = np.linspace(0.0, 1.0, n_bins + 1) * (n_rows - 1)
    # Positions within rounding error of a row are that row.
    rounded = np.round(positions)
    positions = np.where(np.abs(positions - rounded) < 1e-9, rounded, positions)
    below = np.floor(positions).astype(int)
    above = np.minimum(below + 1, n_rows - 1)
    fraction = positions - below
    bins = []
    for column in X.T:
        values = np.sort(column.astype(np.float64))
        if n_rows == 0 or values[0] == values[-1]:
            value = float(values[0]) if n_rows else 0.0
            bins.append(np.array([value, value + 1.0], dtype=np.float32))
            continue
        edges = values[below] + fraction * (values[above] - values[below])
        bins.append(np.unique(edges.astype(np.float32)))
    return bins


def make_numeric_embedding(
    kind: str, n_features: int, d_embedding: int, bins: Sequence[np.ndarray] | None = None
) -> nn.Module:
    """The package's embedding module of ``kind``: ``(n, n_features) -> (n, n_features, d)``.

    ``"periodic"``: ``PeriodicEmbeddings(lite=False)`` with the package's 48 frequencies and
    frequency scale 0.01; ``"piecewise_linear"``: ``PiecewiseLinearEmbeddings(bins,
    activation=False, version="B")``, as the package recommends for MLPs.

    Examples
    --------
    >>> embedding = make_numeric_embedding("periodic", 3, 4)
    >>> tuple(embedding(torch.zeros(2, 3)).shape)
    (2, 3, 4)
    """
    rtdl = _rtdl()
    if kind == "periodic":
        return rtdl.PeriodicEmbeddings(n_features, d_embedding, lite=False)
    if kind != "piecewise_linear":
        raise ValueError(f"Unknown numeric embedding {kind!r}; valid: {NUMERIC_EMBEDDINGS}.")
    if bins is None:
        raise ValueError("Piecewise-linear embeddings need the bin edges of each feature.")
    sizing = torch.empty(0).device.type == "meta"
    # The encoding's fixed weights are computed from the edges' values, which the meta device
    # does not hold: it is built on the CPU, also when the caller sizes a network on the meta
    # device (persistence's checks of a file, which bound the edges). There, the trainable
    # parameters (each of shape (..., d_embedding)) are built at d_embedding 1 and replaced by
    # meta tensors of their real shapes, so that nothing in proportion to d_embedding is
    # allocated.
    with torch.device("cpu"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ONE_BIN_WARNING)
        edges = [torch.as_tensor(np.asarray(b, dtype=np.float32)) for b in bins]
        embedding = rtdl.PiecewiseLinearEmbeddings(
            edges, 1 if sizing else d_embedding, activation=False, version="B"
        )
    if sizing:
        for layer in embedding.modules():
            for name, parameter in list(layer.named_parameters(recurse=False)):
                shape = (*parameter.shape[:-1], d_embedding)
                setattr(layer, name, nn.Parameter(torch.empty(shape, device="meta")))
    return embedding


class EmbeddingMLP(nn.Sequential):
    """A numeric embedding of each feature, flattened, then an :class:`~skdeep.modules.MLP`.

    Layers ``embedding`` (the package's module), ``flatten`` and ``mlp``. L1/L2 penalties
    (:func:`penalized_parameters`) apply to the MLP's weights only, so that ``l1`` and ``l2``
    given per layer mean what they mean without an embedding.

    Parameters
    ----------
    n_features : int
    n_outputs : int
    hidden_layer_sizes : sequence of int, default=(100,)
    numeric_embedding : {"periodic", "piecewise_linear"}, default="periodic"
    d_embedding : int or None, default=None
        Values per feature; None gives 24 (periodic) or 12 (piecewise-linear).
    bins : list of ndarray or None, default=None
        The edges of each feature (:func:`quantile_bins`), for ``"piecewise_linear"``.
    activation, dropout, batch_norm, kernel_initializer
        Of the MLP, as for :class:`~skdeep.modules.MLP`.

    Examples
    --------
    >>> net = EmbeddingMLP(3, 2, (8,), numeric_embedding="periodic", d_embedding=4)
    >>> net.mlp[0].in_features, tuple(net(torch.zeros(5, 3)).shape)
    (12, (5, 2))
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (100,),
        numeric_embedding: str = "periodic",
        d_embedding: int | None = None,
        bins: Sequence[np.ndarray] | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        kernel_initializer: str = "glorot_uniform",
    ) -> None:
        if d_embedding is None:
            d_embedding = DEFAULT_D_EMBEDDING[numeric_embedding]
        embedding = make_numeric_embedding(numeric_embedding, n_features, d_embedding, bins)
        mlp = MLP(
            n_features * d_embedding,
            n_outputs,
            hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            kernel_initializer=kernel_initializer,
        )
        super().__init__(OrderedDict(embedding=embedding, flatten=nn.Flatten(), mlp=mlp))

    def penalized_parameters(self) -> list[nn.Parameter]:
        """The weights L1/L2 penalties apply to: the MLP's, not the embedding's."""
        return penalized_parameters(self.mlp)


__all__ = [
    "DEFAULT_D_EMBEDDING",
    "NUMERIC_EMBEDDINGS",
    "EmbeddingMLP",
    "make_numeric_embedding",
    "quantile_bins",
]
