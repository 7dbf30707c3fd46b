from __future__ import annotations

import numpy as np
import pytest

from dreamvideo.temporal.flow import flow_pair
from dreamvideo.temporal.occlusion import blend_mask, carry_mask, consistency_mask, photometric_mask, soften_mask

from ..clips import camera_path, occluder, panorama, view

SIZE, SIDE, TOP, LEFT, STEP = 128, 32, 48, 40, 8


@pytest.fixture
def object_over_background(photos, crop):
    """A 32-pixel patch moving STEP pixels right over a still background.

    Returns ``prev, cur, disoccluded``: the background that the patch
    uncovers in ``cur`` is ``disoccluded`` (bool, on cur's grid).
    """
    background = crop(photos["coffee"], 200, 100, SIZE)
    patch = crop(photos["astronaut"], 150, 150, SIDE)

    def frame(left: int) -> np.ndarray:
        out = background.copy()
        out[TOP : TOP + SIDE, left : left + SIDE] = patch
        return out

    disoccluded = np.zeros((SIZE, SIZE), bool)
    disoccluded[TOP : TOP + SIDE, LEFT : LEFT + STEP] = True
    return frame(LEFT), frame(LEFT + STEP), disoccluded


def object_flows() -> tuple[np.ndarray, np.ndarray]:
    """The true flows of :func:`object_over_background`."""
    flow_cur_to_prev = np.zeros((SIZE, SIZE, 2), np.float32)
    flow_cur_to_prev[TOP : TOP + SIDE, LEFT + STEP : LEFT + STEP + SIDE, 0] = -STEP
    flow_prev_to_cur = np.zeros((SIZE, SIZE, 2), np.float32)
    flow_prev_to_cur[TOP : TOP + SIDE, LEFT : LEFT + SIDE, 0] = STEP
    return flow_cur_to_prev, flow_prev_to_cur


def uniform(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_true_flows_mark_exactly_the_disoccluded_region(object_over_background):
    *_, disoccluded = object_over_background
    mask = consistency_mask(*object_flows())
    assert mask.dtype == bool and mask.shape == (SIZE, SIZE)
    assert np.array_equal(mask, ~disoccluded)


def test_estimated_flow_finds_the_disocclusion(object_over_background):
    # Full size: at half size this 8-pixel strip is 4 pixels, below DIS's patches.
    # Farneback smooths across the patch's edge and finds only part of it.
    prev, cur, disoccluded = object_over_background
    mask = consistency_mask(*flow_pair(prev, cur, method="dis", scale=1.0))
    assert (~mask[disoccluded]).mean() > 0.8
    assert mask[~disoccluded].mean() > 0.9
    assert mask[TOP + 2 : TOP + SIDE - 2, LEFT + STEP + 2 : LEFT + STEP + SIDE - 2].all()


def test_content_from_outside_the_frame_is_inconsistent():
    # cur(x) = prev(x - 6, y + 4): the left columns and bottom rows come from outside.
    mask = consistency_mask(uniform(64, 80, -6, 4), uniform(64, 80, 6, -4))
    expected = np.zeros((64, 80), bool)
    expected[:-4, 6:] = True
    assert np.array_equal(mask, expected)


@pytest.mark.parametrize(
    "motion, error, consistent",
    [(2, 0.7, True), (2, 0.8, False), (40, 6.0, True), (40, 7.0, False)],
)
def test_threshold_grows_with_the_motion(motion, error, consistent):
    # |f + b|² = error² against 0.01 (|f|² + |b|²) + 0.5.
    mask = consistency_mask(uniform(8, 64, -motion, 0), uniform(8, 64, motion + error, 0))
    assert mask[4, 50] == consistent


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="one shape"):
        consistency_mask(uniform(8, 8, 0, 0), uniform(8, 9, 0, 0))


def test_blend_mask_is_soft_and_shrinks_the_hole(object_over_background):
    *_, disoccluded = object_over_background
    soft = blend_mask(*object_flows(), erode=2, sigma=1.5)
    assert soft.dtype == np.float32 and soft.shape == (SIZE, SIZE)
    assert soft.min() >= 0 and soft.max() <= 1
    assert soft[TOP + SIDE // 2, LEFT + STEP // 2] == pytest.approx(0, abs=1e-3)
    assert soft[10, 10] == pytest.approx(1)
    edge = soft[TOP + SIDE // 2, LEFT + STEP : LEFT + STEP + 6]
    assert np.all(np.diff(edge) >= 0) and 0 < edge[1] < 1  # a ramp, not a step
    hard = blend_mask(*object_flows(), erode=0, sigma=0)
    assert np.array_equal(hard, (~disoccluded).astype(np.float32))
    assert np.array_equal(soften_mask(~disoccluded), soft)


# ---------------------------------------------------------------------------
# the photometric check


def test_photometric_check_refuses_what_the_occluder_uncovers():
    # Farneback drags the occluder's flow over what it uncovers, and that flow passes the
    # consistency check: the sources tell.
    clip = occluder()
    caught_by_flow, caught = [], []
    for i in range(1, len(clip.frames)):
        prev, cur, revealed = clip.frames[i - 1], clip.frames[i], clip.revealed[i]
        flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, scale=0.5)
        consistent = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
        carried = carry_mask(prev, cur, flow_cur_to_prev, flow_prev_to_cur)
        assert not (carried & ~consistent).any()
        caught_by_flow.append((~consistent[revealed]).mean())
        caught.append((~carried[revealed]).mean())
    assert np.mean(caught_by_flow) < 0.1 and np.mean(caught) > 0.5, (caught_by_flow, caught)  # 0.013, 0.63


def test_photometric_check_keeps_a_pan_with_true_flow():
    pano = panorama("workshop")
    prev, cur = view(pano, 10.0), view(pano, 10.0, 3.0)
    flow_cur_to_prev, _ = flow_pair(prev, cur, scale=1.0)
    keep = photometric_mask(prev, cur, flow_cur_to_prev)
    assert keep.dtype == bool and keep.shape == cur.shape[:2]
    assert keep.mean() > 0.95


def test_photometric_check_ignores_noise_and_exposure():
    frame = camera_path(1).frames[0]
    rng = np.random.default_rng(0)
    noisy = np.clip(frame * 0.6 + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)  # darker, noisy
    still = np.zeros((*frame.shape[:2], 2), np.float32)
    assert photometric_mask(frame, noisy, still).mean() > 0.97
    other = view(panorama("workshop"), 150.0)  # something else entirely
    assert photometric_mask(frame, other, still).mean() < 0.6
