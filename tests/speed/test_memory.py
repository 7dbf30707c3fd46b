"""Memory: tiles go through the network a few at a time; a run reports its peaks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, make_dreamer
from dreamvideo.pipeline import peak_memory_mb


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_memory_on_the_cpu_is_the_host_peak_not_the_current_size():
    # A fresh process: 400 MiB touched and freed leave a peak well above what it holds afterwards.
    script = (
        "import torch; from dreamvideo.pipeline import peak_memory_mb\n"
        "block = torch.ones(400 * 2**20 // 4); del block\n"
        "rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS'))\n"
        "print(json.dumps([peak_memory_mb(torch.device('cpu')), rss / 1024]))"
    )
    run = subprocess.run([sys.executable, "-c", "import json\n" + script], capture_output=True, text=True, check=True)
    peak, current = json.loads(run.stdout)
    assert set(peak) == {"host"}  # no device figure without CUDA
    assert peak["host"] >= current + 300


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_peak_memory_on_cuda_counts_what_torch_allocated():
    device = torch.device("cuda")
    block = torch.ones(256 * 2**20 // 4, device=device)  # 256 MiB
    peak = peak_memory_mb(device)
    assert peak["device"] >= 256 and peak["host"] > 0
    del block


def test_larger_items_go_fewer_to_a_pass():
    """A pass holds at most CPU_MAX_BATCH (MAX_BATCH on CUDA) items' worth of PASS_PIXELS."""
    dreamer = make_dreamer(DreamSettings(octaves=1, steps=1, base_width=64, device="cpu"))
    assert dreamer.tile == 512  # the CPU's default
    dreamer.PASS_PIXELS = 64 * 64
    sizes: list[int] = []
    handle = dreamer.model.network.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        dreamer._batched_gradient(torch.rand(4, 3, 64, 64))
        small = list(sizes)
        sizes.clear()
        dreamer._batched_gradient(torch.rand(3, 3, 96, 96))  # each over 2 x 64² pixels: one a pass
    finally:
        handle.remove()
    assert small == [2, 2] and sizes == [1, 1, 1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_dreams_in_larger_tiles():
    assert make_dreamer(DreamSettings(device="cuda")).tile == Dreamer.CUDA_TILE
    assert make_dreamer(DreamSettings(device="cuda", tile=512)).tile == 512
