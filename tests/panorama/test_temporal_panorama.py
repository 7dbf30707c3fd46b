"""A turning 360° clip: the temporal dreamer carries the dream across the seam."""

from __future__ import annotations

import numpy as np

from dreamvideo.config import DreamSettings, VideoSettings
from dreamvideo.dream import FLAT, Dreamer, objective_from_settings
from dreamvideo.io.decode import Frame
from dreamvideo.panorama.projection import EquirectFlat
from dreamvideo.temporal.dreamer import TemporalDreamer
from dreamvideo.temporal.flow import flow_evidence

from .fields import panorama

TURN = 4  # pixels the camera turns between the frames


def _carried_at_the_seam(lite0, projection) -> float:
    """Correlation, in the columns that came across the seam, of frame 1's dream detail with
    frame 0's detail turned with the camera."""
    settings = DreamSettings(device="cpu", steps=4, step_size=0.03)
    dreamer = Dreamer(lite0, objective_from_settings(settings, lite0), settings, projection=projection)
    temporal = TemporalDreamer(dreamer, VideoSettings(blend=1.0, refine_steps=1), dtype=np.float32)
    first = panorama("workshop", 256)
    second = np.roll(first, TURN, axis=1)
    out0, _ = temporal(Frame(0, 0, 0.0, first), None)
    evidence = flow_evidence(first, second, scale=1.0, wrap_x=projection.wraps_x)
    out1, cut = temporal(Frame(1, 1, 0.04, second), evidence)
    assert not cut
    detail0 = np.roll(out0 - first / 255.0, TURN, axis=1)
    detail1 = out1 - second / 255.0
    cols = slice(0, TURN)
    rows = slice(8, 120)
    return float(np.corrcoef(detail0[rows, cols].ravel(), detail1[rows, cols].ravel())[0, 1])


def test_dream_is_carried_across_the_seam(lite0):
    wrapped = _carried_at_the_seam(lite0, EquirectFlat())
    flat = _carried_at_the_seam(lite0, FLAT)
    assert wrapped > 0.7 and flat < 0.3  # measured: 0.85 and 0.07
