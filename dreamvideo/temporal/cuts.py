"""Scene-cut detection from the flow check and the motion-compensated difference.

After a cut the previous dream has nothing to give: the pipeline starts the
frame afresh (full ``--steps``) instead of refining a warped dream.

Two kinds of evidence must agree, because each alone is fooled by something:

- ``matched``: the fraction of the current frame that the previous one
  explains, i.e. pixels that pass the consistency check *and* whose grey
  value the warped previous frame reproduces. The check alone is not enough:
  Farneback returns smooth, self-consistent flow between unrelated images
  (15-80 % of pixels pass on the cuts we tried). ``matched`` is low after a
  cut, but also in a whip pan or zoom too fast for the flow.
- ``histogram_distance``: how different the colours of the two frames are
  (Bhattacharyya distance of 8x8x8 RGB histograms), which motion hardly
  changes: at most 0.23 on pans up to 10 % of the frame width per frame and
  zooms up to 1.2x per frame over photos and panoramas (0.30 on whip pans of
  30 %), at least 0.55 on cuts between different photos and 0.36 on cuts
  between two views of one panorama.

A cut between two shots with the same palette (two crops of one photo, 0.26)
is missed; its inconsistent pixels are still dreamed afresh through the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .warp import warp_array

__all__ = ["CutEvidence", "cut_evidence", "is_scene_cut"]

# Grey levels (0-255) within which the warped previous frame "reproduces" a pixel.
_MATCH_TOLERANCE = 16


@dataclass(frozen=True)
class CutEvidence:
    """What :func:`is_scene_cut` decides on.

    Attributes:
        matched: fraction in [0, 1] of current pixels that are consistent and
            match the warped previous frame within 16 grey levels.
        histogram_distance: Bhattacharyya distance in [0, 1] between the
            frames' RGB histograms; 0 for the same colours.
    """

    matched: float
    histogram_distance: float


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
    grey_prev = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
    grey_cur = cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY)
    residual = cv2.absdiff(warp_array(grey_prev, flow_cur_to_prev), grey_cur)
    matched = float(np.mean(mask & (residual < _MATCH_TOLERANCE)))
    hist_prev, hist_cur = (
        cv2.calcHist([frame], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3) for frame in (prev, cur)
    )
    distance = cv2.compareHist(hist_prev, hist_cur, cv2.HISTCMP_BHATTACHARYYA)
    return CutEvidence(matched=matched, histogram_distance=float(distance))


def is_scene_cut(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_cur_to_prev: np.ndarray,
    mask: np.ndarray,
    *,
    max_matched: float = 0.4,
    min_histogram_distance: float = 0.3,
) -> bool:
    """Decide whether ``cur`` starts a new shot.

    A cut needs both: little of ``cur`` explained by the warped ``prev``, and
    different colours. Either alone fires on fast pans and zooms.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)``.
        cur: current source frame, uint8 RGB ``(H, W, 3)``.
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        mask: bool ``(H, W)`` consistency mask of the same flow pair.
        max_matched: a cut has less than this fraction of matched pixels.
        min_histogram_distance: a cut has more than this colour distance.

    Returns:
        True when ``cur`` starts a new shot.
    """
    evidence = cut_evidence(prev, cur, flow_cur_to_prev, mask)
    return evidence.matched < max_matched and evidence.histogram_distance > min_histogram_distance
