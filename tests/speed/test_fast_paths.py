"""The opt-in speed paths (--fast): what runs on the CPU is checked against fp32 here; CUDA-only ones are marked gpu."""

from __future__ import annotations

import shutil

import pytest
import torch

from dreamvideo.config import DreamSettings, parse_fast
from dreamvideo.dream import image_to_tensor, make_dreamer
from dreamvideo.errors import ConfigError
from dreamvideo.dream import ascent
from dreamvideo.models import dream_model

from ..conftest import photo
from .agreement import COMPARED

SETTINGS = dict(octaves=1, steps=2, base_width=64, device="cpu")


def dreamed(fast: str | None, device: str = "cpu") -> torch.Tensor:
    dreamer = make_dreamer(DreamSettings(**{**SETTINGS, "device": device}, fast=fast))
    image = image_to_tensor(photo("astronaut", (96, 64)), dreamer.device)
    return dreamer.dream(image, frame_index=3).float().cpu()


def test_parse_fast():
    assert parse_fast("cudnn, bf16") == {"cudnn", "bf16"}
    with pytest.raises(ConfigError, match="unknown --fast path 'turbo'"):
        parse_fast("turbo")
    with pytest.raises(ConfigError, match="not both"):
        DreamSettings(fast="bf16,fp16").validate()


def test_channels_last_gives_the_same_dream():
    """On the CPU channels-last is the default (``ascent.channels_last``): against the contiguous
    layout the GPU uses unless asked. The layout changes only the rounding: one step agrees
    within 2e-4. Later steps amplify rounding where an activation sits on a ReLU6 edge (as
    a 1e-6 change of the input would), so two steps agree as a picture."""
    image = image_to_tensor(photo("astronaut", (96, 64)))
    dreams = {}
    for steps in (1, 2):
        dreamer = make_dreamer(DreamSettings(**{**SETTINGS, "steps": steps}))
        assert dreamer._memory_format == torch.channels_last
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in dreamer.model.network.parameters() if p.dim() == 4)
        by_default = dreamer.dream(image, frame_index=3)
        dreamer.model.network = dreamer.model.network.to(memory_format=torch.contiguous_format)
        dreamer._memory_format = torch.contiguous_format
        dreams[steps] = by_default, dreamer.dream(image, frame_index=3)
    torch.testing.assert_close(*dreams[1], atol=2e-4, rtol=0)
    last, contiguous = (d - image for d in dreams[2])
    assert torch.corrcoef(torch.stack([last.flatten(), contiguous.flatten()]))[0, 1] > 0.99
    assert float(last.abs().mean()) == pytest.approx(float(contiguous.abs().mean()), rel=0.02)


def test_bf16_autocast_dreams_close_to_fp32():
    fp32, bf16 = dreamed(None), dreamed("bf16")
    base = image_to_tensor(photo("astronaut", (96, 64)))
    moved_fp32, moved_bf16 = fp32 - base, bf16 - base
    # The same picture, not the same pixels: bf16 keeps 8 bits of mantissa and the normalised
    # steps amplify the difference (cosine 0.72 between the two dream details here).
    cosine = torch.nn.functional.cosine_similarity(moved_fp32.flatten(), moved_bf16.flatten(), dim=0)
    assert cosine > 0.6 and not torch.equal(fp32, bf16)


def test_compile_captures_the_step_and_dreams_the_same(monkeypatch):
    """--fast compile: the network truncated at the layer, captured as one graph (a break would
    raise: fullgraph), forward and backward through AOT autograd; "aot_eager" runs the captured
    graphs as they are, so the dream is the eager one."""
    monkeypatch.setattr(dream_model, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    eager, compiled = dreamed(None), dreamed("compile")
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=0)
    assert counters["stats"]["unique_graphs"] >= 1
    assert not counters["graph_break"]


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("cc") is None, reason="inductor needs a C++ compiler")
def test_compile_with_inductor_on_the_cpu():
    """The real backend, C++ kernels on the CPU (about 25 s to compile here): the same dream up to
    the kernels' rounding."""
    torch._dynamo.reset()
    eager, compiled = dreamed(None), dreamed("compile")
    assert (compiled - eager).abs().max() < 2e-3


def test_cudnn_benchmark_is_on_around_the_passes_only():
    """--fast cudnn switches the flag on for the Dreamer's passes and back to what it was (on the CPU
    the Dreamer never asks; the switch itself is checked here, an error inside the block included)."""
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with pytest.raises(RuntimeError):
            with ascent._cudnn_benchmark(True):
                assert torch.backends.cudnn.benchmark
                raise RuntimeError("inside a pass")
        assert torch.backends.cudnn.benchmark is False
        with ascent._cudnn_benchmark(False):
            assert torch.backends.cudnn.benchmark is False
        assert make_dreamer(DreamSettings(**SETTINGS, fast="cudnn"))._cudnn_benchmark is False  # CUDA only
    finally:
        torch.backends.cudnn.benchmark = before


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

FP32_PATHS = ["cudnn", "channels-last", "compile"]  # the same arithmetic in another order
REDUCED_PATHS = ["bf16", "fp16", "cudnn,channels-last,bf16"]  # 8 or 11 bits of mantissa


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("fast", FP32_PATHS + REDUCED_PATHS)
def test_fast_paths_on_cuda_dream_close_to_fp32(fast):
    """Against the plain CUDA dream, per item: a float32 path apart by less than GAP of what the dream
    moved, a reduced-precision one the same picture (detail cosine above COSINE; bf16 on the CPU:
    0.77). A path that dreamed nothing or skipped an octave fails both (``test_gpu_bounds``)."""
    from .agreement import COSINE, GAP, detail_cosine, detail_gap, exact_float32

    benchmark = torch.backends.cudnn.benchmark
    source = image_to_tensor(photo("astronaut", (128, 96)))
    dreams, seen = {}, []
    with exact_float32():
        for path in (None, fast):
            dreamer = make_dreamer(DreamSettings(**COMPARED, device="cuda", fast=path))
            values = dreamer._per_item_values  # called inside each pass: what the flag is there

            def watched(x, values=values):
                seen.append(torch.backends.cudnn.benchmark)
                return values(x)

            if path is not None:
                dreamer._per_item_values = watched
            dreams[path] = dreamer.dream(source.cuda(), frame_index=3).float().cpu()
    fp32, other = dreams[None], dreams[fast]
    assert torch.backends.cudnn.benchmark == benchmark  # nothing leaks out of the dream
    assert seen and all(on == ("cudnn" in fast) for on in seen)
    if fast in FP32_PATHS:
        assert (detail_gap(other, fp32, source) < GAP).all()
    else:
        assert (detail_cosine(other, fp32, source) > COSINE).all()
