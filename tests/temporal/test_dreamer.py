"""The temporal dreamer's state can be handed over: a second dreamer continues exactly where the first stopped."""

from __future__ import annotations

import numpy as np

from dreamvideo.config import DreamSettings, VideoSettings
from dreamvideo.io import Frame
from dreamvideo.dream import make_dreamer
from dreamvideo.temporal.dreamer import TemporalDreamer, TemporalState
from dreamvideo.temporal.flow import flow_pair


def test_state_handed_over_gives_the_same_frames(photos, crop):
    frames = [Frame(i, i, i / 25, crop(photos["astronaut"], 100 + 3 * i, 60, 64)) for i in range(4)]
    flows = [None] + [flow_pair(a.image, b.image) for a, b in zip(frames, frames[1:])]
    dreamer = make_dreamer(DreamSettings(octaves=1, steps=2, device="cpu"))
    video = VideoSettings(refine_steps=1)

    one = TemporalDreamer(dreamer, video)
    straight = [one(f, pair)[0] for f, pair in zip(frames, flows)]

    first = TemporalDreamer(dreamer, video)
    for f, pair in zip(frames[:2], flows[:2]):
        first(f, pair)
    state = first.state()
    assert isinstance(state, TemporalState) and state.prev_index == 1 and state.prev_detail.shape == (1, 3, 64, 64)
    second = TemporalDreamer(dreamer, video, dtype=np.float32)
    second.load_state(state)
    handed = [second(f, pair)[0] for f, pair in zip(frames[2:], flows[2:])]
    for a, b in zip(straight[2:], handed):
        assert b.dtype == np.float32 and np.array_equal(a, (b * 255 + 0.5).astype(np.uint8))

    fresh = TemporalDreamer(dreamer, video)(frames[2], flows[2])[0]  # without the state: no carried dream
    assert not np.array_equal(fresh, straight[2])
