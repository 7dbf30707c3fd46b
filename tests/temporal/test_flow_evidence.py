"""The flow workers decide ahead what the dream thread used to: same frames, a fraction of the bytes."""

from __future__ import annotations

import pickle

import numpy as np
import torch

from dreamvideo.temporal.carry import carry_weights
from dreamvideo.temporal.flow import FlowEvidence, flow_evidence, flow_pair
from dreamvideo.temporal.workers import FlowWorkers
from dreamvideo.temporal.warp import flow_to_tensor


def test_evidence_matches_what_the_dream_thread_computes(photos, crop):
    prev, cur = crop(photos["astronaut"], 100, 60, 128), crop(photos["astronaut"], 104, 62, 128)
    back, forward = flow_pair(prev, cur)
    keep, cut = carry_weights(prev, cur, back, forward)
    evidence = flow_evidence(prev, cur)
    assert evidence.cut is False and cut is False
    assert evidence.flow_cur_to_prev.shape == (64, 64, 2)  # at the computed scale (0.5)
    np.testing.assert_array_equal(evidence.keep, keep)
    # Upsampled on the device side: cv2.INTER_LINEAR's half-pixel centres, vectors scaled.
    full = flow_to_tensor(evidence.flow_cur_to_prev, size=(128, 128))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(full, back, atol=1e-4)
    # A cut is decided there too, and then nothing else comes back.
    other = crop(photos["coffee"], 50, 50, 128)
    assert flow_evidence(prev, other) == FlowEvidence((128, 128), True, None, None)


def test_workers_send_back_a_fraction_of_the_bytes(photos, crop):
    prev, cur = crop(photos["rocket"], 0, 0, 256), crop(photos["rocket"], 6, 2, 256)
    with FlowWorkers(processes=1) as workers:
        evidence = workers.submit_evidence(prev, cur).result(timeout=60)
    assert isinstance(evidence, FlowEvidence) and not evidence.cut
    before = len(pickle.dumps(flow_pair(prev, cur)))
    after = len(pickle.dumps(evidence))
    # two full-size float32 flows (16 bytes a pixel) → one flow at half size and the weights (2 + 4)
    assert after < 0.4 * before


def test_frames_to_the_device_convert_the_same(photos, crop):
    from dreamvideo.dream import image_to_tensor

    image = crop(photos["chelsea"], 10, 10, 32)
    tensor = image_to_tensor(image, "cpu")
    assert tensor.dtype == torch.float32 and torch.equal(tensor[0].permute(1, 2, 0), torch.from_numpy(image / np.float32(255)))
