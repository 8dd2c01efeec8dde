"""The variants of each study: one function a study, named after it, that lists its settings.

Each function takes ``(n_features, n_classes)``, so that a variant can size itself from the
data, and returns the study's :class:`Variant` list in the order of its table.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Variant:
    """One setting of a study: a label, the network's parameters, and which network."""

    label: str
    params: dict
    network: str = "mlp"


SGD = {"optimizer": "sgd", "momentum": 0.0}
ADAM = {"optimizer": "adam", "learning_rate": 1e-3}
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
INITIALIZERS = ("he_normal", "glorot_normal", "random_normal")


def _cnn(label: str, **params) -> Variant:
    return Variant(label, params, "cnn")


def _dense_params(sizes: tuple[int, ...]) -> int:
    # Weights and biases of fully connected layers through ``sizes``; counted without torch,
    # so that listing the studies stays instant.
    return sum((n_in + 1) * n_out for n_in, n_out in pairwise(sizes))


def depth(n_features: int, n_classes: int) -> list[Variant]:
    variants = [Variant(f"{d} x 64", {"hidden_layer_sizes": (64,) * d}) for d in range(6)]
    deepest = _dense_params((n_features, *(64,) * 5, n_classes))
    # The one-hidden-layer width with about as many parameters as the deepest net.
    width = round((deepest - n_classes) / (n_features + 1 + n_classes))
    variants.append(Variant("1 x same size as 5 x 64", {"hidden_layer_sizes": (width,)}))
    return variants


def width(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant(f"{w} units", {"hidden_layer_sizes": (w,)}) for w in (16, 32, 64, 128, 256, 512)
    ]


def init(n_features: int, n_classes: int) -> list[Variant]:
    sgd = [
        Variant(f"SGD {act} / {init}", {"activation": act, "kernel_initializer": init})
        for act in ("relu", "tanh")
        for init in INITIALIZERS
    ]
    adam = [
        Variant(f"Adam relu / {init}", {"kernel_initializer": init, **ADAM})
        for init in INITIALIZERS
    ]
    return sgd + adam


def activation(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant(
            f"{act}, {depth} layer{'s' if depth > 1 else ''}",
            {"activation": act, "hidden_layer_sizes": (64,) * depth},
        )
        for depth in (1, 3, 6)
        for act in ACTIVATIONS
    ]


def batch_norm(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant(
            f"{optimizer} {act}{' + batch norm' if norm else ''}",
            {"activation": act, "batch_norm": norm, **(SGD if optimizer == "SGD" else ADAM)},
        )
        for optimizer, act in (("SGD", "sigmoid"), ("SGD", "relu"), ("Adam", "sigmoid"))
        for norm in (False, True)
    ]


def regularization(n_features: int, n_classes: int) -> list[Variant]:
    return (
        [Variant("none", {})]
        + [Variant(f"L1 {s:g}", {"l1": s}) for s in (1e-5, 1e-4)]
        + [Variant(f"L2 {s:g}", {"l2": s}) for s in (1e-4, 1e-3, 1e-2)]
        + [Variant(f"dropout {r:g}", {"dropout": r}) for r in (0.2, 0.5)]
    )


def dropout(n_features: int, n_classes: int) -> list[Variant]:
    return [Variant(f"dropout {r:g}", {"dropout": r}) for r in (0.0, 0.1, 0.2, 0.5)]


def epochs(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant("40 epochs", {}),
        Variant("40 epochs, dropout 0.5", {"dropout": 0.5}),
        Variant("early stopping (patience 5)", {"early_stopping": True, "n_iter_no_change": 5}),
    ]


def learning_rate(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant(f"lr {lr:g}", {"learning_rate": lr}) for lr in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    ]


def lr_schedule(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant("constant", {}),
        Variant("exponential decay", {"lr_schedule": "exponential"}),
        Variant("cyclic", {"lr_schedule": "cyclic"}),
    ]


def batch_size(n_features: int, n_classes: int) -> list[Variant]:
    variants = [Variant(f"batch {b}", {"batch_size": b}) for b in (16, 64, 256, 1024)]
    variants += [
        Variant(f"batch 1024 + {rule} lr", {"batch_size": 1024, "batch_size_scaling": rule})
        for rule in ("sqrt", "linear")
    ]
    return variants


def optimizer(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant("sgd", {**SGD, "learning_rate": 1e-2}),
        Variant("sgd + momentum", {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 1e-2}),
        Variant("rmsprop", {"optimizer": "rmsprop", "momentum": 0.0, "learning_rate": 1e-3}),
        Variant("adam", {**ADAM}),
        Variant("nadam", {"optimizer": "nadam", "learning_rate": 2e-3}),
    ]


def cnn_architecture(n_features: int, n_classes: int) -> list[Variant]:
    return [
        _cnn("LeNet-5 (6, 16) 5x5"),
        _cnn("(6, 16) 3x3", kernel_sizes=(3, 3)),
        _cnn("(16, 32) 3x3", filters=(16, 32), kernel_sizes=(3, 3)),
        _cnn("(32, 64) 3x3", filters=(32, 64), kernel_sizes=(3, 3)),
        _cnn("one block (32,) 5x5", filters=(32,), kernel_sizes=(5,)),
    ]


def architecture(n_features: int, n_classes: int) -> list[Variant]:
    return [
        Variant("perceptron (no hidden layer)", {"hidden_layer_sizes": ()}),
        Variant("shallow MLP 1 x 128", {"hidden_layer_sizes": (128,)}),
        Variant("deep MLP 4 x 128", {"hidden_layer_sizes": (128,) * 4}),
        Variant("LeNet-5", {"padding": "valid" if n_features == 28 * 28 else "same"}, "cnn"),
    ]
