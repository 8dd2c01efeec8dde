"""PyTorch modules behind the estimators, and the builders that pick layers by name.

Pure torch: nothing here knows about scikit-learn or skorch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


def _glorot_uniform(w: torch.Tensor) -> None:
    nn.init.xavier_uniform_(w)


def _glorot_normal(w: torch.Tensor) -> None:
    nn.init.xavier_normal_(w)


def _he_uniform(w: torch.Tensor) -> None:
    nn.init.kaiming_uniform_(w, nonlinearity="relu")


def _he_normal(w: torch.Tensor) -> None:
    nn.init.kaiming_normal_(w, nonlinearity="relu")


def _random_uniform(w: torch.Tensor) -> None:
    # Keras' RandomUniform defaults.
    nn.init.uniform_(w, -0.05, 0.05)


def _random_normal(w: torch.Tensor) -> None:
    # Keras' RandomNormal defaults.
    nn.init.normal_(w, 0.0, 0.05)


INITIALIZERS: dict[str, Callable[[torch.Tensor], None] | None] = {
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "random_uniform": _random_uniform,
    "random_normal": _random_normal,
    "default": None,
}


# Activations with a parameter, written as a call: "leaky_relu(0.2)" (torch's negative_slope,
# 0.01 by default), "elu(0.5)" (alpha, 1.0 by default).
_PARAMETRIC = {"leaky_relu", "elu"}
_CALL = re.compile(r"(?P<name>[a-z_]+)\((?P<argument>[^()]*)\)")


def make_activation(name: str) -> nn.Module:
    """Return a new activation layer for ``name``.

    Parameters
    ----------
    name : str
        One of ``ACTIVATIONS``; ``"leaky_relu(0.2)"`` sets leaky ReLU's negative slope and
        ``"elu(0.5)"`` ELU's alpha.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> make_activation("tanh"), make_activation("leaky_relu(0.2)")
    (Tanh(), LeakyReLU(negative_slope=0.2))
    """
    call = _CALL.fullmatch(name) if isinstance(name, str) else None
    if call and call["name"] in _PARAMETRIC:
        try:
            argument = float(call["argument"])
        except ValueError:
            argument = math.nan
        if math.isfinite(argument) and argument >= 0:
            return ACTIVATIONS[call["name"]](argument)
    elif isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS[name]()
    raise ValueError(
        f"Unknown activation {name!r}; valid names are {sorted(ACTIVATIONS)}, and "
        "'leaky_relu(slope)' or 'elu(alpha)' with a number >= 0."
    )


def initialize_weights(module: nn.Module, kernel_initializer: str) -> None:
    """Initialise the weights of every linear and convolutional layer in place.

    Weights follow ``kernel_initializer`` and biases are set to zero, as in Keras.
    ``"default"`` keeps PyTorch's own initialisation of both.

    Parameters
    ----------
    module : torch.nn.Module
    kernel_initializer : str
        One of ``INITIALIZERS``.

    Examples
    --------
    >>> layer = nn.Linear(3, 2)
    >>> initialize_weights(layer, "glorot_uniform")
    >>> float(layer.bias.detach().abs().sum())
    0.0
    """
    if kernel_initializer not in INITIALIZERS:
        raise ValueError(
            f"Unknown kernel_initializer {kernel_initializer!r}; "
            f"valid names are {sorted(INITIALIZERS)}."
        )
    init = INITIALIZERS[kernel_initializer]
    if init is None:
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            init(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _dense_block(
    n_in: int, n_out: int, activation: str, dropout: float, batch_norm: bool
) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(make_activation(activation))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


class MLP(nn.Sequential):
    """A fully connected network: ``Linear -> [BatchNorm] -> activation -> [Dropout]`` per layer.

    Parameters
    ----------
    n_features : int
        Width of the input.
    n_outputs : int
        Width of the output layer (classes, or regression targets).
    hidden_layer_sizes : sequence of int, default=(100,)
        One entry per hidden layer; empty for a linear (softmax) model.
    activation : str, default="relu"
    dropout : float, default=0.0
    batch_norm : bool, default=False
    kernel_initializer : str, default="glorot_uniform"

    Examples
    --------
    >>> net = MLP(784, 10, (128,))
    >>> sum(p.numel() for p in net.parameters())
    101770
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        kernel_initializer: str = "glorot_uniform",
    ) -> None:
        layers: list[nn.Module] = []
        n_in = n_features
        for width in hidden_layer_sizes:
            layers += _dense_block(n_in, width, activation, dropout, batch_norm)
            n_in = width
        layers.append(nn.Linear(n_in, n_outputs))
        super().__init__(*layers)
        initialize_weights(self, kernel_initializer)


