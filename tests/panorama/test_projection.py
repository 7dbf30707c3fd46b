"""Equirect projections: the seam wraps, the poles are seen through views, gradients are gathered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import FLAT, Dreamer, image_to_tensor, objective_from_settings, tensor_to_image
from dreamvideo.metrics import pole_streak_score, seam_ratio
from dreamvideo.panorama.geometry import cube_rotations, random_rotation, row_box_filter
from dreamvideo.panorama.projection import EquirectFlat, EquirectViews, projection_for

from .fields import panorama


@pytest.mark.parametrize(
    ("projection", "mode", "kind"),
    [
        ("flat", "views", "flat"),
        ("auto", "views", "flat"),
        ("equirect", "equirect", "EquirectFlat"),
        ("equirect", "views", "views"),
        ("equirect", "cubemap", "cubemap"),
    ],
)
def test_projection_for_settings(projection, mode, kind):
    chosen = projection_for(DreamSettings(projection=projection, sphere_mode=mode))
    if kind == "flat":
        assert chosen is FLAT
    elif kind == "EquirectFlat":
        assert isinstance(chosen, EquirectFlat)
    else:
        assert isinstance(chosen, EquirectViews) and chosen.sphere_mode == kind
    if chosen is not FLAT:
        assert chosen.wraps_x and not chosen.rolls_y
        assert chosen.jitter(np.random.default_rng(0), 20)[0] == 0  # nothing rolls across the poles


@pytest.mark.parametrize("make", [EquirectViews, EquirectViews.cubemap], ids=["views", "cubemap"])
def test_views_sampled_and_gathered_back_give_the_image_again(make):
    projection = make()
    height, width = 64, 128
    lat = torch.linspace(np.pi / 2, -np.pi / 2, height)[:, None]
    lon = torch.linspace(-np.pi, np.pi, width + 1)[:-1][None, :]
    # Smooth and continuous on the sphere (a function of the 3-D direction).
    x3 = torch.cos(lat) * torch.sin(lon)
    y3 = torch.sin(lat).expand(height, width)
    z3 = torch.cos(lat) * torch.cos(lon)
    image = torch.stack([0.5 + 0.3 * x3, 0.5 + 0.3 * y3, 0.5 + 0.2 * z3 * y3])[None]
    rig = projection.rig(np.random.default_rng(3))
    views = projection.sample_views(image, rig)
    assert views.shape == (len(rig), 3, projection.view_size(width), projection.view_size(width))
    back = projection.gather(views, rig, (height, width))
    assert (back - image).abs().max() < 0.03  # everywhere: the seam and the polar rows included


def test_gradient_reaches_every_pixel_including_the_poles():
    """The gradient is gathered by inverse sampling, not scattered through grid_sample's backward."""
    projection = EquirectViews()
    x = torch.rand(2, 3, 48, 96)
    seen = []

    def gradient_fn(views, need=None):
        seen.append(views.shape)
        return torch.ones_like(views)

    grad = projection.gradient(x, gradient_fn, np.random.default_rng(0))
    assert seen == [(12, 3, 80, 80)]  # both items' six views in one batch
    assert grad.shape == x.shape
    assert torch.allclose(grad, torch.ones_like(grad), atol=1e-5)  # the polar rows too


