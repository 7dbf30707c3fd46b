"""Real texture for the temporal tests: crops of scikit-image's sample photos."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from skimage import data

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """uint8 RGB photos by name, 300 to 640 pixels a side."""
    return {name: getattr(data, name)() for name in PHOTOS}


def _crop(image: np.ndarray, x: int, y: int, size: int = 128, *, zoom: float = 1.0) -> np.ndarray:
    side = round(size / zoom)
    offset = (size - side) // 2
    patch = image[y + offset : y + offset + side, x + offset : x + offset + side]
    if side == size:
        return np.ascontiguousarray(patch)
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def crop() -> Callable[..., np.ndarray]:
    """``crop(image, x, y, size=128, *, zoom=1.0)``: a square at ``(x, y)``.

    ``zoom`` > 1 magnifies about the square's centre.
    """
    return _crop