def _conv_output_size(size: int, kernel: int, padding: str) -> int:
    return size if padding == "same" else size - kernel + 1


class CNN(nn.Module):
    """A LeNet-5 style network: convolution blocks, then dense blocks, then the output layer.

    Each convolution block is ``Conv2d -> [BatchNorm2d] -> activation -> MaxPool2d``. Pooling
    only shrinks an axis that is at least ``pool_size`` long, so a one-row "image" (a 1-D
    signal) still works.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one sample.
    n_outputs : int
    filters : sequence of int, default=(6, 16)
    kernel_sizes : sequence of int, default=(5, 5)
        One per entry of ``filters``.
    pool_size : int, default=2
    padding : {"same", "valid"}, default="same"
    dense_units : sequence of int, default=(120, 84)
    activation, dropout, batch_norm, kernel_initializer
        As for :class:`MLP`; dropout applies to the dense blocks.

    Examples
    --------
    >>> net = CNN((1, 28, 28), 10, padding="valid")
    >>> sum(p.numel() for p in net.parameters())
    44426
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        n_outputs: int,
        filters: Sequence[int] = (6, 16),
        kernel_sizes: Sequence[int] = (5, 5),
        pool_size: int = 2,
        padding: str = "same",
        dense_units: Sequence[int] = (120, 84),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        kernel_initializer: str = "glorot_uniform",
    ) -> None:
        super().__init__()
        if len(filters) != len(kernel_sizes):
            raise ValueError(
                f"filters and kernel_sizes must have the same length, got {len(filters)} "
                f"and {len(kernel_sizes)}."
            )
        channels, height, width = input_shape
        conv_layers: list[nn.Module] = []
        for n_filters, kernel in zip(filters, kernel_sizes, strict=True):
            new_height = _conv_output_size(height, kernel, padding)
            new_width = _conv_output_size(width, kernel, padding)
            if new_height < 1 or new_width < 1:
                raise ValueError(
                    f"A {height}x{width} input is too small for a {kernel}x{kernel} convolution "
                    f"with padding={padding!r}; use padding='same' or smaller kernel_sizes."
                )
            conv_layers.append(nn.Conv2d(channels, n_filters, kernel, padding=padding))
            if batch_norm:
                conv_layers.append(nn.BatchNorm2d(n_filters))
            conv_layers.append(make_activation(activation))
            pool = (
                pool_size if new_height >= pool_size else 1,
                pool_size if new_width >= pool_size else 1,
            )
            conv_layers.append(nn.MaxPool2d(pool))
            channels, height, width = n_filters, new_height // pool[0], new_width // pool[1]
        self.features = nn.Sequential(*conv_layers)
        self.classifier = MLP(
            channels * height * width,
            n_outputs,
            dense_units,
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            kernel_initializer=kernel_initializer,
        )
        self.classifier.insert(0, nn.Flatten())
        initialize_weights(self, kernel_initializer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Count the parameters of ``module``.

    Parameters
    ----------
    module : torch.nn.Module
    trainable_only : bool, default=False
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int

    Examples
    --------
    >>> count_params(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def layer_table(module: nn.Module, example: torch.Tensor) -> list[tuple[str, str, tuple, int]]:
    """Run ``example`` through ``module`` and list its leaf layers in call order.

    Parameters
    ----------
    module : torch.nn.Module
    example : torch.Tensor
        One batch of input (its first axis is shown as ``None``).

    Returns
    -------
    list of (name, layer type, output shape, parameter count)

    Examples
    --------
    >>> layer_table(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), torch.zeros(1, 3))
    [('0', 'Linear', (None, 2), 8), ('1', 'ReLU', (None, 2), 0)]
    """
    rows: list[tuple[str, str, tuple, int]] = []
    hooks = []
    for name, layer in module.named_modules():
        if name and not list(layer.children()):

            def record(layer: nn.Module, _inputs, output, name: str = name) -> None:
                shape = (None, *output.shape[1:])
                rows.append((name, type(layer).__name__, shape, count_params(layer)))

            hooks.append(layer.register_forward_hook(record))
    was_training = module.training
    try:
        module.eval()
        with torch.inference_mode():
            module(example)
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    return rows


def penalized_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Return the weights that L1/L2 penalties apply to: matrices and kernels, not biases or norms.

    A module with a ``penalized_parameters`` method of its own (an MLP behind a numeric
    embedding, whose embedding is not penalised) says which they are.

    Examples
    --------
    >>> [tuple(p.shape) for p in penalized_parameters(MLP(3, 2, (4,)))]
    [(4, 3), (2, 4)]
    """
    own = getattr(module, "penalized_parameters", None)
    if callable(own):
        return list(own())
    return [p for p in module.parameters() if p.dim() > 1]


