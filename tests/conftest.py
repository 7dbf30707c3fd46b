"""Shared fixtures: real photos at test sizes, the default model loaded once."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

# Tests share 2 cores with flow worker processes; one intra-op thread avoids OpenMP spin contention.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests send SIGINT to the dreamvideo processes they start. A suite started in the background of a
# script (`make test &`) inherits SIGINT ignored, and so would those processes: Ctrl-C would do
# nothing there. Python's own handler here gives them the default disposition back.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def lite0():
    """The default model (efficientnet-lite0, real ImageNet weights) on the CPU."""
    from dreamvideo.models import load_model

    return load_model("efficientnet-lite0")


def photo(name: str = "astronaut", size: tuple[int, int] = (96, 96)) -> np.ndarray:
    """A scikit-image sample photo resized to ``size`` (w, h): uint8 ``(H, W, 3)`` RGB."""
    import cv2
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.resize(image[..., :3], size, interpolation=cv2.INTER_AREA)
