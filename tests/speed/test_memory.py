"""Host memory: tiles go through the network a few at a time on the CPU; the live window is bounded."""

from __future__ import annotations

import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, make_dreamer


def test_cpu_passes_hold_few_tiles():
    dreamer = make_dreamer(DreamSettings(octaves=1, steps=1, base_width=64, tile=64, device="cpu"))
    sizes: list[int] = []
    handle = dreamer.model.network.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        dreamer.dream(torch.rand(1, 3, 96, 160), frame_index=0)
    finally:
        handle.remove()
    # 160x96 in 64-pixel tiles with a quarter overlap is 3 x 2 = 6 tiles: passes of at most 2.
    assert sum(sizes) == 6 and max(sizes) == Dreamer.CPU_MAX_BATCH == 2
