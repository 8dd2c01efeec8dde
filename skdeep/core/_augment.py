"""Augmentation of training images: a random shift, rotation and scaling per image and batch.

The estimators' ``augmentation`` parameter. :func:`check_augmentation` turns its value (None,
a preset's name or a dict) into the ranges of the three transforms, refusing anything else
with a ``ValueError`` that names the parameter; :class:`RandomAffine` applies them to a batch
of images on its device. :class:`skdeep.core._net.SkdeepNet` calls it on the features of each
training batch, after the batch is gathered and before the forward pass, and never when
validating or predicting.

Each image of each batch gets its own transform, drawn from torch's default generator on the
batch's device, which a fit seeds from ``random_state``: the same seed gives the same fit, and
every epoch sees new versions of the images. The warp is torch's own batched spatial
transformer (``affine_grid`` and ``grid_sample``, bilinear, zeros outside the image), about
the image's centre. ``docs/callbacks.md`` says why it is not kornia's or torchvision's, with
the measured costs (``benchmarks/augmentation_cost.py``).
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F

# The ranges of the transforms: shift in pixels (each axis), rotation in degrees, scale as a
# fraction (a factor drawn in [1 - scale, 1 + scale]).
AUGMENTATION_KEYS = ("shift", "rotation", "scale")
_LIMITS = {"shift": None, "rotation": 180.0, "scale": 1.0}
# The classic ranges for 28x28 digits (MNIST): 2 pixels, 10 degrees, 10 %.
AUGMENTATION_PRESETS: dict[str, dict[str, float]] = {
    "standard": {"shift": 2.0, "rotation": 10.0, "scale": 0.1},
}


def check_augmentation(value, name: str = "augmentation") -> dict[str, float] | None:
    """The ranges ``value`` asks for, as floats under every key; None when it asks for none.

    Parameters
    ----------
    value : None, str or dict
        None (off), the name of a preset, or a dict with any of the keys ``"shift"``
        (pixels, >= 0), ``"rotation"`` (degrees, in [0, 180]) and ``"scale"`` (a fraction in
        [0, 1)); a missing key is 0. All zero is off.
    name : str, default="augmentation"
        The parameter's name, for the error messages.

    Returns
    -------
    dict or None

    Raises
    ------
    ValueError
        For an unknown preset or key, or a value outside its range.

    Examples
    --------
    >>> check_augmentation({"rotation": 15})
    {'shift': 0.0, 'rotation': 15.0, 'scale': 0.0}
    >>> check_augmentation("standard")
    {'shift': 2.0, 'rotation': 10.0, 'scale': 0.1}
    >>> check_augmentation({"shift": 0}) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value not in AUGMENTATION_PRESETS:
            raise ValueError(
                f"{name}={value!r} is not a preset; the presets are "
                f"{sorted(AUGMENTATION_PRESETS)}, or give a dict with keys "
                f"{list(AUGMENTATION_KEYS)}."
            )
        value = AUGMENTATION_PRESETS[value]
    if not isinstance(value, dict):
        raise ValueError(
            f"{name} must be None, a preset name ({sorted(AUGMENTATION_PRESETS)}) or a dict "
            f"with keys {list(AUGMENTATION_KEYS)}, got {type(value).__name__} {value!r}."
        )
    unknown = sorted(str(key) for key in value if key not in AUGMENTATION_KEYS)
    if unknown:
        raise ValueError(
            f"{name} has unknown keys {unknown}; the keys are {list(AUGMENTATION_KEYS)} "
            "(shift in pixels, rotation in degrees, scale as a fraction)."
        )
    ranges = {}
    for key in AUGMENTATION_KEYS:
        amount = value.get(key, 0.0)
        limit = _LIMITS[key]
        valid = isinstance(amount, Real) and not isinstance(amount, bool)
        valid = valid and math.isfinite(amount) and amount >= 0
        if valid and limit is not None:
            valid = amount <= limit if key == "rotation" else amount < limit
        if not valid:
            bound = {
                "shift": "a number of pixels >= 0",
                "rotation": "a number of degrees in [0, 180]",
                "scale": "a fraction in [0, 1)",
            }[key]
            raise ValueError(f"{name}[{key!r}] must be {bound}, got {amount!r}.")
        ranges[key] = float(amount)
    return ranges if any(ranges.values()) else None


