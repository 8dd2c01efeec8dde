"""The ``skdeep`` command: ``skdeep compare``, ``skdeep study`` and ``skdeep tune``.

``main`` is the console script. The parser (``_main``) and its option converters (``_options``)
import neither torch nor scikit-learn's estimators, so that ``--help``, ``--version`` and
refusals of bad options come back at once; the data of a command is read by ``_data``.
"""

from ._data import Dataset, load_dataset
from ._main import build_parser, main

__all__ = ["Dataset", "build_parser", "load_dataset", "main"]
