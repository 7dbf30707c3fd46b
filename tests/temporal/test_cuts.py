from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamvideo.temporal.cuts import MAX_EXPLAINED, CutEvidence, cut_evidence, is_scene_cut
from dreamvideo.temporal.flow import FLOW_METHODS, flow_pair
from dreamvideo.temporal.occlusion import consistency_mask

from ..clips import camera_path, crossfade, fast_pan, occluder, panorama, similar_cut, view
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
    # The worst of benchmarks/cuts.py's cuts: two photos whose flow lines up by chance on 0.26 of the frame.
    assert evidence.flow_explained < 0.3


def test_still_frame_is_fully_explained(photos, crop):
    frame = crop(photos["coffee"], 200, 100)
    cut, evidence = check(frame, frame, "farneback")
    assert not cut
    assert evidence.flow_explained > 0.97 and evidence.shift == pytest.approx((0, 0), abs=0.05)


def test_thresholds_are_options(photos, crop):
    x, y = origin(photos["astronaut"])
    prev, cur = crop(photos["astronaut"], x, y), crop(photos["astronaut"], x + 12, y)
    flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, method="dis")
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
    assert not is_scene_cut(prev, cur, flow_cur_to_prev, mask)
    assert is_scene_cut(prev, cur, flow_cur_to_prev, mask, max_explained=1.01)


def test_the_check_does_not_depend_on_opencv_writing_into_its_inputs(photos, crop, monkeypatch):
    # OpenCV up to 5.0 multiplied phaseCorrelate's inputs by the window in place; 5.1 does not.
    x, y = origin(photos["rocket"])
    prev, cur = crop(photos["rocket"], x, y), crop(photos["rocket"], x + 12, y + 4)
    flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, scale=0.5)
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
    kept = prev.copy(), cur.copy(), flow_cur_to_prev.copy(), mask.copy()
    clean = cut_evidence(prev, cur, flow_cur_to_prev, mask)
    for before, after in zip(kept, (prev, cur, flow_cur_to_prev, mask)):
        np.testing.assert_array_equal(before, after)

    phase_correlate = cv2.phaseCorrelate

    def windowing_in_place(a, b, window=None):
        result = phase_correlate(a, b, window)
        a *= window
        b *= window
        return result

    monkeypatch.setattr(cv2, "phaseCorrelate", windowing_in_place)
    assert cut_evidence(prev, cur, flow_cur_to_prev, mask) == clean


def test_shape_mismatch_raises(photos, crop):
    frame = crop(photos["coffee"], 200, 100)
    flow = np.zeros((128, 128, 2), np.float32)
    with pytest.raises(ValueError, match="one shape"):
        cut_evidence(frame, frame[:64], flow, np.ones((128, 128), bool))
    with pytest.raises(ValueError, match="mask"):
        cut_evidence(frame, frame, flow, np.ones((64, 64), bool))


def cuts_in(frames: list[np.ndarray]) -> list[int]:
    """The frames of a clip that the detector calls cuts, flow as the pipeline computes it."""
    found = []
    for i in range(1, len(frames)):
        flow_cur_to_prev, flow_prev_to_cur = flow_pair(frames[i - 1], frames[i], scale=0.5)
        if is_scene_cut(frames[i - 1], frames[i], flow_cur_to_prev, consistency_mask(flow_cur_to_prev, flow_prev_to_cur)):
            found.append(i)
    return found


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    hist_a, hist_b = (cv2.calcHist([x], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3) for x in (a, b))
    return cv2.compareHist(hist_a, hist_b, cv2.HISTCMP_BHATTACHARYYA)


def test_cut_between_shots_of_one_palette_is_found_at_its_frame():
    clip = similar_cut()
    before, after = clip.frames[clip.cut - 1], clip.frames[clip.cut]
    assert histogram_distance(before, after) < 0.3  # the colours hardly change
    assert cuts_in(clip.frames) == [clip.cut]


@pytest.mark.parametrize("make", [crossfade, fast_pan, camera_path, occluder], ids=lambda m: m.__name__)
def test_no_cut_within_a_shot(make):
    assert cuts_in(make().frames) == []


def test_fade_to_black_is_not_a_cut():
    frames = camera_path(9).frames
    faded = [(frame * (1 - i / 8)).astype(np.uint8) for i, frame in enumerate(frames)]
    assert cuts_in(faded) == []


def test_large_frames_are_measured_small():
    # 512 px wide: measured at 256 (the thresholds' scale); a pan is explained, a cut is not.
    pano = panorama("workshop")
    a, b, c = (view(pano, yaw, size=(512, 288)) for yaw in (0.0, 2.0, 110.0))
    for prev, cur, expected in ((a, b, False), (a, c, True)):
        flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, scale=0.5)
        evidence = cut_evidence(prev, cur, flow_cur_to_prev, consistency_mask(flow_cur_to_prev, flow_prev_to_cur))
        assert (evidence.explained < MAX_EXPLAINED) == expected, evidence
