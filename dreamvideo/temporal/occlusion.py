"""Which pixels of the current frame the previous frame can supply.

The forward-backward consistency check of Ruder, Dosovitskiy and Brox
("Artistic style transfer for videos", 2016). Pixels that fail it were
disoccluded, or came from outside the frame, or the flow is wrong there: the
pipeline dreams them afresh instead of smearing the previous dream over them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .warp import warp_array

__all__ = ["consistency_mask", "soften_mask", "blend_mask"]


def consistency_mask(
    flow_cur_to_prev: np.ndarray, flow_prev_to_cur: np.ndarray, *, wrap_x: bool = False
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

    Returns:
        bool ``(H, W)`` on the current frame's grid, True where the previous
        frame's content can be carried over.
    """
    b = np.asarray(flow_cur_to_prev, dtype=np.float32)
    f_shape = np.shape(flow_prev_to_cur)
    if b.ndim != 3 or b.shape[2] != 2 or f_shape != b.shape:
        raise ValueError(f"expected two flows of one shape (H, W, 2), got {b.shape} and {f_shape}")
    h, w = b.shape[:2]
    f = warp_array(np.asarray(flow_prev_to_cur, dtype=np.float32), b, wrap_x=wrap_x)
    bx, by, fx, fy = b[..., 0], b[..., 1], f[..., 0], f[..., 1]
    lhs = np.square(fx + bx) + np.square(fy + by)
    rhs = 0.01 * (fx * fx + fy * fy + bx * bx + by * by) + 0.5
    x = np.arange(w, dtype=np.float32) + bx
    y = np.arange(h, dtype=np.float32)[:, None] + by
    # Pixel extent, not centres: else a still frame's -0.01 px of flow noise
    # at the left edge would count as coming from outside.
    inside = (y >= -0.5) & (y <= h - 0.5)
    if not wrap_x:
        inside &= (x >= -0.5) & (x <= w - 0.5)
    return (lhs < rhs) & inside


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
