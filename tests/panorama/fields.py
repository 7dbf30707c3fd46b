"""Real equirect panoramas at test sizes, and fields on the sphere for the metrics (test helpers)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PANORAMAS = ("lab", "workshop", "apartment", "studio")


def panorama(name: str = "lab", width: int = 256) -> np.ndarray:
    """A real 360° photo from ``samples/`` (CC0), resized to ``width`` × ``width/2``: uint8 RGB."""
    image = cv2.cvtColor(cv2.imread(str(SAMPLES / f"{name}.png")), cv2.COLOR_BGR2RGB)
    if image.shape[1] != width:
        image = cv2.resize(image, (width, width // 2), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def sphere_field(height: int, width: int, kind: str, *, seed: int = 0) -> np.ndarray:
    """A float64 ``(H, W)`` equirect field: ``meridians`` (varies with longitude only: streaks
    radiating from the poles), ``parallels`` (latitude only: rings), ``isotropic`` (random
    plane waves over the sphere, no preferred direction anywhere on it) or ``view-noise``
    (smooth white noise drawn on the planes of the 90° views straight up and down, painted
    back onto the sphere: no preferred direction in those views)."""
    lat = np.pi / 2 - (np.arange(height) + 0.5) / height * np.pi
    lon = (np.arange(width) + 0.5) / width * 2 * np.pi - np.pi
    lat, lon = np.meshgrid(lat, lon, indexing="ij")
    if kind == "meridians":
        return np.sin(24 * lon)
    if kind == "parallels":
        return np.sin(60 * lat)
    rng = np.random.default_rng(seed)
    if kind == "view-noise":
        return _view_noise(height, width, rng)
    dirs = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)
    field = np.zeros((height, width))
    for _ in range(200):
        k = rng.normal(size=3)
        k *= 40 / np.linalg.norm(k)
        field += np.cos(dirs @ k + rng.uniform(0, 2 * np.pi))
    return field / np.sqrt(100)


def _view_noise(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    from dreamvideo.panorama.geometry import equirect_directions, look_at, view_coordinates

    dirs = equirect_directions(height, width, dtype=torch.float64)
    field = torch.zeros(height, width, dtype=torch.float64)
    for forward in ((0.0, 1.0, 0.0), (0.0, -1.0, 0.0)):
        noise = cv2.GaussianBlur(rng.normal(size=(448, 448)), (0, 0), 4.0)  # twice the 90° view's extent
        noise = torch.from_numpy(noise / noise.std())[None, None]
        a, b, front = view_coordinates(dirs, look_at(forward), 90.0)
        grid = torch.stack([a / 2, b / 2], dim=-1)[None]
        sampled = F.grid_sample(noise, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, 0]
        field += torch.where(front & (a.abs() < 2) & (b.abs() < 2), sampled, torch.zeros_like(sampled))
    return field.numpy()
