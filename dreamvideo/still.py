"""Dream one still image file: read, dream, write (the ``image`` command's controller)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import DreamSettings
from .dream import image_to_tensor, resolve_device, tensor_to_image
from .errors import MediaError
from .frame import dream_frame
from .io import IMAGE_FORMATS, StillImage, check_output_path, read_image, write_image
from .io.spherical import read_spherical, spherical_for
from .layout import check_aspect, resolve_layout, split_eyes, vr_name
from .memory import check_memory
from .panorama.projection import dreamer_for

__all__ = ["StillResult", "dream_image_file", "resize_still"]


@dataclass
class StillResult:
    """What an image dream did: the objective before and after, and where it went.

    The objective is measured as the dream sees the picture (``Dreamer.value``: a panorama
    through its views, a stereo frame's left eye)."""

    output: Path
    objective_before: float
    objective_after: float
    objective_name: str

    @property
    def gain(self) -> float:
        return self.objective_after / self.objective_before if self.objective_before else float("inf")


def dream_image_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    settings: DreamSettings,
    *,
    width: int | None = None,
    size: tuple[int, int] | None = None,
    vr_names: bool = False,
    force: bool = False,
) -> StillResult:
    """Dream the image at ``source`` into ``output`` (format from its extension).

    Bit depth, greyness and alpha follow the source where the output format
    allows; alpha passes through unchanged (resized with the picture).
    ``width`` (aspect kept) or ``size`` ``(width, height)`` dream it at another size.
    A 360° layout (``settings.projection``/``stereo``, ``auto`` following the input's
    GPano XMP) is written as GPano XMP into JPEG/PNG output; ``vr_names`` adds
    ``_360``/``_TB``/``_LR`` to the name. A size whose memory estimate exceeds the free
    memory is refused before the model loads, unless ``force``.

    Raises:
        MediaError: unreadable input, unwritable output, or output == input.
        ConfigError, ModelError: bad settings, model or layer; a size that does not fit in memory.
    """
    source, output = Path(source), Path(output)
    check_output_path(source, output)
    layout = resolve_layout(settings, read_spherical(source), name=source.name)
    if vr_names:
        output = Path(vr_name(output, layout))
    # Fail before the dream, not after it, on an output that cannot be written.
    check_output_path(source, output)
    if output.suffix.lower() not in IMAGE_FORMATS:
        raise MediaError(
            f"cannot write {output.name!r}: unknown image format",
            hint=f"use one of {', '.join(sorted(IMAGE_FORMATS))}",
        )
    still = read_image(source)
    check_memory(_target_size(still, width, size), resolve_device(settings.device), force=force)
    still = resize_still(still, width=width, size=size)
    check_aspect(still.size, layout, strict=settings.strict, name=source.name)
    dreamer = dreamer_for(settings, layout, grey=still.grey)
    image = image_to_tensor(still.rgb, dreamer.device)
    # The objective of what is dreamed: a stereo frame's left eye (the right is carried from it).
    measured = (lambda x: split_eyes(x, layout.stereo)[0]) if layout.two_eyes else (lambda x: x)
    before = dreamer.value(measured(image))
    dreamed = dream_frame(dreamer, image, layout)  # a stereo frame: both eyes one dream
    after = dreamer.value(measured(dreamed))
    write_image(output, tensor_to_image(dreamed, dtype=np.float32), like=still, spherical=spherical_for(*layout))
    return StillResult(output, before, after, dreamer.objective.name)


def resize_still(still: StillImage, *, width: int | None = None, size: tuple[int, int] | None = None) -> StillImage:
    """``still`` at ``width`` (aspect kept) or ``size`` ``(width, height)``; as it is when neither is given.

    Upscaling says so in one warning: it adds no detail for the dream to work on.
    """
    w0, h0 = still.size
    if size is None and width is None:
        return still
    w, h = _target_size(still, width, size)
    if w > w0 or h > h0:
        warnings.warn(f"--{'size' if size else 'width'} {w}x{h} upscales the {w0}x{h0} source")
    interpolation = cv2.INTER_AREA if w <= w0 and h <= h0 else cv2.INTER_CUBIC
    rgb = np.clip(cv2.resize(still.rgb, (w, h), interpolation=interpolation), 0, 1)
    alpha = None if still.alpha is None else cv2.resize(still.alpha, (w, h), interpolation=interpolation)
    return dataclasses.replace(still, rgb=rgb, alpha=alpha)


def _target_size(still: StillImage, width: int | None, size: tuple[int, int] | None) -> tuple[int, int]:
    """``(width, height)`` the still is dreamed at: ``size``, else ``width`` with the aspect kept."""
    w0, h0 = still.size
    if size is not None:
        return size
    return (width, max(1, round(width * h0 / w0))) if width is not None else (w0, h0)
