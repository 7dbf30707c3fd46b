"""Dense optical flow between source frames: the algorithms (``workers`` runs them in processes).

Flow is ``float32 (H, W, 2)`` in pixels, ``(dx, dy)``, named by direction:
``flow_src_to_dst`` samples ``dst`` at ``x + flow(x)`` for each pixel ``x`` of
``src``. So ``flow_cur_to_prev`` pulls the previous frame onto the current grid.

This module imports only numpy, OpenCV and the standard library: the worker
processes of :class:`~.workers.FlowWorkers` import it and must not load torch.

:func:`flow_evidence` is what the staged runner asks the workers for: besides the
flow, the carry weights and the cut decision (``keep.carry_weights``) are computed
there, ahead of the dream, instead of on the dream thread while the device waits;
and only the flow the warp needs comes back, at the scale it was computed at (the
dream side upsamples it on the device).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..layout import split_eyes
from .keep import carry_weights
from .occlusion import blend_mask

__all__ = [
    "FLOW_METHODS",
    "FLOW_MIN_WIDTH",
    "PIPELINE_FARNEBACK_PARAMS",
    "METRIC_FARNEBACK_PARAMS",
    "DIS_PARAMS",
    "compute_flow",
    "flow_pair",
    "FlowEvidence",
    "flow_evidence",
    "flow_settings",
    "stereo_disparity",
    "auto_flow_scale",
]

FLOW_METHODS = ("farneback", "dis")

# ``--flow-scale``'s default: half size (at 1080p a quarter of full-size Farneback's cost, DESIGN's
# anchors), but never fewer than this many pixels across: on small frames half size leaves too little
# texture to track. Full-size rather than half-size flow, benchmarks/coherence.py's warp ratios (at
# about equal strength): the 128 px camera path 0.361 -> 0.339, the occluder 0.713 -> 0.656, the
# 224 px sample pan 0.274 -> 0.254.
FLOW_MIN_WIDTH = 640

# Two Farneback settings, one per purpose; they differ only in poly_sigma.
#
# The pipeline's (the default of every function here), tuned: winsize 21 and poly_sigma 1.1
# (OpenCV's advice for poly_n 5) had the lowest end-point error of winsize 13-21, poly_sigma
# 1.1-1.2 at half size. More than 4 levels is never used at 1080p and below: OpenCV drops
# levels under 32 px.
PIPELINE_FARNEBACK_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "pyr_scale": 0.5,
        "levels": 4,
        "winsize": 21,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.1,
        "flags": 0,
    }
)

# The metrics' (warp error, ``dreamvideo metrics``), fixed by the founders' DESIGN.md (Metrics)
# so that figures from different runs and machines compare: never tune these.
METRIC_FARNEBACK_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "pyr_scale": 0.5,
        "levels": 4,
        "winsize": 21,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.2,
        "flags": 0,
    }
)

# The fast preset stops at a quarter of its input, which on top of our
# downscaling is too coarse: the forward-backward check then rejects half of a
# zoom. finest_scale 1 costs about 4x and matches the medium preset's accuracy.
DIS_PARAMS: Mapping[str, Any] = MappingProxyType({"preset": "fast", "finest_scale": 1})

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_DIS_SETTERS = {
    "finest_scale": "setFinestScale",
    "patch_size": "setPatchSize",
    "patch_stride": "setPatchStride",
    "gradient_descent_iterations": "setGradientDescentIterations",
    "variational_refinement_iterations": "setVariationalRefinementIterations",
}
_DEFAULTS = {"farneback": PIPELINE_FARNEBACK_PARAMS, "dis": DIS_PARAMS}
_KNOWN = {"farneback": tuple(PIPELINE_FARNEBACK_PARAMS), "dis": ("preset", *_DIS_SETTERS)}


def compute_flow(
    src: np.ndarray,
    dst: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> np.ndarray:
    """Compute the dense flow that samples ``dst`` for each pixel of ``src``.

    The flow is computed on grey frames resized to ``scale`` of their size
    (area interpolation) and scaled back up, vectors included.

    Args:
        src: frame the flow is defined on, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        dst: frame the flow points into, same shape as ``src``.
        method: one of :data:`FLOW_METHODS`.
        scale: resolution factor in ``(0, 1]`` for the computation.
        params: overrides of :data:`PIPELINE_FARNEBACK_PARAMS` or :data:`DIS_PARAMS`,
            key by key. DIS keys: ``preset`` (``ultrafast``, ``fast``,
            ``medium``), ``finest_scale``, ``patch_size``, ``patch_stride``,
            ``gradient_descent_iterations``, ``variational_refinement_iterations``.
        wrap_x: the left and right edges are neighbours (an equirect panorama): the
            frames are padded with the other edge's columns before the flow is
            computed, so motion across the seam is found; the padding is cut off.

    Returns:
        ``flow_src_to_dst``, float32 ``(H, W, 2)`` in pixels: ``dst`` sampled at
        ``x + flow(x)`` resembles ``src`` at ``x``.

    Raises:
        ConfigError: unknown method or parameter, or scale outside ``(0, 1]``.
        ValueError: frames that are not uint8, or of different sizes.
    """
    settings = flow_settings(method, scale, params)
    _check_pair(src, dst)
    return _flow(_prepare(src, scale), _prepare(dst, scale), method, settings, src.shape[:2], wrap_x)


def flow_pair(
    prev: np.ndarray,
    cur: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the flow in both directions between consecutive frames.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        cur: current source frame, same shape.
        method, scale, params, wrap_x: as in :func:`compute_flow`.

    Returns:
        ``(flow_cur_to_prev, flow_prev_to_cur)``, each float32 ``(H, W, 2)``.
    """
    back, forward = _pair_at_scale(prev, cur, method, scale, params, wrap_x)
    size = prev.shape[:2]
    return _upsample(back, size), _upsample(forward, size)


