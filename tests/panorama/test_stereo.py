"""Stereo frames: the eyes show one dream, carried along the disparity between the source eyes;
each eye refined as a carried frame is (``carry.refine`` with its carry weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, objective_from_settings
from dreamvideo.errors import ConfigError
from dreamvideo.panorama.projection import EquirectViews
from dreamvideo.layout import split_eyes
from dreamvideo.panorama.stereo import StereoStep, disparity, dream_stereo, join_eyes
from dreamvideo.temporal.carry import REVEALED
from dreamvideo.temporal.dreamer import Carried
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
def test_join_is_the_inverse_of_the_split(layout):
    frame = torch.rand(1, 3, 64, 128)
    left, right = split_eyes(frame, layout)
    assert torch.equal(join_eyes(left, right, layout), frame)


def test_bad_layouts_are_config_errors():
    with pytest.raises(ConfigError):
        join_eyes(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), "side-by-side")
    with pytest.raises(ConfigError):
        StereoStep("none")


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

    Measured (workshop, 256x128 eyes, 5 steps, 2 full refining steps, before the right eye was
    refined with the carry weights): correlation 0.81; two independent dreams of the eyes 0.16
    (different random streams) to 0.23 (the same stream).
    """
    left, right, flow = _stereo_pair()
    frame = join_eyes(left, right, "top-bottom")
    result = dream_stereo(stereo_dreamer, frame, "top-bottom", frame_index=0, refine_steps=1)
    assert result.image.shape == frame.shape
    assert torch.equal(result.image, join_eyes(result.left, result.right, "top-bottom"))
    left_detail, right_detail = result.left - left, result.right - right
    assert float(left_detail.abs().mean()) > 0.02  # it did dream
    stereo = _corr(warp(left_detail, flow, wrap_x=True), right_detail)
    independent = _corr(
        warp(stereo_dreamer.dream(left, frame_index=0) - left, flow, wrap_x=True),
        stereo_dreamer.dream(right, frame_index=0) - right,
    )
    assert stereo > 0.6 and stereo > 2.5 * independent


def test_what_only_the_right_eye_sees_gets_the_full_budget(stereo_dreamer):
    """The right eye is refined with the disparity weight as its carry weights: a patch that the
    left eye does not show (another picture) is not consistent, so it is dreamed as a fresh frame
    is (the full ``--steps``), where the rest of the right eye moves by quarter refine steps."""
    left, right, _ = _stereo_pair()
    other = image_to_tensor(panorama("lab", 256))
    rows, cols = slice(40, 88), slice(96, 160)
    right = right.clone()
    right[..., rows, cols] = other[..., rows, cols]
    result = dream_stereo(stereo_dreamer, join_eyes(left, right, "top-bottom"), "top-bottom", frame_index=0, refine_steps=1)
    patch = torch.zeros_like(result.right_keep, dtype=torch.bool)
    patch[..., rows, cols] = True
    revealed = patch & (result.right_keep < REVEALED)  # where the disparity does not reach
    assert float(revealed.sum()) > 0.3 * float(patch.sum())
    moved = (result.right - right).abs().mean(dim=1, keepdim=True)
    fresh = (stereo_dreamer.dream(right, frame_index=0) - right).abs().mean(dim=1, keepdim=True)
    # as strong as a fresh dream there (measured: 0.056 against 0.062), not a quarter step
    assert float(moved[revealed].mean()) > 0.6 * float(fresh[revealed].mean())


def test_carried_stereo_frames_refine_each_eye_with_the_carry_weights(stereo_dreamer):
    """A carried stereo frame: each eye starts from its share of the carried detail and is refined
    with its share of the carry weights (``carry.refine``): kept pixels move by quarter refine
    steps, revealed ones (weights 0) get the full budget, in both eyes."""
    left, right, _ = _stereo_pair()
    frame = join_eyes(left, right, "left-right")
    detail = torch.full_like(frame, 0.05)
    keep = torch.ones_like(frame[:, :1])
    rows, cols = slice(40, 88), slice(96, 160)
    for eye_cols in (cols, slice(256 + 96, 256 + 160)):  # the same patch revealed in both eyes
        keep[..., rows, eye_cols] = 0
        detail[..., rows, eye_cols] = 0
    carried = Carried(detail * keep, keep)
    result = dream_stereo(stereo_dreamer, frame, "left-right", frame_index=3, refine_steps=1, carried=carried)
    start = (frame + carried.detail).clamp(0, 1)
    moved = (result.image - start).abs().mean(dim=1, keepdim=True)
    revealed, kept = keep == 0, keep == 1
    for eye in split_eyes(torch.arange(moved.numel()).reshape(moved.shape), "left-right"):
        in_eye = torch.zeros_like(revealed)
        in_eye.view(-1)[eye.reshape(-1)] = True
        # measured: 0.040 and 0.037 against 0.005 and 0.007 (left, right eye)
        assert float(moved[revealed & in_eye].mean()) > 3 * float(moved[kept & in_eye].mean())
    # the carried +0.05 shows in the kept pixels' mean: quarter steps move them far less
    shift = float((result.image - frame)[kept.expand_as(frame)].mean())
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
