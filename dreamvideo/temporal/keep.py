"""Which pixels of the current frame keep the previous dream, and whether it starts a new shot.

:func:`carry_weights` was part of ``carry``; it lives here because it needs only numpy and
OpenCV (through ``occlusion`` and ``cuts``): the flow worker processes call it ahead of the
dream (``flow.flow_evidence``) and must not load torch. ``carry`` re-exports it.
"""

from __future__ import annotations

import numpy as np

from .cuts import is_scene_cut
from .occlusion import carry_mask, consistency_mask, from_inside, soften_mask

__all__ = ["carry_weights"]


def carry_weights(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_cur_to_prev: np.ndarray,
    flow_prev_to_cur: np.ndarray,
    *,
    wrap_x: bool = False,
) -> tuple[np.ndarray, bool]:
    """How much of the previous dream each pixel of ``cur`` keeps, and whether ``cur`` starts a new shot.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)``.
        cur: current source frame, same shape.
        flow_cur_to_prev, flow_prev_to_cur: float32 ``(H, W, 2)`` in pixels.
        wrap_x: the left and right edges are neighbours (equirect).

    Returns:
        ``(keep, cut)``: float32 ``(H, W)`` in [0, 1] (the consistency and photometric checks,
        eroded and blurred by :func:`~.occlusion.soften_mask` inside the picture, cut sharply
        where content enters at its border; zeros at a cut), and the cut decision
        (:func:`~.cuts.is_scene_cut`).
    """
    inside = from_inside(flow_cur_to_prev, wrap_x=wrap_x)
    consistent = consistency_mask(flow_cur_to_prev, flow_prev_to_cur, wrap_x=wrap_x, inside=inside)
    if is_scene_cut(prev, cur, flow_cur_to_prev, consistent):
        return np.zeros(cur.shape[:2], np.float32), True
    carried = carry_mask(prev, cur, flow_cur_to_prev, flow_prev_to_cur, consistent=consistent, wrap_x=wrap_x)
    # The frame's border is no occlusion boundary: eroding and blurring there, as next to an
    # occluder, dreamed a band of well-carried pixels afresh beside what enters the frame at
    # every step of a camera move (benchmarks/coherence.py: camera path 0.335 -> 0.329 warp
    # ratio at 0.887 -> 0.916 strength ratio, sample pan 0.253 -> 0.248; no clip worse).
    return soften_mask(carried | ~inside, wrap_x=wrap_x) * inside, False