@dataclass(frozen=True)
class FlowEvidence:
    """What the dream of the current frame needs from the previous one, computed ahead.

    Attributes:
        size: ``(H, W)`` of the frames.
        cut: whether the current frame starts a new shot.
        flow_cur_to_prev: float32 ``(h, w, 2)`` at the scale it was computed at, vectors in
            pixels of that scale; None after a cut. ``warp.flow_to_tensor(..., size=size)``
            brings it to the frame's size.
        keep: float32 ``(H, W)`` in [0, 1], the carry weights (``keep.carry_weights``); None
            after a cut. Not float16: the ascent amplifies its rounding to 0.1 grey levels on
            average by the third frame.
        disparity: for a stereo clip, :func:`stereo_disparity` of the current frame (cut or
            not); None otherwise.
    """

    size: tuple[int, int]
    cut: bool
    flow_cur_to_prev: np.ndarray | None
    keep: np.ndarray | None
    disparity: tuple[np.ndarray, np.ndarray] | None = None


def flow_evidence(
    prev: np.ndarray,
    cur: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
    stereo: tuple[str, float] | None = None,
) -> FlowEvidence:
    """The flow pair of two consecutive source frames and what the dream decides from it.

    The same function the dream thread would call (``keep.carry_weights``: consistency and
    photometric checks, scene cut, softened weights), at full resolution, here: in a
    worker process, ahead of the dream.

    Args:
        prev, cur: consecutive source frames, uint8 RGB ``(H, W, 3)``.
        method, scale, params, wrap_x: as in :func:`compute_flow`.
        stereo: ``(layout, scale)`` of a stereo clip: also the disparity of ``cur``'s eyes
            (:func:`stereo_disparity`, at that flow scale).
    """
    disparity = None
    if stereo is not None:
        layout, eye_scale = stereo
        disparity = stereo_disparity(*split_eyes(cur, layout, channels_last=True), method=method, scale=eye_scale, params=params, wrap_x=wrap_x)
    small_back, small_forward = _pair_at_scale(prev, cur, method, scale, params, wrap_x)
    size = prev.shape[:2]
    keep, cut = carry_weights(prev, cur, _upsample(small_back, size), _upsample(small_forward, size), wrap_x=wrap_x)
    if cut:
        return FlowEvidence(size, True, None, None, disparity)
    return FlowEvidence(size, False, small_back, keep, disparity)


