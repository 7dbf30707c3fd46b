"""Which pixels of the current frame the previous frame can supply.

Two checks, both needed (:func:`carry_mask`):

- The forward-backward consistency check of Ruder, Dosovitskiy and Brox
  ("Artistic style transfer for videos", 2016): pixels that fail it were
  disoccluded, or came from outside the frame, or the flow is wrong there.
- The photometric check (:func:`photometric_mask`): the warped previous
  *source* must reproduce the current one. Farneback smooths its flow across
  motion boundaries and returns smooth, self-consistent flow between unrelated
  images, so the consistency check alone misses most disocclusions: on the
  occluder test clip (a 40 px photo sliding 5 px a frame over a panorama view,
  ``tests/clips.py``) it refuses 1.3 % of the uncovered pixels, the photometric
  check 63 %; on a whip pan too fast for the flow (14 px a frame on 128) it
  refuses the 52 % of "consistent" pixels that the flow misplaces.

The pipeline dreams the refused pixels afresh instead of smearing the previous
dream over them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .warp import warp_array

__all__ = [
    "PHOTOMETRIC_TOLERANCE",
    "CONTRAST_FACTOR",
    "blend_mask",
    "carry_mask",
    "consistency_mask",
    "from_inside",
    "luminance",
    "match_exposure",
    "photometric_mask",
    "soften_mask",
]

# Photometric check: a pixel matches where |I_t - warp(I_t-1)| on the blurred luminance is below
# PHOTOMETRIC_TOLERANCE + CONTRAST_FACTOR x the local contrast (standard deviation of the current
# luminance in 5x5). Tried 6/8/12 grey levels and 0.5/1.0 x contrast on the test clips, raw and
# JPEG-compressed at quality 50 (the figures did not change by more than 0.01): 8 and 0.5 refuse
# 63 % of uncovered pixels (6: 67 %, 12: 57 %) and wrongly refuse 0.4 % of consistent pixels on the
# camera path and 4.6 % in a cross-fade (6: 0.6 % and 7.9 %); 1.0 x contrast catches 49 %.
PHOTOMETRIC_TOLERANCE = 8.0
CONTRAST_FACTOR = 0.5
_BLUR_SIGMA = 1.0  # luminance blur in pixels: compression noise and bilinear resampling differences
_CONTRAST_WINDOW = 5


def consistency_mask(
    flow_cur_to_prev: np.ndarray,
    flow_prev_to_cur: np.ndarray,
    *,
    wrap_x: bool = False,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Mark the pixels whose backward flow the forward flow undoes.

    With ``b = flow_cur_to_prev`` and ``f = flow_prev_to_cur`` sampled
    bilinearly at ``x + b(x)``, a pixel is consistent where
    ``|f + b|² < 0.01 (|f|² + |b|²) + 0.5`` and ``x + b(x)`` lies inside the
    frame: within ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``, the pixels' extent
    around their centres.

    Args:
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        flow_prev_to_cur: float32 ``(H, W, 2)`` in pixels.
        wrap_x: the left and right edges are neighbours (equirect): ``f`` is sampled
            across the seam, and leaving the frame sideways is not leaving it.
        inside: :func:`from_inside` of ``flow_cur_to_prev``, where the caller has it already.

    Returns:
        bool ``(H, W)`` on the current frame's grid, True where the previous
        frame's content can be carried over.
    """
    b = np.asarray(flow_cur_to_prev, dtype=np.float32)
    f_shape = np.shape(flow_prev_to_cur)
    if b.ndim != 3 or b.shape[2] != 2 or f_shape != b.shape:
        raise ValueError(f"expected two flows of one shape (H, W, 2), got {b.shape} and {f_shape}")
    f = warp_array(np.asarray(flow_prev_to_cur, dtype=np.float32), b, wrap_x=wrap_x)
    bx, by, fx, fy = b[..., 0], b[..., 1], f[..., 0], f[..., 1]
    lhs = np.square(fx + bx) + np.square(fy + by)
    rhs = 0.01 * (fx * fx + fy * fy + bx * bx + by * by) + 0.5
    return (lhs < rhs) & (from_inside(b, wrap_x=wrap_x) if inside is None else inside)


def from_inside(flow_cur_to_prev: np.ndarray, *, wrap_x: bool = False) -> np.ndarray:
    """bool ``(H, W)``: where ``x + b(x)`` lies inside the previous frame, within
    ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (the pixels' extent around their centres); with
    ``wrap_x`` leaving sideways is not leaving. False where the content enters the frame."""
    b = np.asarray(flow_cur_to_prev, dtype=np.float32)
    h, w = b.shape[:2]
    x = np.arange(w, dtype=np.float32) + b[..., 0]
    y = np.arange(h, dtype=np.float32)[:, None] + b[..., 1]
    # Pixel extent, not centres: else a still frame's -0.01 px of flow noise
    # at the left edge would count as coming from outside.
    inside = (y >= -0.5) & (y <= h - 0.5)
    if not wrap_x:
        inside &= (x >= -0.5) & (x <= w - 0.5)
    return inside


