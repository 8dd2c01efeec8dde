"""Typed JSON: tuples, arrays with their dtype, non-string dict keys survive the round trip.

The encoding of :mod:`skdeep.persistence`'s ``skdeep.json``. :func:`decode` reads untrusted
text, so it builds only the types :func:`encode` writes, with bounded array elements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

MAX_ITEMSIZE = 4096  # bytes per array element: labels of up to 1024 characters


class NotEncodable(TypeError):
    pass


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, torch.Tensor):
        return encode(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise NotEncodable(f"an array of dtype {value.dtype}")
        dtype = "object" if value.dtype.kind == "O" else value.dtype.str
        return {
            "__ndarray__": [encode(v) for v in value.ravel().tolist()],
            "dtype": dtype,
            "shape": list(value.shape),
        }
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, np.random.RandomState):
        return {"__random_state__": encode(value.get_state())}
    raise NotEncodable(f"a {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        items = [decode(v) for v in value["__ndarray__"]]
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biufUO" or dtype.itemsize > MAX_ITEMSIZE:
            raise ValueError(f"an array of dtype {dtype}, which save never writes")
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.astype(dtype).reshape(value["shape"])
    if "__dict__" in value:
        return {_hashable(decode(k)): decode(v) for k, v in value["__dict__"]}
    if "__random_state__" in value:
        random_state = np.random.RandomState()
        random_state.set_state(decode(value["__random_state__"]))
        return random_state
    return {k: decode(v) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


__all__ = ["NotEncodable", "decode", "encode"]
