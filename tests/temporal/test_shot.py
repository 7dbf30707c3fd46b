"""The shot's carried detail is resampled once per shot: sub-pixel motion does not blur it away."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dreamvideo.metrics import sharpness
from dreamvideo.temporal.shot import REKEY_SHARE, ShotCarry
from dreamvideo.temporal.warp import _lanczos_gather, _lanczos_remap, warp


def crisp_detail(photo: np.ndarray, h: int = 72, w: int = 128) -> torch.Tensor:
    """Dream-like detail from a real photo: its high-pass, ``(1, 3, h, w)`` on the [0, 1] scale."""
    image = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    detail = image - cv2.GaussianBlur(image, (0, 0), 2.0)
    return torch.from_numpy(detail).permute(2, 0, 1)[None].contiguous()


def shift(dx: float, h: int = 72, w: int = 128) -> torch.Tensor:
    """``flow_cur_to_prev`` of a camera panning ``-dx`` px a frame: ``(1, 2, h, w)``."""
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0] = dx
    return flow


def detail_sharpness(detail: torch.Tensor) -> float:
    """:func:`~dreamvideo.metrics.sharpness` of a ``(1, 3, H, W)`` detail, on the interior."""
    values = (detail[0].permute(1, 2, 0).numpy() * 255)[8:-8, 16:-16]
    grey = np.full(values.shape, 128, np.float32)
    return sharpness(grey.astype(np.uint8), np.clip(grey + values, 0, 255).astype(np.uint8))


def test_lanczos_on_the_gpu_path_matches_the_cpu_one(photos):
    # The CPU samples with cv2.remap, a GPU with torch gathers; cv2 rounds positions to 1/32 px.
    detail = crisp_detail(photos["astronaut"])
    flow = torch.from_numpy(np.random.default_rng(0).uniform(-6, 6, (1, 2, 72, 128)).astype(np.float32))
    flow = torch.nn.functional.avg_pool2d(flow, 9, 1, 4)  # a smooth field
    for wrap_x in (False, True):
        ys, xs = torch.meshgrid(torch.arange(72.0), torch.arange(128.0), indexing="ij")
        coords = torch.stack([xs, ys], dim=-1)[None] + flow.permute(0, 2, 3, 1)
        if wrap_x:
            coords[..., 0] = torch.remainder(coords[..., 0], 128)
        remapped = _lanczos_remap(detail, coords, wrap_x=wrap_x)
        gathered = _lanczos_gather(detail, coords, wrap_x=wrap_x)
        assert float((remapped - gathered).abs().mean()) < 0.03 * float(detail.abs().mean())


def test_lanczos_warp_keeps_an_integer_shift_exact(photos):
    detail = crisp_detail(photos["coffee"])
    moved = warp(detail, shift(3.0), mode="lanczos")
    assert torch.allclose(moved[..., :-3], detail[..., 3:], atol=1e-5)
    wrapped = warp(detail, shift(3.0), mode="lanczos", wrap_x=True)
    assert torch.allclose(wrapped, detail.roll(-3, dims=-1), atol=1e-5)


@pytest.mark.parametrize("wrap_x", [False, True])
def test_half_pixel_steps_keep_the_detail_crisp(photos, wrap_x):
    # 20 half-pixel steps: the keyframe is sampled once, at a whole 10 px, and comes back exact;
    # warping the detail bilinearly at every step (the old carry) softens it step after step.
    detail = crisp_detail(photos["astronaut"])
    keep = torch.ones(1, 1, 72, 128)
    if not wrap_x:
        keep[..., -1:] = 0  # what enters the frame at its right edge
    carry, every_frame = ShotCarry.start(detail), detail
    for _ in range(20):
        carry = carry.follow(shift(0.5), keep, 1.0, wrap_x=wrap_x)
        carry = carry.settle(carry.detail, 1.0)
        every_frame = warp(every_frame, shift(0.5), wrap_x=wrap_x)
    expected = detail.roll(-10, dims=-1)
    # (the first and last columns differ a little: the keyframe moved along, and a Lanczos tap past
    # its new edge reads the edge, not what the old keyframe had there)
    assert torch.allclose(carry.detail[..., 4:96], expected[..., 4:96], atol=1e-3)
    crisp, soft = detail_sharpness(carry.detail), detail_sharpness(every_frame)
    assert crisp > 0.95 * detail_sharpness(expected) and soft < 0.7 * crisp, (crisp, soft)


def test_the_residual_follows_the_keyframe_and_a_hold_scales_both(photos):
    detail = crisp_detail(photos["chelsea"])
    carry = ShotCarry.start(detail).follow(shift(1.0), torch.ones(1, 1, 72, 128), 1.0)
    added = 0.01 * torch.ones_like(detail)  # what a refine step adds
    settled = carry.settle(1.2 * (carry.detail + added), 1.2)
    assert torch.allclose(settled.detail, 1.2 * (carry.detail + added), atol=1e-6)
    assert torch.allclose(settled.residual, 1.2 * added, atol=1e-6)
    assert settled.gain == pytest.approx(1.2)


def test_a_frame_becomes_the_keyframe_when_enough_of_it_was_revealed_inside(photos):
    # Something moved away and uncovered a block in the middle of the picture: a new keyframe.
    detail = crisp_detail(photos["rocket"])
    carry = ShotCarry.start(detail)
    keep = torch.ones(1, 1, 72, 128)
    keep[..., 20:52, 40:40 + int(128 * REKEY_SHARE * 72 / 32) + 4] = 0
    followed = carry.follow(shift(0.0), keep, 1.0)
    fresh = followed.detail + 0.01  # what the frame's dream made of it
    settled = followed.settle(fresh, 1.0)
    assert torch.equal(settled.key_detail, fresh) and not settled.flow_cur_to_key.any()
    few = carry.follow(shift(1.0), torch.where(torch.arange(128) < 128 - 4, 1.0, 0.0).expand(1, 1, 72, 128), 1.0)
    assert few.settle(few.detail, 1.0).key_detail is detail  # a few columns revealed: the same keyframe


def test_the_keyframe_moves_along_with_a_pan_without_resampling(photos):
    # A pan: what enters at the right edge is past the keyframe's edge. The keyframe moves a whole
    # number of pixels (its old pixels copied, not resampled), the entered columns are filled in
    # from the frame's detail and belong to the keyframe from then on.
    detail = crisp_detail(photos["rocket"])
    entered = int(128 * REKEY_SHARE) + 2
    keep = torch.ones(1, 1, 72, 128)
    keep[..., -entered:] = 0
    step = entered + 0.5
    followed = ShotCarry.start(detail).follow(shift(step), keep, 1.0)
    dreamed = followed.detail.clone()
    dreamed[..., -entered:] = crisp_detail(photos["coffee"])[..., -entered:]  # the entered columns' dream
    settled = followed.settle(dreamed, 1.0)
    whole = round(step)
    assert torch.equal(settled.key_detail[..., : 128 - whole], detail[..., whole:])
    assert torch.allclose(settled.flow_cur_to_key, shift(step - whole))  # the offsets less the whole shift
    assert torch.allclose(settled.detail, dreamed, atol=1e-6)  # the frame itself is unchanged
    assert bool((settled.weight[..., -entered + 1 : -1] == 1).all())  # the entered columns are keyed now
    # the next frames read the entered columns from the keyframe: crisp, not warped every frame
    carry = settled
    for _ in range(6):
        carry = carry.follow(shift(0.5), torch.ones(1, 1, 72, 128), 1.0)
        carry = carry.settle(carry.detail, 1.0)
    assert torch.allclose(carry.detail[..., 8:-20], dreamed[..., 11:-17], atol=1e-3)
