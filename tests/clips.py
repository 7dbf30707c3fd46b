"""Test clips for temporal quality, made from real pictures: the panoramas in ``samples/``
and scikit-image's photos.

Each builder returns a :class:`Clip`: uint8 RGB ``(H, W, 3)`` frames and what is
known about them (where the cut is, which pixels each frame reveals). The tests
(``tests/temporal``, ``tests/test_pipeline.py``) and ``benchmarks/coherence.py``
share them, so the figures in the benchmark are those of the tested clips.

Views are perspective cameras looking into an equirectangular panorama
(longitude along the width, the top row the zenith), made with ``cv2.remap``:
real texture, real parallax-free camera motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CLIPS",
    "Clip",
    "camera_path",
    "crossfade",
    "fast_pan",
    "occluder",
    "panorama",
    "similar_cut",
    "view",
    "write_clip",
]

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SIZE = (128, 72)  # (w, h) of the test clips
FOV = 75.0  # horizontal field of view, degrees: about one panorama pixel per view pixel at 128 wide


@dataclass
class Clip:
    """Frames and what is known about them.

    Attributes:
        name: short name (the benchmark prints it).
        frames: uint8 RGB ``(H, W, 3)`` frames.
        cut: index of the first frame of a new shot, or None.
        revealed: per frame, bool ``(H, W)``: pixels showing background that was hidden in the
            frame before (the occluder clip only).
    """

    name: str
    frames: list[np.ndarray]
    cut: int | None = None
    revealed: list[np.ndarray] = field(default_factory=list)


def panorama(name: str = "workshop") -> np.ndarray:
    """A 512×256 equirectangular panorama from ``samples/`` (``workshop`` or ``lab``): uint8 RGB."""
    image = cv2.imread(str(SAMPLES / f"{name}.png"))
    if image is None:
        raise FileNotFoundError(SAMPLES / f"{name}.png")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def view(
    pano: np.ndarray, yaw: float, pitch: float = 0.0, *, size: tuple[int, int] = SIZE, fov: float = FOV
) -> np.ndarray:
    """The perspective view of ``pano`` looking at ``yaw``, ``pitch`` degrees (pitch up is positive).

    Returns uint8 RGB ``(h, w, 3)`` for ``size`` ``(w, h)``, sampled bilinearly (the seam wraps).
    """
    w, h = size
    ph, pw = pano.shape[:2]
    f = (w / 2) / math.tan(math.radians(fov) / 2)
    u, v = np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)
    rays = np.stack([u / f, v / f, np.ones_like(u)], axis=-1)  # x right, y down, z forward
    p, t = math.radians(-pitch), math.radians(yaw)
    pitch_m = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    yaw_m = np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    d = rays @ (yaw_m @ pitch_m).T
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(d[..., 1] / np.linalg.norm(d, axis=-1))  # down is positive
    map_x = ((lon / (2 * math.pi) + 0.5) * pw - 0.5).astype(np.float32)
    map_y = ((lat / math.pi + 0.5) * ph - 0.5).astype(np.float32)
    return cv2.remap(pano, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _path(pano: np.ndarray, count: int, *, yaw0: float, yaw_step: float, start: int = 0) -> list[np.ndarray]:
    """``count`` views along a smooth path: yaw at ``yaw_step`` a frame, pitch swaying ±4°."""
    return [
        view(pano, yaw0 + yaw_step * i, 4.0 * math.sin(2 * math.pi * i / 24))
        for i in range(start, start + count)
    ]


def camera_path(count: int = 16) -> Clip:
    """A camera turning 1.5° a frame over the workshop panorama, pitch swaying: about 2.5 px a frame."""
    return Clip("camera path", _path(panorama("workshop"), count, yaw0=-30.0, yaw_step=1.5))


def fast_pan(count: int = 12) -> Clip:
    """A whip pan: 9° a frame (about 14 px, 11 % of the width) over the lab panorama."""
    return Clip("fast pan", [view(panorama("lab"), 20.0 + 9.0 * i, 0.0) for i in range(count)])


def similar_cut(count: int = 16, cut: int = 8) -> Clip:
    """A hard cut between two shots of the workshop looking 107° apart: same palette, other things in view.

    Their RGB histograms are close (Bhattacharyya distance 0.26 across the cut, less than
    the 0.3 that the colour test of the old detector needed).
    """
    pano = panorama("workshop")
    frames = _path(pano, cut, yaw0=-20.0, yaw_step=1.0) + _path(pano, count - cut, yaw0=240.0, yaw_step=1.0)
    return Clip("similar cut", frames, cut=cut)


def crossfade(count: int = 16, start: int = 4, length: int = 8) -> Clip:
    """A cross-fade over ``length`` frames from a workshop shot to a lab shot, both turning."""
    a = _path(panorama("workshop"), count, yaw0=-20.0, yaw_step=1.0)
    b = _path(panorama("lab"), count, yaw0=40.0, yaw_step=-1.0)
    frames = []
    for i in range(count):
        alpha = min(1.0, max(0.0, (i - start + 1) / (length + 1)))
        frames.append((a[i] * (1 - alpha) + b[i] * alpha + 0.5).astype(np.uint8))
    return Clip("cross-fade", frames)


def occluder(count: int = 16, speed: int = 5) -> Clip:
    """A photo of a cat (scikit-image's ``chelsea``, 40×40) sliding ``speed`` px a frame across a
    slowly turning workshop view, uncovering what it hid. ``revealed`` marks the uncovered pixels."""
    from skimage import data

    w, h = SIZE
    side = 40
    patch = cv2.resize(data.chelsea()[40:260, 100:320], (side, side), interpolation=cv2.INTER_AREA)
    background = [view(panorama("workshop"), 60.0 + 0.3 * i, 0.0) for i in range(count)]
    top = (h - side) // 2
    frames, revealed, covered_before = [], [], None
    for i, frame in enumerate(background):
        left = 4 + speed * i
        frame = frame.copy()
        if left + side > w:
            raise ValueError(f"the occluder leaves the frame at frame {i}: use fewer frames or a lower speed")
        covered = np.zeros((h, w), bool)
        covered[top : top + side, left : left + side] = True
        frame[top : top + side, left : left + side] = patch
        frames.append(frame)
        revealed.append(np.zeros((h, w), bool) if covered_before is None else covered_before & ~covered)
        covered_before = covered
    return Clip("occluder", frames, revealed=revealed)


CLIPS = {
    "camera_path": camera_path,
    "occluder": occluder,
    "similar_cut": similar_cut,
    "crossfade": crossfade,
    "fast_pan": fast_pan,
}


def write_clip(path: Path, frames: list[np.ndarray], *, rate: Fraction = Fraction(30000, 1001), crf: int = 12) -> Path:
    """Encode uint8 ``(H, W, 3)`` RGB frames as H.264 (yuv420p) at ``rate`` with PyAV."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path
