"""No step waits for the device: every projection's step under a dispatch mode that fails on a host
read (``.item()``, ``bool(t)``, ``float(t)``, a data-dependent shape) and counts the tensors made from
host data, on the CPU (CI has no GPU); and under CUDA's sync debug mode where there is one.

What depends only on an octave's size is built in the first step at that size, so each case dreams
once before the dream it watches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import FLAT, Dreamer, image_to_tensor, layer_energy
from dreamvideo.panorama.projection import EquirectFlat, EquirectViews
from dreamvideo.panorama.stereo import dream_stereo

from ..conftest import photo
from ..panorama.fields import panorama
from .host_reads import HostRead, HostReads, watching_steps

SETTINGS = dict(octaves=2, steps=1, base_width=128, tile=512, seed=3)  # octaves 64x128 and 128x256

# (projection, stereo, sparse): host syncs and copies from the host per step. A view rig's
# rotations go up once a step (one small pinned copy); the sparse dream reads back, once a step,
# which views see a needed pixel (``Dreamer.gradient``), its one documented sync.
CASES = {
    "flat": (lambda: FLAT, False, False, 0, 0),
    "equirect-pixels": (EquirectFlat, False, False, 0, 0),
    "views": (EquirectViews, False, False, 0, 1),
    "cubemap": (EquirectViews.cubemap, False, False, 0, 1),
    "sparse-views": (EquirectViews, False, True, 1, 1),
    "stereo-views": (EquirectViews, True, False, 0, 1),
}


def _dream_case(model, name: str):
    """A function that dreams the case's picture on ``model``'s device, and the Dreamer it uses."""
    make, stereo, sparse, _, _ = CASES[name]
    projection = make()
    dreamer = Dreamer(model, layer_energy("blocks.6"), DreamSettings(**SETTINGS), projection=projection)
    device = model.device
    if projection is FLAT:
        image = image_to_tensor(photo("astronaut", (256, 128)), device)
    else:
        image = image_to_tensor(panorama("workshop", 256), device)
    if stereo:
        right = torch.roll(image, 3, dims=-1)  # the other eye, a little to the side
        frame = torch.cat([image, right], dim=-2)
        found = (np.zeros((64, 128, 2), np.float32), np.ones((128, 256), np.float32))  # a disparity of 0
        return dreamer, lambda: dream_stereo(
            dreamer, frame, "top-bottom", frame_index=2, refine_steps=2, disparity_found=found
        ).image
    if sparse:
        weight = torch.zeros(1, 1, 128, 256, device=device)
        weight[..., 56:72, 30:50] = 1.0
        return dreamer, lambda: dreamer.dream(image, frame_index=2, step_weight=weight, sparse=True)
    return dreamer, lambda: dreamer.dream(image, frame_index=2)


@pytest.mark.parametrize("name", list(CASES))
def test_no_step_reads_the_device(lite0, name):
    dreamer, dream = _dream_case(lite0, name)
    syncs, uploads = CASES[name][3:]
    dream()  # plans each octave's size
    reads = HostReads(allowed_syncs=None if syncs else 0)
    with watching_steps(dreamer, reads):
        dream()
    # Both octaves' steps (and for a stereo frame the right eye's: its 2 refine steps an octave, all of it carried).
    assert reads.steps == 2 * SETTINGS["steps"] + (2 * 2 if "stereo" in name else 0)
    assert sum(reads.syncs.values()) == syncs * reads.steps, reads.syncs
    assert reads.uploads == uploads * reads.steps
    assert not reads.float64, reads.float64  # float32 on the device


def test_host_reads_catch_a_read_and_a_copy(lite0):
    """The mode sees what a step would do wrong: the base commit's EquirectViews read whether each view
    had any weight (``bool((w > 0).any())``) and the widest row box (``float(widths.max())``)."""
    with pytest.raises(HostRead, match="_local_scalar_dense"):
        with HostReads():
            bool((torch.ones(3) > 0).any())
    with pytest.raises(HostRead, match="nonzero"):
        with HostReads():
            torch.ones(3).nonzero()
    with HostReads() as reads:
        torch.tensor([1.0, 2.0]) * torch.ones(2, dtype=torch.float64)
    assert reads.uploads == 1 and reads.float64["aten.mul.Tensor"] == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(CASES))
def test_no_step_waits_for_the_gpu(name):
    """CUDA's own count: every synchronising call inside a step warns (sync debug mode "warn")."""
    from dreamvideo.models import load_model

    dreamer, dream = _dream_case(load_model("efficientnet-lite0", device="cuda"), name)
    dream()
    torch.cuda.synchronize()
    step, counted = dreamer.step, []

    def watched(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return step(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
                counted.append(sum("synchroniz" in str(w.message) for w in caught))

    dreamer.step = watched
    dream()
    assert counted and all(n == CASES[name][3] for n in counted), counted
