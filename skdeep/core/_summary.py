"""The Keras-like table returned by ``summary()``."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ModelSummary:
    """Layers of a network with their output shapes and parameter counts.

    Parameters
    ----------
    rows : list of (name, layer type, output shape, parameter count)
    total_params : int
    model_name : str

    Examples
    --------
    >>> s = ModelSummary([("0", "Linear", (None, 2), 8)], 8, "MLP")
    >>> print(s)
    Model: MLP
    Layer (type)   Output shape   Param #
    -------------------------------------
    0 (Linear)     (None, 2)            8
    -------------------------------------
    Total params: 8
    """

    rows: list
    total_params: int
    model_name: str = "model"

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame with columns layer, type, output_shape, params."""
        return pd.DataFrame(self.rows, columns=["layer", "type", "output_shape", "params"])

    def __str__(self) -> str:
        header = ("Layer (type)", "Output shape", "Param #")
        body = [(f"{name} ({kind})", str(shape), f"{n:,}") for name, kind, shape, n in self.rows]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(3)]
        line = lambda r: f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:>{widths[2]}}"  # noqa: E731
        rule = "-" * (sum(widths) + 6)
        return "\n".join(
            [
                f"Model: {self.model_name}",
                line(header),
                rule,
                *map(line, body),
                rule,
                f"Total params: {self.total_params:,}",
            ]
        )

    __repr__ = __str__
