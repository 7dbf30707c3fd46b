"""Media made on the fly for the io tests: tiny clips with moving texture."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

NTSC = Fraction(30000, 1001)

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs the ffmpeg and ffprobe programs",
)


def texture(i: int, width: int = 96, height: int = 64) -> np.ndarray:
    """Frame ``i`` of a clip: drifting gradients plus blocky noise, ``uint8 (H, W, 3)`` RGB."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(i)
    blocks = rng.integers(0, 96, (height // 8 + 1, width // 8 + 1, 3))
    noise = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:height, :width]
    base = np.stack([(x * 3 + i * 4) % 160, (y * 3 + i * 2) % 160, ((x + y) + i * 6) % 160], axis=2)
    return (base + noise).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(255**2 / err)


def make_clip(
    path: Path,
    *,
    frames: int = 48,
    width: int = 96,
    height: int = 64,
    rate: Fraction = NTSC,
    gop: int = 24,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int | None = None,
) -> Path:
    """Encode ``texture(0..frames-1)`` with PyAV; ``pts`` (in ``time_base``) makes it VFR."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "crf": "12"}
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(texture(i, width, height), format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def ffprobe(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    """``(pts, data)`` of every audio packet with data."""
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip240(media) -> Path:
    """240 frames at 30000/1001, a keyframe every 24, 96x64, MP4."""
    return make_clip(media / "clip240.mp4", frames=240)


@pytest.fixture(scope="session")
def clip48(media) -> Path:
    return make_clip(media / "clip48.mp4", frames=48)


@pytest.fixture(scope="session", params=["aac", "mp3"])
def clip_audio(request, media, clip48) -> Path:
    """``clip48`` with a sine in AAC or MP3 and a title."""
    codec = {"aac": ["-c:a", "aac", "-b:a", "64k"], "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"]}[request.param]
    out = media / f"clip_{request.param}.mp4"
    if not out.exists():
        ffmpeg(
            "-i",
            str(clip48),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=1.6",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            *codec,
            "-metadata",
            "title=Sine test",
            str(out),
        )
    return out
