"""Scene-cut detection: is the current frame explained by warping the previous source?

After a cut the previous dream has nothing to give: the pipeline starts the
frame afresh (full ``--steps``) instead of refining a warped dream.

A frame is a cut when most of its textured pixels cannot be explained by the
previous source frame warped onto it, whatever the colours say: two shots of
one grey street have the same histograms. "Explained" is measured with a local
normalised cross-correlation (NCC, 9x9 windows of blurred luminance, after
matching the global exposure) between the frame and the warped previous frame:
a pixel is explained where the correlation exceeds 0.7 (and, for the flow, the
flow is consistent). NCC ignores gain and offset, so fades and exposure changes
stay explained; unrelated texture correlates about 0.

Two warps are tried and the better one counts, because Farneback misplaces much
of a whip pan: the flow, and the single shift that phase correlation finds
(a pan). Only textured pixels (local standard deviation above 3 grey levels in
either frame) are evidence; a frame with less than 5 % textured pixels (black,
fog) is never a cut.

Frames wider than 256 px are measured at 256 px wide (area-averaged), so
the thresholds hold at any resolution and the check costs little at 4K.

Only pixels that a warp can explain at all are counted: for the shift, those
inside the overlap of the two frames (where the shifted previous frame has a
source); for the flow, those where it is consistent. A warp that can speak for
less than a third of the textured pixels still has its explained pixels counted
against a third of them, so a flow consistent almost nowhere, or a shift that
leaves a sliver of overlap, cannot explain a frame by itself. OpenCV is never
handed an array that is used afterwards: ``phaseCorrelate`` windowed its inputs
in place up to OpenCV 5.0, and the figures behind the first thresholds were,
unknowingly, measured on such windowed frames.

The figures behind ``MAX_EXPLAINED`` (0.40), from ``benchmarks/cuts.py``: 272
frame pairs within a shot and 78 across cuts at 128x72 and 128x128 (views along
paths over two panoramas, pans of 0.5-12 degrees a frame, zooms, tilts, the test
clips: a camera path, a whip pan, a moving occluder, a cross-fade, fades to
black; crops of four photos panned by 12 and 20 px and zoomed by 1.1; cuts
between views of one panorama 60-200 degrees apart, between crops of one photo
and between photos), each raw and JPEG-compressed at quality 50, Farneback and
DIS at half size, identical on OpenCV 4.8, 5.0 and 5.1:

- within a shot the explained fraction is at least 0.51 (a 1.1 zoom of the
  rocket photo, whose flow is consistent on half of it), 0.54 for 12 degree
  pans over a panorama (about 17 px a frame, explained by the shift), 0.59 on
  the occluder clip;
- across a cut it is at most 0.27 (two photos whose flow lines up by chance on
  a quarter of the frame), 0.12 between views of one panorama.

The flow alone explains at most 0.15 of a 12-degree pan (Farneback at half
size misplaces it): the shift rescues the pans.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .occlusion import luminance, match_exposure
from .warp import warp_array

__all__ = ["MAX_EXPLAINED", "CutEvidence", "cut_evidence", "explained_fraction", "is_scene_cut"]

MAX_EXPLAINED = 0.40
_WORK_WIDTH = 256
_MIN_CORRELATION = 0.7
_WINDOW = 9
_TEXTURE = 3.0  # grey levels of local standard deviation
_MIN_TEXTURED = 0.05
_MIN_COUNTED = 1 / 3  # a warp's explained pixels count against at least this fraction of the textured ones


@dataclass(frozen=True)
class CutEvidence:
    """What :func:`is_scene_cut` decides on.

    Attributes:
        flow_explained: fraction in [0, 1] of the textured pixels of the current
            frame that the previous one, warped along the flow, explains.
        shift_explained: the same for the previous frame shifted by the global
            translation that phase correlation finds.
        shift: that translation ``(dx, dy)`` in pixels, as ``flow_cur_to_prev``.
    """

    flow_explained: float
    shift_explained: float
    shift: tuple[float, float]

    @property
    def explained(self) -> float:
        """The better of the two explanations."""
        return max(self.flow_explained, self.shift_explained)


def explained_fraction(cur_grey: np.ndarray, warped_grey: np.ndarray, valid: np.ndarray) -> float:
    """Fraction of the textured pixels of ``cur_grey`` where the warp is valid that ``warped_grey`` explains.

    Pixels outside ``valid`` cannot be explained by this warp, so they are not
    counted; but the count is at least a third of all textured pixels.

    Args:
        cur_grey: float32 ``(H, W)`` luminance of the current frame (:func:`~.occlusion.luminance`).
        warped_grey: float32 ``(H, W)``, the previous luminance warped onto the current grid.
        valid: bool ``(H, W)``: pixels where the warp is trusted (consistent, inside the frame).

    Returns:
        In [0, 1]; 1 when less than 5 % of the pixels are textured (no evidence).
    """
    warped = match_exposure(cur_grey, warped_grey, valid)
    window = (_WINDOW, _WINDOW)
    mean_c, mean_w = cv2.blur(cur_grey, window), cv2.blur(warped, window)
    var_c = np.maximum(cv2.blur(cur_grey * cur_grey, window) - mean_c * mean_c, 0)
    var_w = np.maximum(cv2.blur(warped * warped, window) - mean_w * mean_w, 0)
    covariance = cv2.blur(cur_grey * warped, window) - mean_c * mean_w
    correlation = covariance / (np.sqrt(var_c * var_w) + 1e-6)
    textured = np.maximum(var_c, var_w) > _TEXTURE**2
    if textured.mean() < _MIN_TEXTURED:
        return 1.0
    counted = textured & valid
    explained = np.count_nonzero(counted & (correlation > _MIN_CORRELATION))
    return float(explained / max(np.count_nonzero(counted), _MIN_COUNTED * np.count_nonzero(textured)))


def cut_evidence(
    prev: np.ndarray, cur: np.ndarray, flow_cur_to_prev: np.ndarray, mask: np.ndarray
) -> CutEvidence:
    """Measure how well the previous frame explains the current one.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)``.
        cur: current source frame, uint8 RGB ``(H, W, 3)``.
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        mask: bool ``(H, W)`` from :func:`~dreamvideo.temporal.occlusion.consistency_mask`.

    Returns:
        The evidence, see :class:`CutEvidence`.
    """
    if prev.shape != cur.shape or prev.ndim != 3 or prev.shape[2] != 3:
        raise ValueError(f"expected two RGB frames of one shape, got {prev.shape} and {cur.shape}")
    if mask.shape != cur.shape[:2]:
        raise ValueError(f"mask of shape {mask.shape} does not fit frames of shape {cur.shape}")
    if cur.shape[1] > _WORK_WIDTH:
        prev, cur, flow_cur_to_prev, mask = _shrink(prev, cur, flow_cur_to_prev, mask)
    grey_prev, grey_cur = luminance(prev), luminance(cur)
    h, w = grey_cur.shape
    flow_explained = explained_fraction(grey_cur, warp_array(grey_prev, flow_cur_to_prev), mask)

    # Copies: OpenCV up to 5.0 multiplies phaseCorrelate's inputs by the window in place.
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (sx, sy), _ = cv2.phaseCorrelate(grey_prev.copy(), grey_cur.copy(), window)
    shift = np.empty((h, w, 2), np.float32)
    shift[..., 0], shift[..., 1] = -sx, -sy  # phase correlation gives the content's motion, prev -> cur
    x = np.arange(w, dtype=np.float32) - sx
    y = np.arange(h, dtype=np.float32)[:, None] - sy
    inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    shift_explained = explained_fraction(grey_cur, warp_array(grey_prev, shift), inside)
    return CutEvidence(flow_explained, shift_explained, (float(-sx), float(-sy)))


def _shrink(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> tuple:
    """The frames, flow (in the new pixels) and mask at ``_WORK_WIDTH`` pixels wide."""
    h, w = cur.shape[:2]
    size = (_WORK_WIDTH, max(1, round(h * _WORK_WIDTH / w)))
    sx, sy = size[0] / w, size[1] / h
    small_flow = cv2.resize(flow, size, interpolation=cv2.INTER_AREA) * np.float32([sx, sy])
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    prev, cur = (cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in (prev, cur))
    return prev, cur, small_flow.astype(np.float32), small_mask


def is_scene_cut(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_cur_to_prev: np.ndarray,
    mask: np.ndarray,
    *,
    max_explained: float = MAX_EXPLAINED,
) -> bool:
    """Decide whether ``cur`` starts a new shot: less than ``max_explained`` of it is explained.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)``.
        cur: current source frame, uint8 RGB ``(H, W, 3)``.
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        mask: bool ``(H, W)`` consistency mask of the same flow pair.
        max_explained: a cut has less than this fraction of its textured pixels explained.

    Returns:
        True when ``cur`` starts a new shot.
    """
    return cut_evidence(prev, cur, flow_cur_to_prev, mask).explained < max_explained
