"""Build a ``Dreamer`` from settings: the model, the objective (with its guide image) and the projection."""

from __future__ import annotations

from ..config import DreamSettings, parse_fast
from ..io import read_image
from ..models import load_model
from ..schedule import settings_at
from .ascent import Dreamer, channels_last, image_to_tensor, resolve_device
from .objectives import objective_from_settings, settings_layers
from .projection import FLAT, Projection

__all__ = ["make_dreamer"]


def make_dreamer(settings: DreamSettings, *, grey: bool = False, projection: Projection = FLAT) -> Dreamer:
    """Load the model, build the objective (reading the guide image if any) and a Dreamer.

    ``grey`` keeps grey input grey while dreaming; ``projection`` says what the
    picture is (``FLAT``, or a panorama's, from ``panorama.projection_for``).

    Raises:
        ConfigError, ModelError, MediaError: bad settings, model, layer or guide image.
    """
    settings = settings_at(settings)  # scheduled values at the first frame (a run changes them per frame)
    device = resolve_device(settings.device)
    model = load_model(settings.model, weights=settings.weights, device=device)
    model.fold_batch_norms(keep=[name for name, _ in settings_layers(settings, model)])
    fast = parse_fast(settings.fast) if settings.fast else frozenset()
    if channels_last(fast, device):
        import torch

        model.network = model.network.to(memory_format=torch.channels_last)
    guide = None
    if settings.guide is not None:
        guide = image_to_tensor(read_image(settings.guide).rgb, device)
    objective = objective_from_settings(settings, model, guide_image=guide)
    return Dreamer(model, objective, settings, grey=grey, projection=projection)
