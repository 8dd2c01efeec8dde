"""The torch module of one fit, made from the ``module`` parameter of a custom-module estimator.

torch only, no estimator: :func:`build_module` instantiates, copies or calls what the user gave,
and :func:`check_output_shape` runs two zero samples through the result before training.
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

MODULE_PREFIX = "module__"
_SIZE_NAMES = ("n_features_in", "n_outputs")


def _is_module_class(module) -> bool:
    return isinstance(module, type) and issubclass(module, nn.Module)


def _check_keywords(builder, keywords: dict) -> None:
    """Refuse ``module__`` names that ``builder`` does not take, before calling it."""
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(keywords) - set(parameters))
    if unknown:
        accepted = [name for name in parameters if name not in ("self", "args")]
        raise TypeError(
            f"{getattr(builder, '__name__', builder)!s} takes no parameter "
            f"{', '.join(unknown)}, given as {', '.join(MODULE_PREFIX + n for n in unknown)}; "
            f"its parameters are {accepted}."
        )


def build_module(module, module_params: dict, n_features_in: int, n_outputs: int) -> nn.Module:
    """Make the torch module that one fit trains, from the ``module`` parameter.

    - an ``nn.Module`` instance is deep-copied: its current weights are the starting point,
      and the instance itself is never changed, so every fit starts from the same weights;
    - an ``nn.Module`` subclass is instantiated with ``module_params`` as keywords, plus
      ``n_features_in`` and ``n_outputs`` when its ``__init__`` names them (and
      ``module_params`` does not set them), so that it can size itself from the data;
    - any other callable is a builder, called as
      ``module(n_features_in, n_outputs, **module_params)``.

    Parameters
    ----------
    module : nn.Module, nn.Module subclass or callable
    module_params : dict
        Keyword arguments, without the ``module__`` prefix.
    n_features_in : int
        Features of the data (``X.shape[1]``).
    n_outputs : int
        Outputs the network must have: classes for a classifier, targets for a regressor.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> build_module(nn.Linear, {"in_features": 3, "out_features": 2}, 3, 2)
    Linear(in_features=3, out_features=2, bias=True)
    >>> build_module(lambda n_in, n_out: nn.Linear(n_in, n_out), {}, 5, 1)
    Linear(in_features=5, out_features=1, bias=True)
    """
    if isinstance(module, nn.Module):
        if module_params:
            raise ValueError(
                f"module is an instance of {type(module).__name__}, so the parameters "
                f"{sorted(MODULE_PREFIX + k for k in module_params)} have nothing to configure; "
                "pass the module class instead, or drop them."
            )
        return copy.deepcopy(module)
    if _is_module_class(module):
        accepted = inspect.signature(module).parameters
        sizes = {
            name: value
            for name, value in zip(_SIZE_NAMES, (n_features_in, n_outputs), strict=True)
            if name in accepted and name not in module_params
        }
        _check_keywords(module, module_params)
        built = module(**sizes, **module_params)
    else:
        _check_keywords(module, module_params)
        built = module(n_features_in, n_outputs, **module_params)
    if not isinstance(built, nn.Module):
        raise TypeError(
            f"The module builder {getattr(module, '__name__', module)!s} returned a "
            f"{type(built).__name__}, not a torch.nn.Module."
        )
    return built


def check_output_shape(module: nn.Module, sample_shape: tuple, n_outputs: int, what: str):
    """Run two zero samples through ``module``; check it gives ``n_outputs`` floats for each."""
    first = next(module.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            output = module(torch.zeros((2, *sample_shape), device=device))
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(
            f"The module cannot take samples of shape {sample_shape} (X.shape[1:]): "
            f"{type(error).__name__}: {error}. Give X the shape its first layer expects, or "
            "start the module with the layer that takes it (nn.Flatten() for flat layers)."
        ) from None
    finally:
        module.train(was_training)
    shape = tuple(getattr(output, "shape", ()))
    if shape != (2, n_outputs):
        raise ValueError(
            f"The module gives outputs of shape {shape} for 2 samples of shape {sample_shape}, "
            f"but this estimator needs (2, {n_outputs}): one column per {what}. Size its last "
            "layer from n_outputs (see docs/custom_networks.md)."
        )
    if not output.is_floating_point():
        raise ValueError(
            f"The module gives outputs of dtype {output.dtype}, but the loss needs "
            "floating-point outputs (a classifier's logits, a regressor's values). Return the "
            "last layer's output as it is, not rounded, cast to an integer or arg-maxed."
        )