class RandomAffine:
    """A random shift, rotation and scaling of each image of a batch, about its centre.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one image. Batches may come as images
        ``(n, channels, height, width)`` or flat rows ``(n, channels * height * width)``; they
        are returned in the layout they came in.
    shift : float, default=0.0
        Largest shift, in pixels, along each axis (drawn uniformly in ``[-shift, shift]``).
    rotation : float, default=0.0
        Largest rotation, in degrees (uniform in ``[-rotation, rotation]``).
    scale : float, default=0.0
        Largest relative change of size (a factor uniform in ``[1 - scale, 1 + scale]``).

    Examples
    --------
    >>> augment = RandomAffine((1, 8, 8), shift=2.0, rotation=10.0)
    >>> images = torch.rand(4, 64)
    >>> augmented = augment(images)
    >>> augmented.shape, bool((augmented != images).any())
    (torch.Size([4, 64]), True)
    >>> RandomAffine((1, 5, 5), shift=1.0).describe()
    'RandomAffine(shift=1.0, rotation=0.0, scale=0.0) of (1, 5, 5) images'
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        shift: float = 0.0,
        rotation: float = 0.0,
        scale: float = 0.0,
    ) -> None:
        self.image_shape = tuple(int(v) for v in image_shape)
        self.shift = float(shift)
        self.rotation = float(rotation)
        self.scale = float(scale)

    def describe(self) -> str:
        """One line: the ranges and the image shape."""
        return (
            f"RandomAffine(shift={self.shift}, rotation={self.rotation}, scale={self.scale}) "
            f"of {self.image_shape} images"
        )

    def __repr__(self) -> str:
        return self.describe()

    def matrices(self, n: int, device, dtype=torch.float32) -> torch.Tensor:
        """``n`` random ``affine_grid`` matrices, drawn from torch's generator on ``device``."""
        return self.matrices_of(torch.rand(n, 4, device=device, dtype=dtype) * 2 - 1)

    def matrices_of(self, u: torch.Tensor) -> torch.Tensor:
        """The ``affine_grid`` matrices (output to input, normalised coordinates) of draws ``u``.

        ``u`` has shape ``(n, 4)``, values in [-1, 1]: the fractions of the largest rotation
        (positive: clockwise on the screen, rows going down), of the largest change of size,
        and of the largest shift along the width (positive: right) and the height (down).
        Returns shape ``(n, 2, 3)``.
        """
        _, height, width = self.image_shape
        angle = u[:, 0] * math.radians(self.rotation)
        factor = 1 + u[:, 1] * self.scale
        # A shift of p pixels is 2p / size in normalised coordinates (align_corners=False).
        tx = u[:, 2] * (2 * self.shift / width)
        ty = u[:, 3] * (2 * self.shift / height)
        # Each output pixel reads the input at the inverse transform, R(-angle) / factor after
        # removing the shift, computed in pixels and carried into the normalised coordinates
        # of each axis (which differ when the image is not square).
        cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
        aspect = height / width
        sin_x, sin_y = sin * aspect, sin / aspect
        rows = (cos, sin_x, -(cos * tx + sin_x * ty), -sin_y, cos, sin_y * tx - cos * ty)
        return torch.stack(rows, dim=1).view(-1, 2, 3)

    def _base_grid(self, device, dtype) -> torch.Tensor:
        """``affine_grid``'s identity grid, ``(height * width, 3)``: each pixel's (x, y, 1).

        Kept between batches: ``affine_grid`` builds it anew at every call.
        """
        cached = self.__dict__.get("_grid")
        if cached is None or cached.device != torch.device(device) or cached.dtype != dtype:
            _, height, width = self.image_shape
            xs = (torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1
            ys = (torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1
            grid = torch.ones(height, width, 3, device=device, dtype=dtype)
            grid[..., 0] = xs
            grid[..., 1] = ys[:, None]
            cached = self._grid = grid.reshape(-1, 3)
        return cached

    def warp(self, X: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """``X`` (images or flat rows) warped by the matrices ``theta``, in its own layout.

        The sampling grid is ``affine_grid(theta, align_corners=False)``'s, computed from a
        kept identity grid; the warp is ``grid_sample``'s (bilinear, zeros outside).
        """
        channels, height, width = self.image_shape
        images = X.reshape(len(X), channels, height, width)
        grid = torch.matmul(self._base_grid(X.device, X.dtype), theta.transpose(1, 2))
        warped = F.grid_sample(
            images,
            grid.view(len(X), height, width, 2),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        return warped.reshape(X.shape)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.warp(X, self.matrices(len(X), X.device, X.dtype))


def make_augmentation(value, image_shape, name: str = "augmentation") -> RandomAffine | None:
    """The :class:`RandomAffine` of the parameter ``value`` for images of ``image_shape``.

    None when ``value`` asks for no augmentation; a ``ValueError`` naming ``name`` for a value
    :func:`check_augmentation` refuses.

    Examples
    --------
    >>> make_augmentation({"shift": 1}, (1, 8, 8))
    RandomAffine(shift=1.0, rotation=0.0, scale=0.0) of (1, 8, 8) images
    """
    ranges = check_augmentation(value, name)
    return None if ranges is None else RandomAffine(tuple(image_shape), **ranges)
