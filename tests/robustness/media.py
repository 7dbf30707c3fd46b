"""Inputs for the robustness matrix, made on demand with the ffmpeg program (and torch, cv2).

``Media(folder).path(name)`` makes the input ``name`` once and returns its path;
everything is tiny (16–96 px, at most a few seconds) so the matrix stays fast.
The ffprobe helpers read results back with FFmpeg's own tools, not ours.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["tenk_level", "Media", "SIDE_EFFECT", "ffmpeg", "ffprobe_frames", "ffprobe_packet_times", "ffprobe_stream", "needs_ffmpeg", "HAVE_FFMPEG"]

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
SIDE_EFFECT = "pwned-by-pickle"  # the file a malicious weights pickle would create beside itself

try:
    import pytest

    needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="needs the ffmpeg and ffprobe programs")
except ImportError:  # the table script runs without pytest
    needs_ffmpeg = None


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def ffprobe_stream(path: Path) -> dict:
    """The first video stream as ffprobe sees it (with decoded frame count and side data)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    streams = json.loads(out)["streams"]
    return streams[0] if streams else {}


def ffprobe_frames(path: Path) -> list[float]:
    """Presentation times (s) of every decodable video frame, in the order ffprobe reports them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
         "-of", "json", str(path)],
        capture_output=True, text=True,
    ).stdout
    return [float(f["best_effort_timestamp_time"]) for f in json.loads(out or "{}").get("frames", [])]


def ffprobe_packet_times(path: Path) -> list[float]:
    """Presentation times (s) the container gives the video packets, sorted."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "json", str(path)],
        capture_output=True, text=True,
    ).stdout
    return sorted(float(p["pts_time"]) for p in json.loads(out or "{}").get("packets", []) if "pts_time" in p)


def tenk_level(index: int) -> float:
    """The RGB grey level of frame ``index`` of the ``tenk`` clip (luma 16 + 7·index mod 219, limited range)."""
    return (7 * index % 219) * 255 / 219


