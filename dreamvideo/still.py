"""Dream one still image file: read, dream, write (the ``image`` command's controller)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DreamSettings
from .dream import Dreamer, image_to_tensor, objective_from_settings, resolve_device, tensor_to_image
from .errors import MediaError
from .io import IMAGE_FORMATS, check_output_path, read_image, write_image
from .models import load_model
from .panorama.projection import equirect_aspect_problem, projection_for
from .panorama.stereo import STEREO_LAYOUTS, dream_stereo_frame

__all__ = ["StillResult", "dream_image_file", "make_dreamer"]


@dataclass
class StillResult:
    """What an image dream did: the objective before and after, and where it went."""

    output: Path
    objective_before: float
    objective_after: float
    objective_name: str

    @property
    def gain(self) -> float:
        return self.objective_after / self.objective_before if self.objective_before else float("inf")


def make_dreamer(settings: DreamSettings, *, grey: bool = False) -> Dreamer:
    """Load the model, build the objective (reading the guide image if any) and a Dreamer.

    ``grey`` keeps grey input grey while dreaming.
    """
    device = resolve_device(settings.device)
    model = load_model(settings.model, weights=settings.weights, device=device)
    guide = None
    if settings.guide is not None:
        guide = image_to_tensor(read_image(settings.guide).rgb, device)
    objective = objective_from_settings(settings, model, guide_image=guide)
    return Dreamer(model, objective, settings, grey=grey, projection=projection_for(settings))


def dream_image_file(source: str | os.PathLike, output: str | os.PathLike, settings: DreamSettings) -> StillResult:
    """Dream the image at ``source`` into ``output`` (format from its extension).

    Bit depth, greyness and alpha follow the source where the output format
    allows; alpha passes through unchanged.

    Raises:
        MediaError: unreadable input, unwritable output, or output == input.
        ConfigError, ModelError: bad settings, model or layer.
    """
    source, output = Path(source), Path(output)
    # Fail before the dream, not after it, on an output that cannot be written.
    check_output_path(source, output)
    if output.suffix.lower() not in IMAGE_FORMATS:
        raise MediaError(
            f"cannot write {output.name!r}: unknown image format",
            hint=f"use one of {', '.join(sorted(IMAGE_FORMATS))}",
        )
    still = read_image(source)
    dreamer = make_dreamer(settings, grey=still.grey)
    image = image_to_tensor(still.rgb, dreamer.device)
    layout = settings.stereo if settings.stereo in STEREO_LAYOUTS else None
    if settings.projection == "equirect":
        problem = equirect_aspect_problem(image.shape[-1], image.shape[-2], layout)
        if problem:
            warnings.warn(problem, stacklevel=2)
    before = dreamer.value(image)
    dreamed = dream_stereo_frame(dreamer, image, layout) if layout else dreamer.dream(image)
    after = dreamer.value(dreamed)
    write_image(output, tensor_to_image(dreamed, dtype=np.float32), like=still)
    return StillResult(output, before, after, dreamer.objective.name)
