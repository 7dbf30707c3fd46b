"""The dream core: objectives (what to maximise) and ascent (octaves, jitter, steps, tiles)."""

from .ascent import Dreamer, frame_rng, image_to_tensor, octave_sizes, resolve_device, tensor_to_image, tile_grid
from .objectives import (
    Objective,
    channel_energy,
    class_logit,
    guide_match,
    layer_energy,
    objective_from_settings,
)
from .projection import FLAT, GradientFn, Projection
from .build import make_dreamer

__all__ = [
    "FLAT",
    "Dreamer",
    "GradientFn",
    "Projection",
    "Objective",
    "channel_energy",
    "class_logit",
    "frame_rng",
    "guide_match",
    "image_to_tensor",
    "layer_energy",
    "make_dreamer",
    "objective_from_settings",
    "octave_sizes",
    "resolve_device",
    "tensor_to_image",
    "tile_grid",
]
