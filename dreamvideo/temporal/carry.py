"""Carrying the dream from one frame to the next: what is kept, how it is refined, how strong it stays.

A frame after the first (and not after a cut) starts from its source plus the
previous frame's dream detail, carried along ``flow_cur_to_prev`` and kept where
:func:`~.occlusion.carry_mask` allows (:func:`carry_weights`; how the detail is
carried, sampled once per shot rather than warped every frame: :mod:`.shot`).
:func:`refine` then dreams it: carried pixels get ``refine_steps`` at
``REFINE_WEIGHT`` of the step size, pixels not carried (``keep`` near 0:
disocclusions, things entering the frame) get the first frame's full budget,
so the dream is as strong there as anywhere. :func:`hold_strength` holds the
dream at the strength of its shot's first frame.

Why these choices (in-process on the sample clip's first shot, and on its first
frame repeated 32 times; ``benchmarks/coherence.py`` gives the encoded figures):
with the old scheme (10 % of the detail dropped each frame, two full refine
steps, bilinear warp) a *still* frame's dream changes by 7.2 grey levels a frame
(0.34x the independent dreams' warp error): the dropped detail is restored by
new steps, which never land where the old ones did. Jitter is not the cause
(without it the pan's warp error moved by 2 %). Carrying all the detail (blend
1) with one refine step at a quarter of the step size gives 1.3 (0.06x) at the
same strength. Carrying everything would grow without bound (1.58x the strength
after 32 still frames with full-size refine steps), so the strength is held at
the shot's first frame. A quarter step rather than a half: camera path 0.367x
at 0.87x strength against 0.384x at 0.91x.

Until issue 19 the detail was warped bilinearly every frame (what follows), and
:func:`hold_strength` scales weak frames up as well as strong ones down. A
bilinear warp softens detail at every sub-pixel shift, and alone it lost the
strength (camera path 0.260x at 0.61x); a bicubic one keeps the detail sharp (0.329x at 0.92x) but differs from the bilinear warp every
warp-error measure uses (DESIGN's metric, the issue's reference loop), by about
one grey level on the 128 px clips. Bilinear with the strength held
(``benchmarks/coherence.py``, warp ratio at strength ratio): camera path 0.294x
at 0.97x, sample pan 0.207x at 0.91x (0.248x at 0.94x bicubic), cross-fade
0.445x at 0.98x (0.453x at 0.85x). What it costs: the detail is softer. Its
mean |Laplacian| over its mean magnitude on the pan settles at 2.2-2.3 after 20
frames, against 2.8 with the bicubic carry and 3.4 for independent dreams; the
raise per frame is 1.01-1.24x there (bounded by ``MAX_RAISE``).

The extra steps for revealed pixels cost: on the test clips' camera path, where
something enters at every edge every frame, the crop is the whole frame and a
frame costs the full ``--steps``; on the sample pan (one edge) about half of that.
A panorama is not cropped (its views see the whole sphere): its extra steps compute
only the views and tiles that see revealed pixels (``Dreamer.dream``'s ``sparse``;
DESIGN, Speed).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from ..dream.ascent import NEED_WEIGHT, Dreamer
from .keep import carry_weights

__all__ = [
    "REFINE_WEIGHT",
    "MAX_RAISE",
    "REVEALED",
    "carry_weights",
    "detail_strength",
    "hold_strength",
    "refine",
]

REFINE_WEIGHT = 0.25  # carried pixels' share of each refine step (step size times this)
REVEALED = 0.5  # a pixel whose keep weight is below this is dreamed with the full budget
MAX_RAISE = 1.5  # hold_strength raises a frame's detail at most this much
_MARGIN = 24  # pixels of context around the revealed region for its extra steps


def refine(dreamer: Dreamer, start: Tensor, keep: Tensor, *, refine_steps: int, frame_index: int) -> Tensor:
    """Dream a carried frame: ``refine_steps`` everywhere, the full ``--steps`` where nothing was carried.

    Carried pixels move ``REFINE_WEIGHT`` of a step each refine step; pixels with ``keep`` < 1 move
    more, up to a full step. Where ``keep`` < ``REVEALED`` somewhere, ``steps - refine_steps`` more
    steps follow, weighted by ``1 - keep``, on a crop around those pixels with a margin of context
    (the whole frame for a projection other than flat, where the Dreamer computes only the views
    and tiles that see them: ``Dreamer.dream``'s ``sparse``): the pyramid of the crop has the
    frame's octave scales, so the dream there looks as it does elsewhere.

    Args:
        dreamer: the ``Dreamer``.
        start: ``(1, 3, H, W)``: the source plus the carried detail (``Carried.detail``), clamped to [0, 1].
        keep: ``(1, 1, H, W)`` in [0, 1].
        refine_steps: ``--refine-steps``.
        frame_index: the frame's index (its random stream).

    Returns:
        ``(1, 3, H, W)`` in [0, 1].
    """
    fresh = 1 - keep
    weight = REFINE_WEIGHT * keep + fresh
    dreamed = dreamer.dream(start, steps=refine_steps, frame_index=frame_index, step_weight=weight)
    extra = dreamer.settings.steps - refine_steps
    if extra <= 0 or float(fresh.max()) <= 1 - REVEALED:
        return dreamed
    flat = dreamer.projection.name == "flat"
    if flat:
        (y0, y1), (x0, x1) = _box(fresh[0, 0] > NEED_WEIGHT, dreamer.model.spec.min_size)
    else:
        (y0, y1), (x0, x1) = (0, start.shape[-2]), (0, start.shape[-1])
    crop_dreamer = _crop_dreamer(dreamer, x1 - x0, start.shape[-1])
    part = crop_dreamer.dream(
        dreamed[..., y0:y1, x0:x1],
        steps=extra,
        frame_index=frame_index,
        step_weight=fresh[..., y0:y1, x0:x1],
        sparse=not flat,
    )
    dreamed = dreamed.clone()
    dreamed[..., y0:y1, x0:x1] = part
    return dreamed


def detail_strength(dreamed: Tensor, source: Tensor) -> float:
    """Mean ``|dreamed - source|`` on the [0, 1] scale."""
    return float((dreamed - source).abs().mean())


def hold_strength(dreamed: Tensor, source: Tensor, target: float) -> tuple[Tensor, float]:
    """Scale the detail to ``target`` strength (see :func:`detail_strength`): down, or up by at
    most ``MAX_RAISE``; clamped to [0, 1] (where raised).

    Returns:
        The held frame, and the factor its strength changed by (1: unchanged).
    """
    level = detail_strength(dreamed, source)
    if level == target or level == 0:
        return dreamed, 1.0
    scale = min(target / level, MAX_RAISE)
    held = source + (dreamed - source) * scale
    if scale >= 1:
        held = held.clamp(0, 1)
    return held, detail_strength(held, source) / level


def _box(mask: Tensor, min_side: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The bounding box ``((y0, y1), (x0, x1))`` of ``mask`` ``(H, W)``, grown by ``_MARGIN``
    and to at least ``min_side`` a side, within the frame."""
    spans = []
    for axis, length in ((1, mask.shape[0]), (0, mask.shape[1])):
        idx = torch.nonzero(mask.any(dim=axis))
        lo, hi = max(0, int(idx.min()) - _MARGIN), min(length, int(idx.max()) + 1 + _MARGIN)
        need = min(min_side, length) - (hi - lo)
        if need > 0:
            lo = max(0, lo - need)
            hi = min(length, lo + min(min_side, length))
        spans.append((lo, hi))
    return spans[0], spans[1]


def _crop_dreamer(dreamer: Dreamer, crop_width: int, width: int) -> Dreamer:
    """A Dreamer whose pyramid on a ``crop_width`` crop has the octave scales of the ``width`` frame."""
    s = dreamer.settings
    if crop_width == width or s.pyramid != "anchored":
        return dreamer  # the classic pyramid's scales do not depend on the size
    settings = dataclasses.replace(s, base_width=max(1, round(s.base_width * crop_width / width)))
    return Dreamer(dreamer.model, dreamer.objective, settings, grey=dreamer.grey, projection=dreamer.projection)
