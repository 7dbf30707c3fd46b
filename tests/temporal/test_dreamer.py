"""The temporal dreamer, fed what the runner feeds it (FlowEvidence): the carried detail and its
weights are returned by ``carried`` and passed to ``dream``, nothing parked between the two."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings, VideoSettings
from dreamvideo.dream import image_to_tensor, make_dreamer
from dreamvideo.io import Frame
from dreamvideo.temporal.dreamer import Carried, MonoStep, TemporalDreamer
from dreamvideo.temporal.flow import flow_evidence
from dreamvideo.temporal.shot import KEY_MODE
from dreamvideo.temporal.warp import flow_to_tensor, warp


@pytest.fixture(scope="module")
def dreamer():
    return make_dreamer(DreamSettings(octaves=1, steps=2, device="cpu"))


def _frames(photos, crop, count=3):
    return [Frame(i, i, i / 25, crop(photos["astronaut"], 100 + 3 * i, 60, 64)) for i in range(count)]


def test_carried_returns_the_detail_and_its_weights(dreamer, photos, crop):
    frames = _frames(photos, crop, 2)
    video = VideoSettings(refine_steps=1, blend=0.8)
    temporal = TemporalDreamer(dreamer, video)
    first, cut = temporal(frames[0], None)
    assert not cut
    evidence = flow_evidence(frames[0].image, frames[1].image)
    source = image_to_tensor(frames[1].image, dreamer.device)
    carried, cut = temporal.carried(source, evidence)
    assert not cut and isinstance(carried, Carried)
    keep = torch.from_numpy(evidence.keep)[None, None]
    assert torch.equal(carried.keep, keep)
    previous_detail = image_to_tensor(first, dreamer.device) - image_to_tensor(frames[0].image, dreamer.device)
    flow = flow_to_tensor(evidence.flow_cur_to_prev, size=evidence.size)
    expected = 0.8 * keep * warp(previous_detail, flow, mode=KEY_MODE)  # the shot's keyframe, sampled once
    # the handed-on detail is the unrounded dream's: within a rounding step of the uint8 frame's
    assert (carried.detail - expected).abs().max() <= 0.8 / 255 + 1e-6


def test_dream_takes_what_carried_returned(dreamer, photos, crop):
    """The same Carried gives the same frame, whoever asks and how often: no hidden hand-over."""
    frames = _frames(photos, crop, 2)
    video = VideoSettings(refine_steps=1)
    temporal = TemporalDreamer(dreamer, video)
    temporal(frames[0], None)
    source = image_to_tensor(frames[1].image, dreamer.device)
    carried, _ = temporal.carried(source, flow_evidence(frames[0].image, frames[1].image))
    once = temporal.dream(source, carried, frames[1].index)
    again = TemporalDreamer(dreamer, video).dream(source, carried, frames[1].index)
    by_step = MonoStep()(dreamer, source, carried, refine_steps=1, frame_index=frames[1].index)
    assert torch.equal(once, again) and torch.equal(once, by_step)


def test_first_frames_and_cuts_dream_fresh(dreamer, photos, crop):
    """No evidence (first frame) or a cut: the frame is dreamed as on its own, with ``--steps``."""
    frames = _frames(photos, crop, 2)
    video = VideoSettings(refine_steps=1)
    temporal = TemporalDreamer(dreamer, video)
    temporal(frames[0], None)
    cut = flow_evidence(frames[0].image, crop(photos["coffee"], 50, 50, 64))
    assert cut.cut
    image, was_cut = temporal(frames[1], cut)
    alone = dreamer.dream(image_to_tensor(frames[1].image, dreamer.device), frame_index=frames[1].index)
    expected = (alone[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert was_cut and np.array_equal(image, expected)


def test_carried_frames_differ_from_fresh_ones(dreamer, photos, crop):
    frames = _frames(photos, crop, 2)
    video = VideoSettings(refine_steps=1)
    evidence = flow_evidence(frames[0].image, frames[1].image)
    temporal = TemporalDreamer(dreamer, video)
    temporal(frames[0], None)
    carried = temporal(frames[1], evidence)[0]
    fresh = TemporalDreamer(dreamer, video)(frames[1], evidence)[0]  # nothing before it: nothing to carry
    assert not np.array_equal(fresh, carried)
