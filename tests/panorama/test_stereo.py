"""Stereo stills: the eyes show one dream, carried along the disparity between the source eyes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, objective_from_settings
from dreamvideo.errors import ConfigError
from dreamvideo.panorama.projection import EquirectViews
from dreamvideo.panorama.stereo import disparity, dream_stereo, dream_stereo_frame, join_eyes, split_eyes
from dreamvideo.temporal.warp import warp

from .fields import panorama


def _stereo_pair():
    """A real panorama as the left eye; the right eye sees it shifted by a smooth disparity
    of 1-5 pixels that wraps across the seam (as an omnidirectional stereo pair would)."""
    left = image_to_tensor(panorama("workshop", 256))
    h, w = left.shape[-2:]
    lat = (np.pi / 2 - (np.arange(h) + 0.5) / h * np.pi)[:, None]
    lon = ((np.arange(w) + 0.5) / w * 2 * np.pi - np.pi)[None]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = 3 + 2 * np.sin(lon) * np.cos(lat)
    right = warp(left, flow, wrap_x=True)  # the right eye at x shows the left eye at x + flow
    return left, right, flow


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum()))


@pytest.mark.parametrize("layout", ["top-bottom", "left-right"])
def test_split_and_join_are_inverse(layout):
    frame = torch.rand(1, 3, 64, 128)
    left, right = split_eyes(frame, layout)
    assert left.shape == right.shape
    assert torch.equal(join_eyes(left, right, layout), frame)
    assert torch.equal(left, frame[..., :32, :] if layout == "top-bottom" else frame[..., :64])


def test_bad_layouts_and_odd_sizes_are_config_errors():
    with pytest.raises(ConfigError):
        split_eyes(torch.rand(1, 3, 63, 128), "top-bottom")
    with pytest.raises(ConfigError):
        split_eyes(torch.rand(1, 3, 64, 127), "left-right")
    with pytest.raises(ConfigError):
        split_eyes(torch.rand(1, 3, 64, 128), "side-by-side")


def test_disparity_finds_the_shift_and_wraps():
    left, right, flow = _stereo_pair()
    found, weight = disparity(left, right, wrap_x=True)
    assert found.shape == (1, 2, 128, 256) and weight.shape == (1, 1, 128, 256)
    rows = slice(16, 112)  # the textured rows; the seam columns are included
    error = (found[0, 0, rows] - torch.from_numpy(flow[rows, :, 0])).abs()
    assert float(error.mean()) < 0.5
    assert float(weight[..., rows, :].mean()) > 0.8


@pytest.fixture(scope="module")
def stereo_dreamer(lite0):
    settings = DreamSettings(device="cpu", steps=5)
    return Dreamer(lite0, objective_from_settings(settings, lite0), settings, projection=EquirectViews())


def test_eyes_show_one_dream(stereo_dreamer):
    """After the disparity warp, the right eye's dream detail agrees with the left eye's.

    Measured (workshop, 256x128 eyes, 5 steps, 2 refining): correlation 0.81; two independent
    dreams of the eyes 0.16 (different random streams) to 0.23 (the same stream).
    """
    left, right, flow = _stereo_pair()
    frame = join_eyes(left, right, "top-bottom")
    result = dream_stereo(stereo_dreamer, frame, "top-bottom", frame_index=0)
    assert result.image.shape == frame.shape
    assert torch.equal(result.image, join_eyes(result.left, result.right, "top-bottom"))
    assert float((result.left_detail).abs().mean()) > 0.02  # it did dream
    stereo = _corr(warp(result.left_detail, flow, wrap_x=True), result.right_detail)
    independent = _corr(
        warp(stereo_dreamer.dream(left, frame_index=0) - left, flow, wrap_x=True),
        stereo_dreamer.dream(right, frame_index=0) - right,
    )
    assert stereo > 0.6 and stereo > 2.5 * independent


def test_carried_detail_starts_each_eye(stereo_dreamer):
    """For video: each eye starts from its source plus the detail carried from the previous frame."""
    left, right, _ = _stereo_pair()
    frame = join_eyes(left, right, "left-right")
    carried = torch.full_like(left, 0.05)
    plain = dream_stereo_frame(stereo_dreamer, frame, "left-right", 3, steps=1, refine_steps=0)
    with_carried = dream_stereo(
        stereo_dreamer, frame, "left-right", frame_index=3, steps=1, refine_steps=0, carried=(carried, carried)
    )
    # The carried +0.05 shows in the mean; one step of 0.02 along a gradient of mean |g| 1 moves it far less.
    shift = float((with_carried.image - plain).mean())
    assert 0.03 < shift < 0.07


@pytest.mark.parametrize("layout", ["top-bottom", "left-right"])
def test_flow_evidence_carries_the_eyes_disparity(layout):
    """The flow workers compute a stereo frame's disparity with its flow, ahead of the dream: the
    same as the dream thread's (``disparity``), after a cut too."""
    from dreamvideo.dream import tensor_to_image
    from dreamvideo.panorama.stereo import disparity_to_device
    from dreamvideo.temporal.flow import flow_evidence

    left, right, _ = _stereo_pair()
    frame = tensor_to_image(join_eyes(left, right, layout))
    other = np.ascontiguousarray(frame[::-1])  # an unrelated previous frame: a cut
    scale = 0.5
    for prev, cut in ((frame, False), (other, True)):
        evidence = flow_evidence(prev, frame, scale=scale, wrap_x=True, stereo=(layout, scale))
        assert evidence.cut == cut
        flow, weight = disparity_to_device(evidence.disparity, torch.device("cpu"))
        expected_flow, expected_weight = disparity(*split_eyes(image_to_tensor(frame), layout), wrap_x=True, scale=scale)
        assert torch.equal(flow, expected_flow) and torch.equal(weight, expected_weight)
    assert flow_evidence(frame, frame, scale=scale, wrap_x=True).disparity is None
