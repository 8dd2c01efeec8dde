"""Denormal floats flushed to zero while a CPU fit trains (:func:`flushed_denormals`).

Adam's running means of the gradients decay by ``beta1`` at every step in which a weight's
gradient is zero (the weights of an image's always-blank border pixels, a dead ReLU unit), and
within an epoch they fall below float32's smallest normal number (about 1.2e-38). x86 CPUs
compute with such denormal numbers many times slower than with normal ones: on MNIST, 2 to 6 %
of an MLP's first-layer state is denormal after one epoch, and flushing them makes the epochs
of a 1-thread fit 9 to 14 % shorter (``docs/performance.md``). A flushed value becomes 0, a change
below 1.2e-38 that training does not notice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# A float32 denormal: it survives arithmetic only when denormals are not flushed.
_DENORMAL = 1e-39


def denormals_flushed() -> bool:
    """Whether the calling thread flushes denormal floats to zero now.

    Examples
    --------
    >>> with flushed_denormals():
    ...     denormals_flushed()
    True
    """
    return torch.tensor([_DENORMAL]).mul_(1.0).item() == 0.0


@contextmanager
def flushed_denormals(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with denormal floats flushed to zero on a CPU, then restore the state.

    torch's switch (:func:`torch.set_flush_denormal`) acts on the calling thread, where a fit
    at one thread computes everything; it does nothing on a GPU, nor on a CPU without the
    instructions (then the block runs unchanged).

    Examples
    --------
    >>> before = denormals_flushed()
    >>> with flushed_denormals():
    ...     torch.tensor([1e-39]).mul_(1.0).item()
    0.0
    >>> denormals_flushed() == before
    True
    """
    if (
        torch.device(device).type != "cpu"
        or denormals_flushed()
        or not torch.set_flush_denormal(True)
    ):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
