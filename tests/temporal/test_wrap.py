"""Flow, warping and the consistency mask across the seam of an equirect panorama (``wrap_x``)."""

from __future__ import annotations

import numpy as np
import torch

from dreamvideo.temporal.flow import compute_flow, flow_pair
from dreamvideo.temporal.workers import FlowWorkers
from dreamvideo.temporal.occlusion import blend_mask, consistency_mask, soften_mask
from dreamvideo.temporal.warp import warp, warp_array

from ..panorama.fields import panorama

SHIFT = 6  # the camera turns: the panorama rolls this many pixels to the right


def _turned():
    prev = panorama("workshop", 256)
    return prev, np.roll(prev, SHIFT, axis=1)


def test_flow_wraps_across_the_seam():
    prev, turned = _turned()
    # Only a band around the seam turns: cur there shows prev at x - SHIFT, across the seam.
    cur = prev.copy()
    band = np.r_[0:32, 224:256]
    cur[:, band] = turned[:, band]
    edges, middle, rows = np.r_[0:12, 244:256], np.r_[100:150], slice(16, 112)
    errors = {}
    for method, scale in (("farneback", 1.0), ("dis", 0.5)):
        for wrap_x in (False, True):
            flow = compute_flow(cur, prev, method=method, scale=scale, wrap_x=wrap_x)
            assert flow.shape == (128, 256, 2)
            assert np.abs(flow[rows][:, middle]).mean() < 0.01
            errors[method, wrap_x] = np.abs(flow[rows][:, edges, 0] + SHIFT).mean()
    # Measured: farneback 0.006 wrapped vs 0.11 not; DIS 0.07 vs 0.30.
    assert errors["farneback", True] < 0.03 and errors["farneback", False] > 3 * errors["farneback", True]
    assert errors["dis", False] > 2 * errors["dis", True]
    # flow_pair and the worker pool pass the flag on.
    wrapped = compute_flow(cur, prev, scale=1.0, wrap_x=True)
    back, forward = flow_pair(prev, cur, scale=1.0, wrap_x=True)
    assert np.array_equal(back, wrapped)
    assert np.abs(forward[rows][:, edges, 0] - SHIFT).mean() < 0.03
    with FlowWorkers(scale=1.0, processes=0, wrap_x=True) as workers:
        assert np.array_equal(workers.submit(prev, cur).result()[0], wrapped)


def test_warp_wraps_across_the_seam():
    prev, cur = _turned()
    flow = np.zeros((128, 256, 2), np.float32)
    flow[..., 0] = -SHIFT
    image = torch.from_numpy(prev).permute(2, 0, 1)[None].float()
    warped = warp(image, flow, wrap_x=True)[0].permute(1, 2, 0).numpy()
    assert np.abs(warped - cur).max() < 1e-3  # the left edge comes from the right edge
    plain = warp(image, flow)[0].permute(1, 2, 0).numpy()
    assert np.abs(plain[:, :SHIFT] - cur[:, :SHIFT]).mean() > 5
    host = warp_array(prev.astype(np.float32), flow, wrap_x=True)
    assert np.abs(host - cur).max() < 1e-3
    # Half a pixel over the seam interpolates between the last column and the first.
    flow[..., 0] = -0.5
    half = warp_array(prev.astype(np.float32), flow, wrap_x=True)
    expected = (prev[:, 0].astype(np.float32) + prev[:, -1]) / 2
    assert np.abs(half[:, 0] - expected).max() < 1e-3
    # Rows do not wrap: above the top (a pole) is the top row, as in warp.
    flow[..., 0], flow[..., 1] = 0, -3.5
    up = warp_array(prev.astype(np.float32), flow, wrap_x=True)
    assert np.abs(up[:3] - prev[0].astype(np.float32)).max() < 1e-3
    assert np.abs(up - warp(image, flow, wrap_x=True)[0].permute(1, 2, 0).numpy()).max() < 0.1


def test_consistency_mask_keeps_what_crosses_the_seam():
    flow = np.zeros((64, 128, 2), np.float32)
    flow[..., 0] = -SHIFT
    back, forward = flow, -flow
    plain = consistency_mask(back, forward)
    wrapped = consistency_mask(back, forward, wrap_x=True)
    assert not plain[:, :SHIFT].any() and plain[:, SHIFT + 1 :].all()
    assert wrapped.all()
    # Leaving through a pole is still leaving the frame.
    flow[..., 1] = -3
    assert not consistency_mask(flow, -flow, wrap_x=True)[:2].any()


def test_soft_mask_erodes_and_blurs_across_the_seam():
    mask = np.ones((32, 64), bool)
    mask[:, 60:] = False  # an occlusion touching the right edge
    plain = soften_mask(mask)
    wrapped = soften_mask(mask, wrap_x=True)
    assert plain[:, 0].min() > 0.99  # the left edge knows nothing of it
    assert wrapped[:, 0].max() < 0.5  # across the seam, the left edge is next to it
    assert np.allclose(wrapped[:, 20:40], plain[:, 20:40])
    flow = np.zeros((32, 64, 2), np.float32)
    assert np.allclose(blend_mask(flow, flow, wrap_x=True), soften_mask(np.ones((32, 64), bool), wrap_x=True))
