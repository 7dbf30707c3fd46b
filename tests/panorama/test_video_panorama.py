"""360° clips through the one runner: `dream` and `render` with an equirect projection and stereo eyes.

A camera turning inside a real panorama (a horizontal roll of the equirect frame)
is the clip; the stereo clip puts the same panorama in both eyes with the right
eye's view shifted (a uniform disparity).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.metrics import seam_ratio
from dreamvideo.io.spherical import read_spherical

from ..clips import write_clip
from ..io.conftest import ffprobe, needs_ffmpeg
from .fields import panorama

pytestmark = needs_ffmpeg

FAST = ["--steps", "2", "--refine-steps", "1", "--quiet"]
RATE = Fraction(24)
SHIFT = 6  # the right eye's disparity, pixels


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def turning(width: int = 192, count: int = 4) -> list[np.ndarray]:
    pano = panorama("workshop", width)
    return [np.roll(pano, 3 * i, axis=1) for i in range(count)]


def test_equirect_clip_is_seamless_and_marked(tmp_path):
    clip = write_clip(tmp_path / "turn.mp4", turning(), rate=RATE)
    out = tmp_path / "dream.mp4"
    code = main(["dream", str(clip), str(out), "--projection", "equirect", *FAST])
    assert code == 0
    frames = read_frames(out)
    assert len(frames) == 4
    source = read_frames(clip)
    for dreamed, src in zip(frames, source):
        assert np.abs(dreamed.astype(int) - src).mean() > 3  # dreamed
        assert seam_ratio(dreamed) <= 1.3
    assert read_spherical(out).projection == "equirectangular"


def test_stereo_clip_eyes_show_one_dream(tmp_path):
    frames = []
    for eye in turning(count=3):
        right = np.roll(eye, SHIFT, axis=1)
        frames.append(np.concatenate([eye, right], axis=0))  # top-bottom, left eye on top
    clip = write_clip(tmp_path / "tb.mp4", frames, rate=RATE)
    out = tmp_path / "dream.mp4"
    code = main(["dream", str(clip), str(out), "--projection", "equirect", "--stereo", "top-bottom", *FAST])
    assert code == 0
    side = {s.get("side_data_type", ""): s for s in ffprobe(out, "-show_streams")["streams"][0].get("side_data_list", [])}
    assert side["Stereo 3D"]["type"] == "top and bottom"
    for dreamed, src in zip(read_frames(out), read_frames(clip)):
        h = dreamed.shape[0] // 2
        detail = dreamed.astype(np.float32) - src
        left, right = detail[:h], detail[h:]
        rows = slice(8, h - 8)  # away from the line between the eyes
        agreement = np.corrcoef(np.roll(left, SHIFT, axis=1)[rows].ravel(), right[rows].ravel())[0, 1]
        assert agreement > 0.6, agreement  # two independent dreams correlate about 0.2


def test_render_of_an_equirect_clip_uses_the_projection(tmp_path):
    """Frame 0 of a render is exactly the equirect dreamer's dream of that frame (not a flat one)."""
    import cv2

    from dreamvideo.config import DreamSettings
    from dreamvideo.dream import image_to_tensor, tensor_to_image
    from dreamvideo.io.decode import open_video
    from dreamvideo.layout import Layout
    from dreamvideo.panorama.projection import dreamer_for

    clip = write_clip(tmp_path / "turn.mp4", turning(count=2), rate=RATE)
    out = tmp_path / "frames"
    code = main(["render", str(clip), "--frames", "0-1", "--out", str(out), "--projection", "equirect", *FAST])
    assert code == 0
    rendered = cv2.cvtColor(cv2.imread(str(out / "frame_000000.png")), cv2.COLOR_BGR2RGB).astype(int)
    with open_video(str(clip)) as reader:  # the frame as the render decoded it
        source = image_to_tensor(next(iter(reader)).image)
    settings = DreamSettings(steps=2)
    by_layout = {
        kind: tensor_to_image(dreamer_for(settings, Layout(kind, "none")).dream(source)).astype(int)
        for kind in ("equirect", "flat")
    }
    assert np.abs(rendered - by_layout["equirect"]).max() <= 1
    assert np.abs(rendered - by_layout["flat"]).mean() > 2


def test_stereo_clip_takes_its_disparity_from_the_flow_evidence(tmp_path, monkeypatch):
    """Only the first frame's disparity is computed in the dream thread; the others come with
    their flow, computed ahead (in the decode thread here: the CPU has no flow workers)."""
    from dreamvideo.panorama import stereo

    calls = []
    computed = stereo.disparity
    monkeypatch.setattr(stereo, "disparity", lambda *a, **k: calls.append(1) or computed(*a, **k))
    frames = [np.concatenate([eye, np.roll(eye, SHIFT, axis=1)], axis=0) for eye in turning(count=3)]
    clip = write_clip(tmp_path / "tb.mp4", frames, rate=RATE)
    code = main(["dream", str(clip), str(tmp_path / "dream.mp4"), "--projection", "equirect", "--stereo", "top-bottom", *FAST])
    assert code == 0
    assert len(calls) == 1