class _Evil:
    """Unpickling this runs ``open(path, "w")``: the side effect a hostile checkpoint would have."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class Media:
    """Inputs made on first use in ``folder`` and reused."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        maker: Callable[[Path], None] = getattr(self, "_" + name.replace(".", "_").replace("-", "_"))
        target = self.folder / _FILE_NAMES.get(name, name)
        if not target.exists():
            maker(target)
        return target

    # -- videos -------------------------------------------------------------------

    def _clip(self, p: Path) -> None:
        """64x48, 10 frames at 10 fps, with an AAC soundtrack; moov at the end."""
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi", "-i", "sine=f=440:sample_rate=16000",
               "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(p))

    def _gop5(self, p: Path) -> None:
        """64x48, 30 frames at 10 fps, a keyframe every 5, B-frames, moov first (faststart)."""
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "3", "-g", "5", "-pix_fmt", "yuv420p",
               "-c:v", "libx264", "-movflags", "+faststart", str(p))

    def _long(self, p: Path) -> None:
        """64x48, 600 frames at 25 fps: long enough to be interrupted."""
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "24", "-pix_fmt", "yuv420p",
               "-c:v", "libx264", "-preset", "ultrafast", str(p))

    def _tenk(self, p: Path) -> None:
        """10,000 frames of 16x16 at 25 fps, flat grey, its level ``tenk_level(index)`` (a keyframe every 250)."""
        ffmpeg("-f", "lavfi", "-i", "nullsrc=s=16x16:r=25,geq=lum='16+mod(N*7\\,219)':cb=128:cr=128", "-frames:v", "10000",
               "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "250", str(p))

    def _cut(self, p: Path) -> None:
        """``clip`` cut at 40% of its bytes: the index (moov) is lost, nothing can be decoded."""
        data = self.path("clip").read_bytes()
        p.write_bytes(data[: int(len(data) * 0.4)])

    def _cut_faststart(self, p: Path) -> None:
        """``gop5`` (index first) cut at 40% of its bytes: the first frames still decode."""
        data = self.path("gop5").read_bytes()
        p.write_bytes(data[: int(len(data) * 0.4)])

    def _damaged(self, p: Path) -> None:
        """``gop5`` with 200 bytes of noise over a packet in the middle of the media data."""
        data = bytearray(self.path("gop5").read_bytes())
        middle = len(data) // 2
        data[middle : middle + 200] = np.random.default_rng(9).integers(0, 256, 200, dtype=np.uint8).tobytes()
        p.write_bytes(bytes(data))

    def _audio(self, p: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "sine=f=440", "-t", "1", "-c:a", "aac", str(p))

    def _one_frame(self, p: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "1", "-pix_fmt", "yuv420p",
               "-c:v", "libx264", str(p))

    def _odd(self, p: Path) -> None:
        """321x179, 5 frames, lossless 4:4:4 (so a crop of it can be compared exactly)."""
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=321x179:rate=10", "-frames:v", "5", "-pix_fmt", "yuv444p",
               "-c:v", "libx264", "-qp", "0", str(p))

    def _odd_cropped(self, p: Path) -> None:
        """``odd`` cropped to 320x178 as the decoder does (the last column and row), losslessly."""
        ffmpeg("-i", str(self.path("odd")), "-vf", "crop=320:178:0:0", "-pix_fmt", "yuv444p", "-c:v", "libx264",
               "-qp", "0", str(p))

    def _rotated(self, p: Path) -> None:
        """``clip`` with a 90° display rotation (a phone video held upright): coded 64x48, shown 48x64."""
        ffmpeg("-i", str(self.path("clip")), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(p))

    def _vfr(self, p: Path) -> None:
        """10 frames at irregular times: 0, 0.08, 0.2, 0.28, 0.4, then every 0.04 s."""
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "10",
               "-vf", "setpts='if(lt(N,5),N*0.1,0.5+(N-5)*0.04)/TB'", "-vsync", "vfr", "-pix_fmt", "yuv420p",
               "-c:v", "libx264", "-video_track_timescale", "1000", str(p))

    # -- not videos ---------------------------------------------------------------

    def _folder(self, p: Path) -> None:
        p.mkdir()

    def _zero(self, p: Path) -> None:
        p.write_bytes(b"")

    def _text(self, p: Path) -> None:
        p.write_text("this is not a video\n")

    def _still(self, p: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", str(p))

    def _png16(self, p: Path) -> None:
        import cv2

        y, x = np.mgrid[0:48, 0:64]
        image = np.stack([x * 1000, y * 1300, (x + y) * 500], axis=2).astype(np.uint16)
        cv2.imwrite(str(p), image)

    def _grey(self, p: Path) -> None:
        import cv2

        y, x = np.mgrid[0:48, 0:64]
        cv2.imwrite(str(p), ((x * 3 + y * 2) % 256).astype(np.uint8))

    def _alpha(self, p: Path) -> None:
        import cv2

        y, x = np.mgrid[0:48, 0:64]
        bgra = np.stack([x * 4, y * 5, (x + y) * 2, np.where(x < 32, 255, 80)], axis=2).astype(np.uint8)
        cv2.imwrite(str(p), bgra)

    # -- weights ------------------------------------------------------------------

    def _weights_text(self, p: Path) -> None:
        p.write_text("not weights at all\n")

    def _weights_list(self, p: Path) -> None:
        import torch

        torch.save([1, 2, 3], p)

    def _weights_resnet18(self, p: Path) -> None:
        """A real state dict of another architecture (torchvision's resnet18, untrained)."""
        import torch
        import torchvision

        torch.save(torchvision.models.resnet18().state_dict(), p)

    def _weights_evil(self, p: Path) -> None:
        """A pickle (protocol 4, as ``pickle.dump`` writes) that creates SIDE_EFFECT when loaded."""
        with open(p, "wb") as f:
            pickle.dump({"conv.weight": _Evil(os.fspath(p.parent / SIDE_EFFECT))}, f, protocol=4)

    def _weights_evil2(self, p: Path) -> None:
        """The same in protocol 2 (what old ``torch.save`` wrote): no torch warning, the global is refused."""
        with open(p, "wb") as f:
            pickle.dump({"conv.weight": _Evil(os.fspath(p.parent / SIDE_EFFECT))}, f, protocol=2)


_FILE_NAMES = {
    "clip": "clip.mp4",
    "gop5": "gop5.mp4",
    "long": "long.mp4",
    "tenk": "tenk.mp4",
    "cut": "cut.mp4",
    "cut_faststart": "cut_faststart.mp4",
    "damaged": "damaged.mp4",
    "audio": "audio.m4a",
    "one_frame": "one_frame.mp4",
    "odd": "odd.mp4",
    "odd_cropped": "odd_cropped.mp4",
    "rotated": "rotated.mp4",
    "vfr": "vfr.mp4",
    "folder": "a_folder",
    "zero": "zero.mp4",
    "text": "text.mp4",
    "still": "still.png",
    "png16": "png16.png",
    "grey": "grey.png",
    "alpha": "alpha.png",
    "weights_text": "text.pt",
    "weights_list": "list.pt",
    "weights_resnet18": "resnet18.pt",
    "weights_evil": "evil.pt",
    "weights_evil2": "evil2.pt",
}
