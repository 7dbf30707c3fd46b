from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dreamvideo.temporal.warp import flow_to_tensor, warp, warp_array


# OpenCV 4's remap rounds sample positions to 1/32 pixel (its INTER_TAB_SIZE); OpenCV 5 does not.
OPENCV_ROUNDS_REMAP = int(cv2.__version__.split(".")[0]) < 5


@pytest.fixture
def image(photos, crop) -> np.ndarray:
    """float32 (H, W, 3), 0-255, 96x120."""
    return crop(photos["coffee"], 200, 100, 128)[:96, :120].astype(np.float32)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def to_array(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).numpy()


def constant_flow(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_zero_flow_is_identity(image):
    out = warp(to_tensor(image), np.zeros((96, 120, 2), np.float32))
    assert torch.allclose(out, to_tensor(image), atol=1e-3)


def test_integer_flow_samples_prev_at_x_plus_flow(image):
    out = to_array(warp(to_tensor(image), constant_flow(96, 120, 3, -2)))
    # out(y, x) = image(y - 2, x + 3)
    assert np.allclose(out[2:, :-3], image[:-2, 3:], atol=1e-3)


def test_border_padding_repeats_the_edge(image):
    out = to_array(warp(to_tensor(image), constant_flow(96, 120, -10.0, 0.0)))
    assert np.allclose(out[:, :10], image[:, :1], atol=1e-3)


def test_half_pixel_flow_interpolates(image):
    out = to_array(warp(to_tensor(image), constant_flow(96, 120, 0.5, 0.0)))
    assert np.allclose(out[:, :-1], (image[:, :-1] + image[:, 1:]) / 2, atol=1e-3)


def test_tensor_and_array_flows_agree(image):
    flow = np.random.default_rng(0).normal(0, 2, (96, 120, 2)).astype(np.float32)
    assert torch.equal(warp(to_tensor(image), flow), warp(to_tensor(image), flow_to_tensor(flow)))


def test_flow_to_tensor_layout():
    flow = constant_flow(4, 5, 1.0, 2.0)
    tensor = flow_to_tensor(flow)
    assert tensor.shape == (1, 2, 4, 5) and tensor.dtype == torch.float32
    assert torch.all(tensor[:, 0] == 1) and torch.all(tensor[:, 1] == 2)


def test_one_flow_warps_a_batch(image):
    batch = torch.stack([to_tensor(image)[0], to_tensor(255 - image)[0]])
    flow = constant_flow(96, 120, 2.0, 1.0)
    out = warp(batch, flow)
    assert out.shape == batch.shape
    assert torch.allclose(out[1:], warp(batch[1:], flow))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_keeps_the_image_dtype(image, dtype):
    out = warp(to_tensor(image / 255).to(dtype), constant_flow(96, 120, 1.5, 0.0))
    assert out.dtype == dtype
    expected = warp(to_tensor(image / 255), constant_flow(96, 120, 1.5, 0.0))
    assert torch.allclose(out.float(), expected, atol=1e-2)


def test_gradient_reaches_the_image(image):
    x = to_tensor(image / 255).requires_grad_()
    warp(x, constant_flow(96, 120, 0.3, 0.7)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_host_warp_matches(image):
    flow = np.random.default_rng(1).normal(0, 3, (96, 120, 2)).astype(np.float32)
    expected = to_array(warp(to_tensor(image), flow))
    difference = np.abs(warp_array(image, flow) - expected)
    if OPENCV_ROUNDS_REMAP:
        # 1/64 px of position error times this picture's steepest edge (about 130 levels a pixel).
        assert difference.max() < 2.5 and difference.mean() < 0.1
    else:
        assert difference.max() < 1e-2
    grey = image[..., 0].astype(np.uint8)
    host = warp_array(grey, flow)
    assert host.shape == grey.shape and host.dtype == np.uint8
    assert np.abs(host.astype(np.float32) - np.round(expected[..., 0])).max() <= 2


def test_shape_mismatch_raises(image):
    with pytest.raises(ValueError, match="does not fit"):
        warp(to_tensor(image), np.zeros((96, 121, 2), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        warp(to_tensor(image), torch.zeros(1, 3, 96, 120))
    with pytest.raises(ValueError, match="does not fit"):
        warp_array(image, np.zeros((95, 120, 2), np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(image):
    flow = np.random.default_rng(2).normal(0, 3, (96, 120, 2)).astype(np.float32)
    on_gpu = warp(to_tensor(image).cuda(), flow)
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), warp(to_tensor(image), flow), atol=1e-2)
