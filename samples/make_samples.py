"""Make ``samples/pan.mp4``: a pan over a real panorama, a cut, another pan, with audio.

Run: ``python samples/make_samples.py [OUT.mp4] [--frames N] [--size WxH]``.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
RATE = Fraction(30000, 1001)


def pan_frames(pano: np.ndarray, count: int, size: tuple[int, int], *, speed: float, y: int) -> list[np.ndarray]:
    """``count`` RGB crops of ``size`` (w, h) sliding right across an equirect panorama (wrapping)."""
    w, h = size
    wrapped = np.concatenate([pano, pano], axis=1)
    frames = []
    for i in range(count):
        x = i * speed
        x0 = int(x)
        crop = wrapped[y : y + h, x0 : x0 + w + 1].astype(np.float32)
        frac = x - x0  # sub-pixel pan: linear interpolation between neighbouring columns
        frames.append(((1 - frac) * crop[:, :w] + frac * crop[:, 1 : w + 1] + 0.5).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, tone_hz: float = 220.0) -> None:
    """Encode RGB frames as H.264 at 30000/1001 fps with a stereo AAC tone of the same length."""
    h, w = frames[0].shape[:2]
    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=RATE, options={"crf": "16", "g": "24"})
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = out.add_stream("aac", rate=48000, layout="stereo")
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        samples = int(len(frames) / RATE * 48000)
        t = np.arange(samples) / 48000
        tone = (0.2 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        pts = 0
        for start in range(0, samples, 1024):
            chunk = np.stack([tone[start : start + 1024]] * 2)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, pts
            pts += chunk.shape[1]
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", nargs="?", default=str(HERE / "pan.mp4"))
    parser.add_argument("--frames", type=int, default=48, help="total frames (two shots)")
    parser.add_argument("--size", default="224x128", help="frame size WxH")
    args = parser.parse_args()
    w, h = map(int, args.size.lower().split("x"))
    workshop = cv2.cvtColor(cv2.imread(str(HERE / "workshop.png")), cv2.COLOR_BGR2RGB)
    lab = cv2.cvtColor(cv2.imread(str(HERE / "lab.png")), cv2.COLOR_BGR2RGB)
    first = args.frames * 2 // 3
    frames = pan_frames(workshop, first, (w, h), speed=1.5, y=(256 - h) // 2)
    frames += pan_frames(lab, args.frames - first, (w, h), speed=1.5, y=(256 - h) // 2)
    write_clip(Path(args.output), frames)
    print(f"wrote {args.output}: {len(frames)} frames {w}x{h} at {RATE} fps, cut at frame {first}")


if __name__ == "__main__":
    main()