def per_layer(name: str, value, n_layers: int) -> list[float]:
    """A penalty given as one float or one value per weight layer, as a list of ``n_layers``.

    Examples
    --------
    >>> per_layer("l2", 0.1, 3), per_layer("l2", (0.1, 0.0, 0.2), 3)
    ([0.1, 0.1, 0.1], [0.1, 0.0, 0.2])
    """
    if isinstance(value, (int, float)):
        return [float(value)] * n_layers
    values = [float(v) for v in value]
    if len(values) != n_layers:
        raise ValueError(
            f"{name} has {len(values)} values, but the network has {n_layers} weight layers; "
            f"give one float, or {n_layers} values: one per weight layer (convolutions and "
            "hidden layers in order, then the output layer)."
        )
    return values


def weight_penalty(params: Sequence[torch.Tensor], l1, l2) -> torch.Tensor:
    """Return ``sum_k l1_k * sum|w_k| + l2_k / 2 * sum w_k**2`` over the weights ``params``.

    ``l1`` and ``l2`` are floats (the same for every layer) or one value per entry of
    ``params``.

    Examples
    --------
    >>> float(weight_penalty([torch.tensor([[1.0, -2.0]])], l1=0.5, l2=1.0))
    4.0
    >>> w = [torch.ones(2, 2), torch.ones(1, 2)]
    >>> float(weight_penalty(w, l1=0.0, l2=(0.0, 2.0)))  # only the second layer: 2/2 * 2
    2.0
    """
    total = torch.zeros((), device=params[0].device) if params else torch.zeros(())
    l1s, l2s = per_layer("l1", l1, len(params)), per_layer("l2", l2, len(params))
    for p, l1_k, l2_k in zip(params, l1s, l2s, strict=True):
        if l1_k:
            total = total + l1_k * p.abs().sum()
        if l2_k:
            total = total + (l2_k / 2) * p.pow(2).sum()
    return total


__all__ = [
    "ACTIVATIONS",
    "CNN",
    "INITIALIZERS",
    "MLP",
    "count_params",
    "initialize_weights",
    "layer_table",
    "make_activation",
    "penalized_parameters",
    "per_layer",
    "weight_penalty",
]
