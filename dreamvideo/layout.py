"""A run's layout: what its frames are (flat or a 360° panorama, mono or stereo), and how eyes split.

The one stereo vocabulary of the tree (:data:`STEREO_LAYOUTS`: ``none``,
``top-bottom``: left eye on top, ``left-right``: left eye on the left), the one
eye split (:func:`split_eyes`, for host and device frames), and the run
decisions taken from settings and an input's spherical metadata
(:func:`resolve_layout`, :func:`check_aspect`, :func:`vr_name`). What the
metadata says is read and written in ``dreamvideo.io.spherical``; a layout is
turned into the metadata an output carries there (``spherical_for``).

Standard library only: the flow worker processes and the viewer import it.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError

__all__ = [
    "ASPECT_TOLERANCE",
    "EYE_ASPECT",
    "PROJECTIONS",
    "STEREO_LAYOUTS",
    "TWO_EYES",
    "Layout",
    "check_aspect",
    "eye_width",
    "frame_aspect",
    "resolve_layout",
    "split_eyes",
    "vr_name",
]

PROJECTIONS = ("flat", "equirect")
STEREO_LAYOUTS = ("none", "top-bottom", "left-right")
TWO_EYES = ("top-bottom", "left-right")  # the stereo layouts: both eyes in one frame
EYE_ASPECT = (2, 1)  # an equirect eye is 2:1
# Relative; 3840x1920 and 4096x2048 are exact, some encoders pad by a few pixels.
ASPECT_TOLERANCE = 0.02
# One eye's share of the frame, (width, height) divisors, for each stereo layout.
_EYE_SHARE = {"none": (1, 1), "top-bottom": (1, 2), "left-right": (2, 1)}


class Layout(NamedTuple):
    """What a run treats its frames as: ``projection`` (``flat``/``equirect``) and ``stereo``
    (one of :data:`STEREO_LAYOUTS`). Unpacks as ``projection, stereo = layout``."""

    projection: str
    stereo: str

    @property
    def two_eyes(self) -> bool:
        """Both eyes in one frame (``top-bottom`` or ``left-right``)."""
        return self.stereo in TWO_EYES


def frame_aspect(stereo: str) -> tuple[int, int]:
    """The ``(width, height)`` aspect of an equirect frame of ``stereo`` layout: 2:1 mono, 1:1
    top-bottom, 4:1 left-right (each eye 2:1)."""
    share_w, share_h = _EYE_SHARE[stereo]
    width, height = EYE_ASPECT[0] * share_w, EYE_ASPECT[1] * share_h
    common = math.gcd(width, height)
    return width // common, height // common


def eye_width(frame_width: int, stereo: str) -> int:
    """The width of one eye of a frame ``frame_width`` wide."""
    return frame_width // _EYE_SHARE[stereo][0]


def split_eyes(image, layout: str, *, channels_last: bool = False):
    """``(left, right)`` eyes of a stereo frame: its top/bottom or left/right halves (views, not copies).

    Args:
        image: a device frame ``(B, C, H, W)`` (tensor), or with ``channels_last`` a host
            frame ``(H, W, C)`` (array); anything sliced the numpy way.
        layout: ``top-bottom`` or ``left-right``.

    Raises:
        ConfigError: not a two-eye layout, or an odd height (top-bottom) or width (left-right).
    """
    rows, cols = (-3, -2) if channels_last else (-2, -1)
    height, width = image.shape[rows], image.shape[cols]
    if layout == "top-bottom":
        axis, length = rows, height
    elif layout == "left-right":
        axis, length = cols, width
    else:
        raise ConfigError(f"unknown stereo layout {layout!r}", hint=f"use one of {', '.join(TWO_EYES)}")
    if length % 2:
        side = "height" if layout == "top-bottom" else "width"
        raise ConfigError(f"a {layout} stereo frame needs an even {side}, got {width}x{height}")
    half = length // 2
    first = [slice(None)] * image.ndim
    second = [slice(None)] * image.ndim
    first[axis], second[axis] = slice(None, half), slice(half, None)
    return image[tuple(first)], image[tuple(second)]


def resolve_layout(settings, info, *, name: str = "the input") -> Layout:
    """Turn ``settings.projection``/``settings.stereo`` ``auto`` into concrete values.

    ``auto`` follows the input's metadata ``info`` (an ``io.spherical.SphericalInfo`` from
    ``VideoInfo.spherical`` or ``read_spherical``, or None): equirectangular metadata gives
    ``equirect`` and its stereo layout; no metadata gives ``flat`` and ``none``. A value
    given explicitly wins over the metadata. Metadata this project cannot dream (cubemap,
    mesh, cropped panoramas, right-left or custom stereo) gives a warning and is not followed.

    Args:
        settings: anything with ``projection`` and ``stereo`` (DreamSettings).
    """
    projection, stereo = settings.projection, settings.stereo
    usable = info
    if info is not None and (not info.is_equirect or info.cropped):
        if projection == "auto":
            what = "a cropped equirectangular panorama" if info.is_equirect else f"{info.projection} projection"
            warnings.warn(f"{name} is {what}; it is dreamed as a flat picture", stacklevel=2)
        usable = None
    if projection == "auto":
        projection = "equirect" if usable is not None else "flat"
    if stereo == "auto":
        stereo = "none"
        if usable is not None:
            if usable.stereo in STEREO_LAYOUTS:
                stereo = usable.stereo
            else:
                warnings.warn(
                    f"{name} has {usable.stereo} stereo, which is not supported; it is treated as mono "
                    "(give --stereo to override)",
                    stacklevel=2,
                )
    return Layout(projection, stereo)


def check_aspect(
    size: tuple[int, int], layout: Layout, *, strict: bool = False, name: str = "the input", tolerance: float = ASPECT_TOLERANCE
) -> None:
    """Check that an equirect frame of ``size`` ``(width, height)`` has its layout's aspect.

    Equirect is 2:1 per eye: 2:1 mono, 1:1 top-bottom, 4:1 left-right (:func:`frame_aspect`,
    within ``tolerance``, relative). Flat layouts are not checked.

    Raises:
        ConfigError: a wrong aspect with ``strict``; otherwise it is a warning.
    """
    if layout.projection != "equirect":
        return
    width, height = size
    want_w, want_h = frame_aspect(layout.stereo) if layout.stereo in _EYE_SHARE else EYE_ASPECT
    if height <= 0 or abs(width * want_h / (height * want_w) - 1) <= tolerance:
        return
    stereo = "" if layout.stereo == "none" else f" {layout.stereo}"
    message = (
        f"{name} is {width}x{height} (aspect {width / height:.3g}:1), but an equirectangular{stereo} "
        f"frame is {want_w}:{want_h}"
    )
    if strict:
        raise ConfigError(message, hint="give --projection flat, or the right --stereo layout")
    warnings.warn(message + "; the panorama will look distorted", stacklevel=2)


_SUFFIXES = {"top-bottom": "_TB", "left-right": "_LR"}


def vr_name(path: str | os.PathLike, layout: Layout) -> str:
    """``path`` with the suffixes headset players look for, before the extension.

    The name ends ``_360`` for an equirect layout, then ``_TB`` or ``_LR`` for stereo
    (``clip.mp4`` → ``clip_360_TB.mp4``). Such tags already at the end of the name, in any
    case and order, are replaced by these (``d_tb.mp4`` → ``d_360_TB.mp4``, never
    ``d_tb_360.mp4``: players read the tags in this order). Flat layouts and streams
    (``-``, URLs) are returned unchanged.
    """
    text = str(path)
    if layout.projection != "equirect" or text == "-" or "://" in text:
        return text
    p = Path(text)
    stem = p.stem
    while (m := re.search(r"[_.\-\s](360|TB|LR)$", stem, flags=re.IGNORECASE)) and m.start() > 0:
        stem = stem[: m.start()]
    return str(p.with_name(stem + "_360" + _SUFFIXES.get(layout.stereo, "") + p.suffix))
