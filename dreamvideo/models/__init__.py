"""The model registry: name → architecture, weights source, preprocessing, layer taps.

    >>> model = load_model("efficientnet-lite0")
    >>> acts = model.activations(x, ["blocks.10"])   # x: (B, 3, H, W) RGB in [0, 1]
"""

from .dream_model import DreamModel, load_model
from .registry import DEFAULT_MODEL, ModelSpec, get_spec, imagenet_class, layer_names, list_models, weights_status
from .weights import WeightsSource, WeightsStatus

__all__ = [
    "DEFAULT_MODEL",
    "DreamModel",
    "ModelSpec",
    "WeightsSource",
    "WeightsStatus",
    "get_spec",
    "imagenet_class",
    "layer_names",
    "list_models",
    "load_model",
    "weights_status",
]
