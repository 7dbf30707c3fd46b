from __future__ import annotations

import numpy as np
import pytest

from dreamvideo.temporal.cuts import CutEvidence, cut_evidence, is_scene_cut
from dreamvideo.temporal.flow import FLOW_METHODS, flow_pair
from dreamvideo.temporal.occlusion import consistency_mask

from .conftest import PHOTOS


def check(prev: np.ndarray, cur: np.ndarray, method: str) -> tuple[bool, CutEvidence]:
    """Run the cut check as the pipeline does: flow at half size, then the mask."""
    flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, method=method, scale=0.5)
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
    return (
        is_scene_cut(prev, cur, flow_cur_to_prev, mask),
        cut_evidence(prev, cur, flow_cur_to_prev, mask),
    )


def origin(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1] * 0.3), int(image.shape[0] * 0.3)


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("name", PHOTOS)
def test_fast_pan_is_not_a_cut(photos, crop, name, method):
    # 12 pixels a frame on 128: a tenth of the frame width per frame.
    x, y = origin(photos[name])
    cut, evidence = check(crop(photos[name], x, y), crop(photos[name], x + 12, y + 4), method)
    assert not cut, evidence


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("name", PHOTOS)
def test_zoom_is_not_a_cut(photos, crop, name, method):
    x, y = origin(photos[name])
    cut, evidence = check(crop(photos[name], x, y), crop(photos[name], x, y, zoom=1.1), method)
    assert not cut, evidence


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize(
    "before, after",
    [
        ("astronaut", "coffee"),
        ("coffee", "chelsea"),
        ("chelsea", "rocket"),
        ("rocket", "astronaut"),
    ],
)
def test_hard_cut_between_shots_fires(photos, crop, before, after, method):
    a, b = photos[before], photos[after]
    prev = crop(a, a.shape[1] // 3, a.shape[0] // 3)
    cur = crop(b, b.shape[1] // 3, b.shape[0] // 4)
    cut, evidence = check(prev, cur, method)
    assert cut, evidence
    assert evidence.matched < 0.35 and evidence.histogram_distance > 0.5


def test_still_frame_is_fully_explained(photos, crop):
    frame = crop(photos["coffee"], 200, 100)
    cut, evidence = check(frame, frame, "farneback")
    assert not cut
    assert evidence.matched > 0.97 and evidence.histogram_distance == pytest.approx(0, abs=1e-6)


def test_thresholds_are_options(photos, crop):
    x, y = origin(photos["astronaut"])
    prev, cur = crop(photos["astronaut"], x, y), crop(photos["astronaut"], x + 12, y)
    flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, method="dis")
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
    assert not is_scene_cut(prev, cur, flow_cur_to_prev, mask)
    assert is_scene_cut(
        prev, cur, flow_cur_to_prev, mask, max_matched=1.01, min_histogram_distance=-1
    )


def test_shape_mismatch_raises(photos, crop):
    frame = crop(photos["coffee"], 200, 100)
    flow = np.zeros((128, 128, 2), np.float32)
    with pytest.raises(ValueError, match="one shape"):
        cut_evidence(frame, frame[:64], flow, np.ones((128, 128), bool))
    with pytest.raises(ValueError, match="mask"):
        cut_evidence(frame, frame, flow, np.ones((64, 64), bool))
