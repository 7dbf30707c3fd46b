"""The GPU tests' bounds (``agreement``) fail on a broken dream: shown on the CPU, with the very dreams
the GPU tests run, broken on purpose (no step size; the coarse octave skipped). A rounding-sized
change of the source stays within them."""

from __future__ import annotations

import torch

from .agreement import COSINE, GAP, detail_cosine, detail_gap, flat_dream, sparse_dream

BROKEN = {"no step size": dict(step_size=0.0), "an octave skipped": dict(octaves=1)}


def test_flat_bounds_catch_a_broken_dream(lite0):
    source, dream = flat_dream(lite0)
    for what, broken in BROKEN.items():
        _, wrong = flat_dream(lite0, **broken)
        assert (detail_gap(wrong, dream, source) > GAP).all(), what  # 1.0 and 1.17 here
        assert (detail_cosine(wrong, dream, source) < COSINE).all(), what  # 0 and 0.17 here


def test_sparse_bounds_catch_a_broken_dream(lite0):
    source, dream, patch = sparse_dream(lite0)
    assert float((dream - source)[patch.expand_as(source)].abs().mean()) > 0.005  # it dreams there
    for what, broken in BROKEN.items():
        _, wrong, _ = sparse_dream(lite0, **broken)
        assert (detail_gap(wrong, dream, source, where=patch) > GAP).all(), what  # 1.0 and 1.10 here


def test_bounds_leave_room_for_rounding(lite0):
    """A change of the source far larger than float32 rounding (1e-6 per pixel; different kernels on
    a GPU differ by about that much after a layer) moves the compared dream by far less than GAP."""
    from dreamvideo.dream import Dreamer, layer_energy
    from dreamvideo.config import DreamSettings

    from .agreement import COMPARED

    source, dream = flat_dream(lite0)
    nudged = (source + 1e-6 * torch.randn(source.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    dreamer = Dreamer(lite0, layer_energy("blocks.6"), DreamSettings(**COMPARED))
    assert (detail_gap(dreamer.dream(nudged, frame_index=3), dream, source) < GAP / 10).all()
