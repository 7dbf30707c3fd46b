"""The ascent: objective rises, determinism, octaves, tiles without seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, layer_energy, octave_sizes, tensor_to_image, tile_grid
from dreamvideo.errors import ConfigError
from dreamvideo.dream.ascent import resolve_device

from ..conftest import photo


def small(**overrides) -> DreamSettings:
    base = dict(octaves=2, steps=4, tile=512, jitter=8, seed=3)
    base.update(overrides)
    return DreamSettings(**base)


def test_objective_rises_within_a_few_steps(lite0):
    dreamer = Dreamer(lite0, layer_energy("blocks.10"), small(octaves=1, steps=1))
    x = image_to_tensor(photo("coffee", (96, 96)))
    values = [dreamer.value(x)]
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = dreamer.step(x, rng)
        values.append(dreamer.value(x))
    assert values[-1] > 1.3 * values[0]
    assert sum(b > a for a, b in zip(values, values[1:])) >= 3


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_default_settings_at_least_double_the_activation(lite0, name):
    image = image_to_tensor(photo(name, (320, 240)))
    dreamer = Dreamer(lite0, layer_energy(lite0.default_layer), DreamSettings())
    before = dreamer.value(image)
    after = dreamer.value(dreamer.dream(image))
    assert after >= 2 * before


def test_same_seed_same_pixels_other_seed_differs(lite0):
    image = image_to_tensor(photo("astronaut", (64, 64)))
    runs = [
        tensor_to_image(Dreamer(lite0, layer_energy("blocks.6"), small(seed=seed)).dream(image, frame_index=5))
        for seed in (1, 1, 2)
    ]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_frame_index_changes_the_jitter_stream(lite0):
    image = image_to_tensor(photo("astronaut", (64, 64)))
    dreamer = Dreamer(lite0, layer_energy("blocks.6"), small())
    a = tensor_to_image(dreamer.dream(image, frame_index=0))
    b = tensor_to_image(dreamer.dream(image, frame_index=1))
    assert not np.array_equal(a, b)


def test_zero_steps_returns_the_input(lite0):
    image = image_to_tensor(photo("astronaut", (64, 64)))
    assert torch.equal(Dreamer(lite0, layer_energy("stem"), small()).dream(image, steps=0), image)


def test_output_stays_in_range_and_shape(lite0):
    image = image_to_tensor(photo("rocket", (77, 51)))  # odd sizes
    out = Dreamer(lite0, layer_energy("blocks.4"), small(step_size=0.2)).dream(image)
    assert out.shape == image.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_octave_sizes_smallest_first_and_bounded():
    sizes = octave_sizes(720, 1280, octaves=4, scale=1.4)
    assert sizes[-1] == (720, 1280)
    assert sizes[0] == (round(720 / 1.4**3), round(1280 / 1.4**3))
    assert octave_sizes(40, 40, octaves=6, scale=2.0) == [(40, 40)]


def test_tile_grid_covers_with_overlap():
    starts = tile_grid(300, 128, 32)
    assert starts[0] == 0 and starts[-1] == 300 - 128
    assert all(b - a <= 128 - 32 for a, b in zip(starts, starts[1:]))
    assert tile_grid(100, 128, 32) == [0]


def test_tiled_dream_agrees_with_untiled_and_shows_no_seams(lite0):
    image = image_to_tensor(photo("astronaut", (192, 160)))
    settings = dict(octaves=1, steps=3, jitter=0, smoothing=0.5)
    untiled = Dreamer(lite0, layer_energy("blocks.6"), small(**settings))
    whole = untiled.dream(image) - image
    tiled = Dreamer(lite0, layer_energy("blocks.6"), small(**settings, tile=96)).dream(image) - image
    # The reference for "close": ascent is chaotic, so the same untiled dream of the
    # input plus noise of half a grey level is how far apart two equivalent dreams are.
    nudged = (image + 0.002 * torch.randn(image.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    nudged_dream = untiled.dream(nudged) - nudged

    def correlation(a, b):
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])

    assert correlation(whole, tiled) > 0.75
    assert correlation(whole, tiled) > correlation(whole, nudged_dream)

    # Seams would show as jumps in the detail across tile edges. The tiles start
    # at these columns/rows; compare the jump there with the typical jump.
    detail = tiled[0].abs().mean(0)
    col_jump = (detail[:, 1:] - detail[:, :-1]).abs().mean(0)
    row_jump = (detail[1:] - detail[:-1]).abs().mean(1)
    for starts, jump, length in ((tile_grid(192, 96, 24), col_jump, 192), (tile_grid(160, 96, 24), row_jump, 160)):
        edges = [s - 1 for s in starts[1:]] + [s + 96 - 1 for s in starts[:-1] if s + 96 < length]
        assert float(jump[edges].mean()) < 1.5 * float(jump.median())


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_dream_matches_cpu_closely(lite0):
    """Apart by less than GAP of what the dream moved, per item: a CUDA path that skipped a step or an
    octave would be apart by about 1 (``tests/speed/test_gpu_bounds.py`` shows it on the CPU)."""
    from dreamvideo.models import load_model

    from ..speed.agreement import GAP, detail_gap, exact_float32, flat_dream

    source, cpu = flat_dream(lite0)
    with exact_float32():
        _, gpu = flat_dream(load_model("efficientnet-lite0", device="cuda"))
    assert (detail_gap(gpu, cpu, source) < GAP).all()
