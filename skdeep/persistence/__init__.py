"""Saving a fitted estimator without pickle, and loading it back: :func:`save` and :func:`load`.

A saved file is a zip of JSON (parameters, fitted attributes, history) and torch tensors read
with ``weights_only=True``; a file that is not trusted is checked before anything is built
(``_untrusted_file``). This layer takes the estimator as an argument: it never imports the
estimator classes (the loadable ones are named in a fixed table and imported by name).
"""

from ._archive import FORMAT_VERSION, load, save

__all__ = ["FORMAT_VERSION", "load", "save"]