def stereo_disparity(
    left: np.ndarray,
    right: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The flow from the right eye to the left one, and where it can be trusted.

    Args:
        left, right: the source eyes, uint8 RGB ``(h, w, 3)``.
        method, scale, params, wrap_x: as in :func:`compute_flow`.

    Returns:
        ``(flow_right_to_left, weight)``: float32 ``(h', w', 2)`` at the scale the flow was
        computed at, in pixels of that scale (``warp.flow_to_tensor(..., size=(h, w))`` brings
        it to the eye: the left eye sampled at ``x + flow`` resembles the right eye at ``x``),
        and the soft consistency mask, float32 ``(h, w)`` in [0, 1] (``occlusion.blend_mask``).
    """
    right_to_left, left_to_right = _pair_at_scale(left, right, method, scale, params, wrap_x)
    size = left.shape[:2]
    weight = blend_mask(_upsample(right_to_left, size), _upsample(left_to_right, size), wrap_x=wrap_x)
    return right_to_left, weight


def auto_flow_scale(width: int) -> float:
    """The flow scale for frames ``width`` px wide when none is given: 0.5, or more so that the
    flow is at least :data:`FLOW_MIN_WIDTH` px wide (1 for frames up to that width)."""
    return min(1.0, max(0.5, FLOW_MIN_WIDTH / width))


def flow_settings(method: str, scale: float, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The method's parameters, ``params`` over its defaults, after checking method, scale and names.

    Raises:
        ConfigError: an unknown method or parameter name, or a scale outside (0, 1].
    """
    if method not in FLOW_METHODS:
        raise ConfigError(
            f"unknown flow method {method!r}", hint=f"use one of: {', '.join(FLOW_METHODS)}"
        )
    if not 0 < scale <= 1:
        raise ConfigError(
            f"flow scale must be in (0, 1], got {scale}", hint="0.5 computes flow at half size"
        )
    unknown = sorted(set(params or {}) - set(_KNOWN[method]))
    if unknown:
        raise ConfigError(
            f"unknown {method} flow parameter {unknown[0]!r}",
            hint=f"known: {', '.join(_KNOWN[method])}",
        )
    settings = {**_DEFAULTS[method], **(params or {})}
    if method == "dis" and settings["preset"] not in _DIS_PRESETS:
        raise ConfigError(
            f"unknown DIS preset {settings['preset']!r}",
            hint=f"use one of: {', '.join(_DIS_PRESETS)}",
        )
    return settings


def _pair_at_scale(
    prev: np.ndarray, cur: np.ndarray, method: str, scale: float, params: Mapping[str, Any] | None, wrap_x: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(flow_cur_to_prev, flow_prev_to_cur)`` at the size the flow is computed at (``scale`` of
    the frames'), vectors in pixels of that size; :func:`_upsample` brings them to the frames."""
    settings = flow_settings(method, scale, params)
    _check_pair(prev, cur)
    small_prev, small_cur = _prepare(prev, scale), _prepare(cur, scale)
    at = small_cur.shape[:2]
    return (
        _flow(small_cur, small_prev, method, settings, at, wrap_x),
        _flow(small_prev, small_cur, method, settings, at, wrap_x),
    )


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"flow needs uint8 frames, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"flow needs frames of one shape, got {a.shape} and {b.shape}")


def _prepare(frame: np.ndarray, scale: float) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    elif frame.ndim != 2:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grey frame, got shape {frame.shape}")
    if scale == 1:
        return frame
    h, w = frame.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _flow(
    src: np.ndarray,
    dst: np.ndarray,
    method: str,
    settings: dict[str, Any],
    size: tuple[int, int],
    wrap_x: bool = False,
) -> np.ndarray:
    pad = 0
    if wrap_x:
        # Enough of the other edge for the coarsest pyramid level's window to see across the seam.
        pad = min(src.shape[1], max(16, src.shape[1] // 8))
        src = cv2.copyMakeBorder(src, 0, 0, pad, pad, cv2.BORDER_WRAP)
        dst = cv2.copyMakeBorder(dst, 0, 0, pad, pad, cv2.BORDER_WRAP)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(src, dst, None, **settings)
    else:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[settings["preset"]])
        for key, setter in _DIS_SETTERS.items():
            if key in settings:
                getattr(dis, setter)(int(settings[key]))
        flow = dis.calc(src, dst, None)
    if pad:
        flow = flow[:, pad:-pad]
    return _upsample(flow, size)


def _upsample(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``flow`` resized to ``size`` ``(H, W)``, vectors scaled with it."""
    h, w = size
    if flow.shape[:2] != (h, w):
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return np.ascontiguousarray(flow, dtype=np.float32)
