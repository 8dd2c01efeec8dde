"""The estimator core: the skorch net, the fit loop, the base of every skdeep estimator.

Used by :mod:`skdeep.estimators` and :mod:`skdeep.custom` (the public classes) and by the
layers above them (search, compare, studies). It imports the layers below it (callbacks,
persistence, onnx, freezing, modules, utils) and never the layers above.
"""

from ._augment import AUGMENTATION_PRESETS, check_augmentation, make_augmentation
from ._base import BaseNetwork, as_layer_sizes
from ._classifier import NetworkClassifier
from ._docstrings import fill_doc
from ._fast_loop import per_sample_loss
from ._module_builder import MODULE_PREFIX, build_module, check_output_shape
from ._net import CPU_PREDICT_BATCH_SIZE
from ._regressor import NetworkRegressor

__all__ = [
    "AUGMENTATION_PRESETS",
    "CPU_PREDICT_BATCH_SIZE",
    "MODULE_PREFIX",
    "BaseNetwork",
    "NetworkClassifier",
    "NetworkRegressor",
    "as_layer_sizes",
    "build_module",
    "check_augmentation",
    "check_output_shape",
    "fill_doc",
    "make_augmentation",
    "per_sample_loss",
]
