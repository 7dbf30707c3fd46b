"""Build a ``Dreamer`` from settings: the model, the objective (with its guide image) and the projection."""

from __future__ import annotations

from ..config import DreamSettings
from ..io import read_image
from ..models import load_model
from .ascent import Dreamer, image_to_tensor, resolve_device
from .objectives import objective_from_settings
from .projection import FLAT, Projection

__all__ = ["make_dreamer"]


def make_dreamer(settings: DreamSettings, *, grey: bool = False, projection: Projection = FLAT) -> Dreamer:
    """Load the model, build the objective (reading the guide image if any) and a Dreamer.

    ``grey`` keeps grey input grey while dreaming; ``projection`` says what the
    picture is (``FLAT``, or a panorama's, from ``panorama.projection_for``).

    Raises:
        ConfigError, ModelError, MediaError: bad settings, model, layer or guide image.
    """
    device = resolve_device(settings.device)
    model = load_model(settings.model, weights=settings.weights, device=device)
    guide = None
    if settings.guide is not None:
        guide = image_to_tensor(read_image(settings.guide).rgb, device)
    objective = objective_from_settings(settings, model, guide_image=guide)
    return Dreamer(model, objective, settings, grey=grey, projection=projection)
