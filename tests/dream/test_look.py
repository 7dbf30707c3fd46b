"""Finding a look: the anchored pyramid gives the same dream at any resolution; --strength.

The resolution figure is the one in the issue: dream a real photo at a quarter
and at half of its width and at its full width, downscale the full dream to the
small size, blur both dream details (dream − source) with σ = 3 px and
correlate them (``metrics.look_correlation``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, layer_energy, octave_sizes, tensor_to_image
from dreamvideo.metrics import look_correlation

FULL_WIDTH = 512


def real_photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()[..., :3]
    h, w = image.shape[:2]
    return cv2.resize(image, (FULL_WIDTH, round(FULL_WIDTH * h / w)), interpolation=cv2.INTER_AREA)


def dream_at(dreamer: Dreamer, photo: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = photo.shape[:2]
    source = cv2.resize(photo, (width, round(width * h / w)), interpolation=cv2.INTER_AREA)
    return source, tensor_to_image(dreamer.dream(image_to_tensor(source)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_same_large_structures_at_any_width(lite0, name):
    torch.manual_seed(0)
    photo = real_photo(name)
    dreamer = Dreamer(lite0, layer_energy("blocks.10"), DreamSettings())
    full = dream_at(dreamer, photo, FULL_WIDTH)
    quarter = dream_at(dreamer, photo, FULL_WIDTH // 4)
    half = dream_at(dreamer, photo, FULL_WIDTH // 2)
    assert look_correlation(*quarter, *full) >= 0.6
    assert look_correlation(*half, *full) >= 0.5


def test_anchored_octaves_start_at_the_base_width():
    sizes = octave_sizes(720, 1280, scale=1.4, base_width=224)
    assert sizes[0] == (126, 224) and sizes[-1] == (720, 1280)
    widths = [w for _, w in sizes]
    ratios = [b / a for a, b in zip(widths, widths[1:])]
    assert all(r == pytest.approx(1.4, abs=0.01) for r in ratios[:-1])
    assert 1.2 <= ratios[-1] <= 1.4 * 1.2  # the last step up to the frame is at least half a step
    # The coarse octaves are the same, in pixels, whatever the frame's size.
    small = octave_sizes(180, 320, scale=1.4, base_width=224)
    assert [w for _, w in small] == [224, 320]
    assert [w for _, w in sizes][:1] == [224]


def test_a_frame_narrower_than_the_base_is_dreamed_at_the_base():
    assert octave_sizes(60, 100, scale=1.4, base_width=224) == [(134, 224)]
    assert octave_sizes(150, 200, scale=1.4, base_width=224) == [(150, 200)]  # within half a step: itself


def test_octaves_keeps_the_finest_of_the_anchored_pyramid():
    full = octave_sizes(720, 1280, scale=1.4, base_width=224)
    assert octave_sizes(720, 1280, scale=1.4, base_width=224, octaves=2) == full[-2:]


def test_classic_pyramid_is_still_there():
    assert octave_sizes(720, 1280, scale=1.4) == octave_sizes(720, 1280, scale=1.4, octaves=4)
    assert [w for _, w in octave_sizes(720, 1280, scale=2.0, octaves=3)] == [320, 640, 1280]


def test_jitter_scales_with_the_octave():
    """Anchored: --jitter is in pixels of the base octave, so it is the same share of every octave."""
    assert DreamSettings().jitter_px == 6
    assert DreamSettings(pyramid="classic").jitter_px == 32
    assert DreamSettings(jitter=10).jitter_px == 10


def test_strength_raises_the_objective_gain_monotonically(lite0):
    from tests.conftest import photo

    image = image_to_tensor(photo("chelsea", (256, 192)))
    gains = []
    for strength in (0.0, 0.25, 1.0, 2.0, 4.0):
        settings = DreamSettings(steps=4, octaves=1, strength=strength)
        dreamer = Dreamer(lite0, layer_energy("blocks.10"), settings)
        before = dreamer.value(image)
        gains.append(dreamer.value(dreamer.dream(image)) / before)
    assert gains[0] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(gains, gains[1:])), gains


def test_strength_scales_steps_and_step_size(lite0):
    dreamer = Dreamer(lite0, layer_energy("blocks.10"), DreamSettings(strength=4.0))
    assert dreamer.scaled_steps(10) == 20
    assert Dreamer(lite0, layer_energy("blocks.10"), DreamSettings(strength=0.01)).scaled_steps(10) == 1
    assert Dreamer(lite0, layer_energy("blocks.10"), DreamSettings(strength=0.0)).scaled_steps(10) == 0


def test_batch_items_are_dreamed_as_if_alone(lite0):
    """Per-item gradient normalisation: an item in a batch gets the same dream as on its own."""
    from tests.conftest import photo

    a = image_to_tensor(photo("astronaut", (64, 64)))
    b = image_to_tensor(photo("coffee", (64, 64)))
    dreamer = Dreamer(lite0, layer_energy("blocks.6"), DreamSettings(steps=2, octaves=1, jitter=0))
    together = dreamer.dream(torch.cat([a, b]))
    alone = torch.cat([dreamer.dream(a), dreamer.dream(b)])
    assert torch.allclose(together, alone, atol=1e-4)


def test_frames_in_a_batch_keep_their_own_random_streams(lite0):
    """Independent frames batched with their indices: each gets its own jitter, as alone."""
    from tests.conftest import photo

    a = image_to_tensor(photo("astronaut", (64, 64)))
    b = image_to_tensor(photo("coffee", (64, 64)))
    dreamer = Dreamer(lite0, layer_energy("blocks.6"), DreamSettings(steps=3, octaves=2, jitter=8, seed=5))
    together = dreamer.dream(torch.cat([a, b]), frame_index=[7, 8])
    alone = torch.cat([dreamer.dream(a, frame_index=7), dreamer.dream(b, frame_index=8)])
    assert torch.allclose(together, alone, atol=1e-4)
    # the streams differ: the same picture at two indices dreams differently
    twice = dreamer.dream(torch.cat([a, a]), frame_index=[7, 8])
    assert (twice[0] - twice[1]).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="2 frame indices for a batch of 3"):
        dreamer.dream(torch.cat([a, a, b]), frame_index=[1, 2])


def test_look_correlation_of_a_dream_with_itself_is_one():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 255, (64, 96, 3)).astype(np.uint8)
    dream = np.clip(source.astype(int) + rng.integers(-40, 40, (64, 96, 3)), 0, 255).astype(np.uint8)
    assert look_correlation(source, dream, source, dream) == pytest.approx(1.0)
    big_source = cv2.resize(source, (192, 128), interpolation=cv2.INTER_NEAREST)
    unrelated = np.clip(big_source.astype(int) + rng.integers(-40, 40, (128, 192, 3)), 0, 255).astype(np.uint8)
    assert abs(look_correlation(source, dream, big_source, unrelated)) < 0.2