def test_rig_turns_every_step_and_stays_nearly_upright():
    projection = EquirectViews()
    rng = np.random.default_rng(0)
    first, second = projection.rig(rng)[0], projection.rig(rng)[0]
    assert not torch.allclose(first, second)
    for _ in range(20):
        turn = random_rotation(rng, 10.0)
        assert torch.allclose(turn @ turn.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
        assert turn[1, 1] >= np.cos(np.radians(10.0)) - 1e-12  # up stays within 10° of up
    fixed = EquirectViews(rotate=False)
    assert fixed.rig(rng).dtype == torch.float32  # what the device computes with
    assert all(torch.allclose(a, b.float(), atol=1e-7) for a, b in zip(fixed.rig(rng), cube_rotations()))


def test_equirect_flat_pads_the_seam_with_the_other_edge():
    projection = EquirectFlat(pad=8)
    x = torch.rand(1, 3, 32, 64)
    seen = []

    def gradient_fn(wide, need=None):
        seen.append(wide)
        return wide * 2

    grad = projection.gradient(x, gradient_fn, np.random.default_rng(0))
    wide = seen[0]
    assert wide.shape[-1] == 64 + 16
    assert torch.equal(wide[..., :8], x[..., -8:]) and torch.equal(wide[..., -8:], x[..., :8])
    assert torch.equal(grad, x * 2)


def test_blur_wraps_and_widens_towards_the_poles():
    spike = torch.zeros(1, 1, 64, 128)
    spike[..., 32, 0] = 1.0
    assert FLAT.blur(spike, 1.0)[..., 32, -1] == 0
    assert EquirectFlat().blur(spike, 1.0)[..., 32, -1] > 0.05
    views = EquirectViews()
    polar = torch.zeros(1, 1, 64, 128)
    polar[..., 2, 0] = 1.0  # 7° from the zenith: the row spans 1/cos(83°) = 8.2 times less arc

    def spread(row):  # standard deviation along the row, in columns, about column 0
        offset = torch.remainder(torch.arange(128) + 64, 128) - 64
        return torch.sqrt((row * offset**2).sum() / row.sum())

    equator = spread(views.blur(spike, 1.0)[0, 0, 32])
    assert 0.9 < equator < 1.3
    assert 7 < spread(views.blur(polar, 1.0)[0, 0, 2]) / equator < 9.5


def test_row_box_filter_averages_exactly_and_wraps():
    row = torch.arange(8, dtype=torch.float32).reshape(1, 1, 1, 8)
    out = row_box_filter(row, torch.tensor([3.0]))
    expected = torch.tensor([(7 + 0 + 1) / 3] + [float(i) for i in range(1, 7)] + [(6 + 7 + 0) / 3])
    assert torch.allclose(out[0, 0, 0], expected, atol=1e-6)
    assert torch.allclose(row_box_filter(row, torch.tensor([100.0])), torch.full_like(row, 3.5))
    assert torch.equal(row_box_filter(row, torch.tensor([0.5])), row)


@pytest.fixture(scope="module")
def dreamed(lite0):
    """The lab and workshop panoramas at 256x128 (one octave), dreamed 5 steps each way."""
    settings = DreamSettings(device="cpu", steps=5)
    objective = objective_from_settings(settings, lite0)
    results = {}
    for name in ("lab", "workshop"):
        source = panorama(name, 256)
        x = image_to_tensor(source)
        for mode, projection in (("flat", FLAT), ("views", EquirectViews())):
            if mode == "flat" and name == "workshop":
                continue
            out = Dreamer(lite0, objective, settings, projection=projection).dream(x)
            results[name, mode] = (source, tensor_to_image(out))
    return results


def test_dreamed_panorama_has_no_seam(dreamed):
    for name in ("lab", "workshop"):
        source, out = dreamed[name, "views"]
        detail = out.astype(np.float64) - source
        assert np.abs(detail).mean() > 5  # it did dream
        assert seam_ratio(out) <= 1.3
        assert seam_ratio(detail) <= 1.3  # the dream detail itself continues across the seam


def test_dreamed_panorama_has_no_pole_streaks(dreamed):
    for name in ("lab", "workshop"):
        zenith, nadir = pole_streak_score(*dreamed[name, "views"])
        assert zenith <= 0.25 and nadir <= 0.25
    # The same measure on the flat dream of the equirect pixels finds the streaks.
    zenith, nadir = pole_streak_score(*dreamed["lab", "flat"])
    assert zenith > 0.4 and nadir > 0.4


def _counting(dreamer: Dreamer) -> list[int]:
    """Count the items (views, tiles) ``dreamer`` passes through its network."""
    passes: list[int] = []
    batched = dreamer._batched_gradient

    def counted(x):
        passes.append(x.shape[0])
        return batched(x)

    dreamer._batched_gradient = counted
    return passes


@pytest.mark.parametrize("make", [EquirectViews, lambda: EquirectFlat(pad=16)], ids=["views", "equirect"])
def test_sparse_gradient_skips_unneeded_tiles_and_keeps_the_needed_pixels_exact(lite0, make):
    """Tiles and views that see none of the needed pixels are not computed; the needed pixels'
    gradient is the one computed everywhere, bit for bit."""
    settings = DreamSettings(device="cpu", tile=96)  # views of a 256 px frame are tiled
    dreamer = Dreamer(lite0, objective_from_settings(settings, lite0), settings, projection=make())
    x = image_to_tensor(panorama("lab", 256))
    weight = torch.zeros(1, 1, 128, 256)
    weight[..., 60:76, 100:120] = 1.0  # something revealed near the equator
    need = dreamer.needed(weight)
    assert need is not None and 0.01 < float(need.float().mean()) < 0.05
    passes = _counting(dreamer)
    dense = dreamer.projection.gradient(x, dreamer.gradient, np.random.default_rng(1))
    dense_passes = sum(passes)
    passes.clear()
    sparse = dreamer.projection.gradient(x, dreamer.gradient, np.random.default_rng(1), need=need)
    assert 0 < sum(passes) <= dense_passes / 2
    mask = need.expand_as(x)
    assert torch.equal(sparse[mask], dense[mask])


def test_sparse_dream_leaves_unweighted_pixels_and_costs_less(lite0):
    settings = DreamSettings(device="cpu", tile=96, steps=2, base_width=96)
    dreamer = Dreamer(lite0, objective_from_settings(settings, lite0), settings, projection=EquirectViews())
    x = image_to_tensor(panorama("workshop", 256))
    weight = torch.zeros(1, 1, 128, 256)
    weight[..., 56:72, 30:50] = 1.0
    passes = _counting(dreamer)
    dense = dreamer.dream(x, frame_index=2, step_weight=weight)
    dense_passes = sum(passes)
    passes.clear()
    sparse = dreamer.dream(x, frame_index=2, step_weight=weight, sparse=True)
    assert sum(passes) <= dense_passes / 2
    far = (dreamer.needed(weight) == 0).expand_as(x)
    assert torch.equal(sparse[far], x[far])  # weight 0 and nothing computed: untouched
    assert torch.equal(dense[far], x[far])
    revealed = (weight > 0).expand_as(x)
    strength = [float((out - x)[revealed].abs().mean()) for out in (dense, sparse)]
    # About as strong: each step is normalised over the needed pixels rather than the whole
    # frame, which here (a 16x20 patch at 256x128) made the dream 1.38x as strong.
    assert strength[1] > 0.01 and 0.7 < strength[1] / strength[0] < 1.6
    assert dreamer.needed(torch.ones_like(weight)) is None  # everything needed: the dense path


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sparse_dream_on_cuda_matches_the_cpu(lite0):
    """The sparse path's chosen views index CUDA tensors correctly: the same dream as on the CPU, apart
    by less than GAP of what the dream moved the weighted patch (it moves little else)."""
    from dreamvideo.models import load_model

    from ..speed.agreement import GAP, detail_gap, exact_float32, sparse_dream

    source, cpu, patch = sparse_dream(lite0)
    with exact_float32():
        _, gpu, _ = sparse_dream(load_model("efficientnet-lite0", device="cuda"))
    assert (detail_gap(gpu, cpu, source, where=patch) < GAP).all()
    far = ~patch.expand_as(source) & (cpu == source)
    assert torch.equal(gpu[far], source[far])  # what the CPU left alone, the GPU left alone
