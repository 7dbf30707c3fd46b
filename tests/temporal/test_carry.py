"""Carrying the dream: per-pixel step weights, the full budget for revealed pixels, the strength cap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor
from dreamvideo.dream.objectives import layer_energy
from dreamvideo.temporal.carry import MAX_RAISE, carry_weights, detail_strength, hold_strength, refine
from dreamvideo.temporal.shot import ShotCarry
from dreamvideo.temporal.flow import flow_pair

from ..clips import camera_path, occluder


def dreamer(model, **overrides) -> Dreamer:
    settings = DreamSettings(**{"device": "cpu", "base_width": 96, "steps": 4, "seed": 3, **overrides})
    return Dreamer(model, layer_energy("blocks.6"), settings)


@pytest.fixture(scope="module")
def frame() -> torch.Tensor:
    return image_to_tensor(camera_path(1).frames[0][:64, :96])  # (1, 3, 64, 96), a real view


def test_step_weight_zero_leaves_pixels_and_one_is_no_weight(lite0, frame):
    d = dreamer(lite0)
    weight = torch.ones((1, 1, 64, 96))
    weight[..., :, :48] = 0
    dreamed = d.dream(frame, frame_index=1, step_weight=weight)
    assert torch.equal(dreamed[..., :, :40], frame[..., :, :40])  # left of the resampling's reach
    assert (dreamed[..., :, 56:] - frame[..., :, 56:]).abs().mean() > 0.01
    assert torch.equal(d.dream(frame, frame_index=1, step_weight=torch.ones((1, 1, 64, 96))), d.dream(frame, frame_index=1))


def test_revealed_pixels_get_the_full_budget(lite0, frame):
    # Carried everywhere but a strip on the right, as when a pan brings in new content.
    d = dreamer(lite0, steps=10)
    full = d.dream(frame, frame_index=2)
    keep = torch.ones((1, 1, 64, 96))
    keep[..., 80:] = 0
    start = (frame + ShotCarry.start(full - frame).follow(torch.zeros(1, 2, 64, 96), keep, 1.0).detail).clamp(0, 1)
    refined = refine(d, start, keep, refine_steps=1, frame_index=3)
    strength = (refined - frame).abs().mean(dim=(0, 1))
    revealed, carried = float(strength[:, 84:].mean()), float(strength[:, :72].mean())
    assert revealed > 0.8 * carried, (revealed, carried)
    # With the refine step only, the strip would be much weaker.
    only_refined = d.dream(start, steps=1, frame_index=3)
    only = float((only_refined - frame).abs().mean(dim=(0, 1))[:, 84:].mean())
    assert only < 0.6 * revealed, (only, revealed)


def test_hold_strength_scales_to_the_target_and_raises_a_bounded_amount(frame):
    detail = torch.full_like(frame, 0.1) * torch.sign(0.5 - frame)
    dreamed = (frame + detail).clamp(0, 1)
    level = detail_strength(dreamed, frame)
    lowered, lowered_by = hold_strength(dreamed, frame, level / 2)
    assert detail_strength(lowered, frame) == pytest.approx(level / 2, rel=1e-4)
    raised, _ = hold_strength(dreamed, frame, level * 1.2)
    assert detail_strength(raised, frame) == pytest.approx(level * 1.2, rel=1e-3)
    at_most, _ = hold_strength(dreamed, frame, level * 10)  # a frame far too weak is raised MAX_RAISE
    assert detail_strength(at_most, frame) <= level * MAX_RAISE + 1e-6
    for held in (lowered, raised, at_most):
        assert held.min() >= 0 and held.max() <= 1
    assert lowered_by == pytest.approx(0.5, rel=1e-4)
    unchanged, factor = hold_strength(dreamed, frame, level)
    assert torch.equal(unchanged, dreamed) and factor == 1.0


def test_keep_is_sharp_where_content_enters_the_frame():
    """A camera turning right: new content enters at the right edge. Only the pixels coming from
    outside are dreamed afresh there (keep 0), their neighbours are kept whole (the erosion and
    blur are for occlusion boundaries inside the picture); a sliding occluder still gets them."""
    frames = camera_path(2).frames
    back, forward = flow_pair(frames[0], frames[1], scale=1)
    keep, cut = carry_weights(frames[0], frames[1], back, forward)
    entering = np.arange(keep.shape[1]) + back[..., 0] > keep.shape[1] - 0.5
    rows = slice(8, -8)  # away from the top and bottom edges, which the sway also moves
    assert not cut and entering[rows, -1].all() and not entering[:, :-8].any()
    assert (keep[entering] == 0).all()
    beside = ~entering[rows] & (np.arange(keep.shape[1]) >= keep.shape[1] - 12)
    assert keep[rows][beside].min() > 0.9

    clip = occluder()
    t = 6
    back, forward = flow_pair(clip.frames[t - 1], clip.frames[t], scale=1)
    keep, _ = carry_weights(clip.frames[t - 1], clip.frames[t], back, forward)
    soft = (keep > 0.05) & (keep < 0.95)
    assert soft[8:-8, 8:-8].sum() > 20  # the occluder's edges are eroded and blurred as before
