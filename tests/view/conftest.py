"""The viewer under test: `dreamvideo view` in a subprocess, real media, and what a view should look like."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def read_rgb(path: Path) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def write_rgb(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def pano_dir(tmp_path_factory) -> Path:
    """A folder holding the sample panoramas (512x256 equirect) and a file that must never be served."""
    folder = tmp_path_factory.mktemp("pano")
    for name in ("lab.png", "workshop.png"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "secret.txt").write_text("not for the browser\n")
    return folder


def encode_video(path: Path, frames: list[np.ndarray], codec: str, rate: int = 10) -> Path:
    """Encode ``uint8 (H, W, 3)`` RGB frames with PyAV (``libx264`` → MP4, ``libvpx-vp9`` → WebM)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(rate))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20"} if codec == "libx264" else {"crf": "20", "b": "0", "deadline": "realtime"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@dataclass
class Viewer:
    """A running ``dreamvideo view``: its process, page address and first output line."""

    process: subprocess.Popen
    url: str
    port: int
    line: str

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C it; ``(exit code, rest of stdout, stderr)``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=10)
        return self.process.returncode, out, err


def start_viewer(path: Path, *args: str, timeout: float = 20) -> Viewer:
    """Start ``python -m dreamvideo view PATH --port 0 --no-browser ARGS`` and read the address it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dreamvideo", "view", str(path), "--port", "0", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            process.kill()
            raise AssertionError(f"dreamvideo view printed nothing in {timeout} s")
    line = process.stdout.readline()
    m = ADDRESS.search(line)
    if not m:
        process.kill()
        raise AssertionError(f"no address in {line!r}; stderr: {process.stderr.read()}")
    return Viewer(process, m[0], int(m[1]), line)


@pytest.fixture
def viewer():
    """``viewer(path, *args)`` starts the server; every one started is stopped (Ctrl-C) after the test."""
    started: list[Viewer] = []

    def start(path: Path, *args: str) -> Viewer:
        started.append(start_viewer(path, *args))
        return started[-1]

    yield start
    for v in started:
        if v.process.poll() is None:
            v.process.send_signal(signal.SIGINT)
            try:
                v.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                v.process.kill()


def expected_view(
    pano: np.ndarray, yaw: float, pitch: float, fov: float, width: int, height: int
) -> np.ndarray:
    """What a pinhole camera inside the equirect sphere sees: ``uint8 (height, width, 3)``.

    The page's convention: yaw 0 looks at the middle column, positive yaw turns right,
    positive pitch looks up, ``fov`` is vertical (degrees); the ray through pixel
    centre (x, y) is rotY(-yaw) · rotX(pitch) · (nx·t·aspect, ny·t, -1), t = tan(fov/2).
    """
    t = np.tan(np.radians(fov) / 2)
    xs = ((np.arange(width) + 0.5) / width * 2 - 1) * t * width / height
    ys = (1 - (np.arange(height) + 0.5) / height * 2) * t
    x, y = np.meshgrid(xs, ys)
    z = -np.ones_like(x)
    p = np.radians(pitch)
    y, z = y * np.cos(p) - z * np.sin(p), y * np.sin(p) + z * np.cos(p)
    a = -np.radians(yaw)
    x, z = x * np.cos(a) + z * np.sin(a), -x * np.sin(a) + z * np.cos(a)
    lon = np.arctan2(x, -z)
    lat = np.arctan2(y, np.hypot(x, z))
    h, w = pano.shape[:2]
    map_x = ((0.5 + lon / (2 * np.pi)) * w - 0.5).astype(np.float32)
    map_y = ((0.5 - lat / np.pi) * h - 0.5).astype(np.float32)
    return cv2.remap(pano, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two pictures of one size (all channels together)."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])
