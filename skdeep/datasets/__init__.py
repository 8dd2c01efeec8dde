"""Real datasets for the examples and the course: MNIST, Fashion-MNIST, California housing, Adult.

Each loader reads local files (``SKDEEP_DATA`` or ``data_home``), checks them, and downloads
them only when asked (``download=True``). :data:`NAMED_DATASETS` is the catalogue that the
``skdeep`` command and ``skdeep tune`` accept by name.
"""

from ._catalogue import DOWNLOADABLE, IMAGE_DATASETS, NAMED_DATASETS, subsample
from ._loaders import (
    get_data_home,
    load_adult,
    load_california_housing,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "DOWNLOADABLE",
    "IMAGE_DATASETS",
    "NAMED_DATASETS",
    "get_data_home",
    "load_adult",
    "load_california_housing",
    "load_fashion_mnist",
    "load_mnist",
    "subsample",
]