def soften_mask(mask: np.ndarray, *, erode: int = 2, sigma: float = 1.5, wrap_x: bool = False) -> np.ndarray:
    """Turn a consistency mask into blending weights.

    The mask is eroded, because flow is least reliable right next to an
    occlusion boundary, then blurred so the fresh dream and the carried one
    meet without a seam.

    Args:
        mask: bool ``(H, W)`` from :func:`consistency_mask`.
        erode: erosion radius in pixels, 0 for none.
        sigma: Gaussian blur sigma in pixels, 0 for none.
        wrap_x: erode and blur across the seam (equirect).

    Returns:
        float32 ``(H, W)`` in [0, 1], 1 where the previous frame's content
        can be carried over.
    """
    weights = mask.astype(np.float32)
    pad = 0
    if wrap_x:
        pad = min(mask.shape[1], erode + math.ceil(4 * sigma) + 1)
        weights = cv2.copyMakeBorder(weights, 0, 0, pad, pad, cv2.BORDER_WRAP)
    if erode > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1))
        weights = cv2.erode(weights, kernel)
    if sigma > 0:
        weights = cv2.GaussianBlur(weights, (0, 0), sigma)
    if pad:
        weights = np.ascontiguousarray(weights[:, pad:-pad])
    return weights


def blend_mask(
    flow_cur_to_prev: np.ndarray,
    flow_prev_to_cur: np.ndarray,
    *,
    erode: int = 2,
    sigma: float = 1.5,
    wrap_x: bool = False,
) -> np.ndarray:
    """:func:`consistency_mask` then :func:`soften_mask`.

    Args:
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        flow_prev_to_cur: float32 ``(H, W, 2)`` in pixels.
        erode, sigma, wrap_x: as in :func:`soften_mask`.

    Returns:
        float32 ``(H, W)`` in [0, 1] on the current frame's grid.
    """
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur, wrap_x=wrap_x)
    return soften_mask(mask, erode=erode, sigma=sigma, wrap_x=wrap_x)


def luminance(frame: np.ndarray, *, sigma: float = _BLUR_SIGMA) -> np.ndarray:
    """Blurred grey of a frame: float32 ``(H, W)`` on the 0-255 scale.

    Args:
        frame: uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        sigma: Gaussian blur in pixels (0: none), against noise and compression.
    """
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    grey = frame.astype(np.float32)
    return cv2.GaussianBlur(grey, (0, 0), sigma) if sigma > 0 else grey


def match_exposure(reference: np.ndarray, image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Give ``image`` the mean and standard deviation of ``reference`` over ``valid``.

    A global gain and offset (the gain kept within [0.25, 4]), so that fades and
    exposure changes are not taken for changed content.

    Args:
        reference, image: float32 ``(H, W)`` luminance.
        valid: bool ``(H, W)``: the pixels to measure on; all when None or when
            fewer than 5 % are valid.

    Returns:
        float32 ``(H, W)``.
    """
    if valid is None or valid.mean() < 0.05:
        valid = np.ones(reference.shape, bool)
    ref, img = reference[valid], image[valid]
    gain = float(np.clip(ref.std() / max(float(img.std()), 1e-3), 0.25, 4.0))
    return ((image - img.mean()) * gain + ref.mean()).astype(np.float32)


def photometric_mask(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_cur_to_prev: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    tolerance: float = PHOTOMETRIC_TOLERANCE,
    contrast_factor: float = CONTRAST_FACTOR,
    wrap_x: bool = False,
) -> np.ndarray:
    """Mark the pixels of ``cur`` that the previous source, warped along the flow, reproduces.

    On blurred luminance, after matching the warped frame's exposure to the
    current one (:func:`match_exposure`, measured over ``valid``), a pixel
    matches where ``|L_t - warp(L_t-1)| < tolerance + contrast_factor * s``,
    ``s`` the standard deviation of ``L_t`` in a 5x5 window: on texture a
    fraction of a pixel of flow error gives a large difference, on flat areas
    only noise does.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        cur: current source frame, same shape.
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        valid: bool ``(H, W)``, the pixels to match the exposure on (e.g. the
            consistency mask); None for all.
        tolerance: grey levels (0-255) always allowed.
        contrast_factor: times the local contrast, allowed on top.
        wrap_x: the left and right edges are neighbours (equirect).

    Returns:
        bool ``(H, W)`` on the current frame's grid, True where the sources agree.
    """
    if prev.shape != cur.shape:
        raise ValueError(f"expected two frames of one shape, got {prev.shape} and {cur.shape}")
    grey = luminance(cur)
    warped = match_exposure(grey, warp_array(luminance(prev), flow_cur_to_prev, wrap_x=wrap_x), valid)
    window = (_CONTRAST_WINDOW, _CONTRAST_WINDOW)
    mean = cv2.blur(grey, window)
    contrast = np.sqrt(np.maximum(cv2.blur(grey * grey, window) - mean * mean, 0))
    return np.abs(grey - warped) < tolerance + contrast_factor * contrast


def carry_mask(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_cur_to_prev: np.ndarray,
    flow_prev_to_cur: np.ndarray,
    *,
    consistent: np.ndarray | None = None,
    wrap_x: bool = False,
) -> np.ndarray:
    """The pixels whose previous dream may be carried: consistent flow *and* matching sources.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)``.
        cur: current source frame, same shape.
        flow_cur_to_prev, flow_prev_to_cur: float32 ``(H, W, 2)`` in pixels.
        consistent: :func:`consistency_mask` of the two flows, when the caller has it already.
        wrap_x: the left and right edges are neighbours (equirect).

    Returns:
        bool ``(H, W)``: :func:`consistency_mask` and :func:`photometric_mask`.
    """
    if consistent is None:
        consistent = consistency_mask(flow_cur_to_prev, flow_prev_to_cur, wrap_x=wrap_x)
    return consistent & photometric_mask(prev, cur, flow_cur_to_prev, valid=consistent, wrap_x=wrap_x)
