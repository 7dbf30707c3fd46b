import json

import pytest

from dreamvideo.errors import MediaError
from dreamvideo.io.probe import format_probe, probe

from .conftest import make_clip, needs_ffmpeg


@needs_ffmpeg
def test_probe_video_and_audio(clip_audio):
    info = probe(clip_audio)
    json.dumps(info)  # serialisable as is
    assert info["format"].startswith("mov") and info["duration"] == pytest.approx(1.6, abs=0.05)
    assert info["metadata"]["title"] == "Sine test"
    video, audio = info["streams"]
    assert (video["type"], video["codec"], video["width"], video["height"]) == ("video", "h264", 96, 64)
    assert (video["rate"], video["frame_count"], video["rotation"], video["pix_fmt"]) == (
        "30000/1001",
        48,
        0,
        "yuv420p",
    )
    assert (audio["type"], audio["sample_rate"], audio["channels"]) == ("audio", 48000, 1)
    assert audio["codec"] in ("aac", "mp3")
    text = format_probe(info)
    assert "30000/1001 fps (29.970)" in text and "48000 Hz" in text and "title: Sine test" in text


def test_probe_rotation_shows_the_upright_size(tmp_path):
    info = probe(make_clip(tmp_path / "rot.mp4", frames=4, rotation=-90))
    video = info["streams"][0]
    assert (video["width"], video["height"], video["rotation"]) == (64, 96, 270)
    assert "rotated 270°" in format_probe(info)


def test_probe_errors(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mov")
    (tmp_path / "junk.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(MediaError, match="cannot read"):
        probe(tmp_path / "junk.bin")


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_probe_and_decoder_agree_on_rate_and_rotation(tmp_path, ext):
    """One function each: a variable-rate clip and a rotated one.

    In MP4 the nominal rate of the VFR clip is 30 and its average 120/7: probe used to
    show the first while the decoder used the second. Matroska claims a constant 30.
    """
    from fractions import Fraction

    from dreamvideo.io import open_video

    pts = [0, 1, 2, 4, 5, 8, 9, 10, 15, 16, 17, 18, 20, 21, 22, 30, 31, 32, 33, 34]
    vfr = make_clip(tmp_path / f"vfr{ext}", frames=len(pts), pts=pts, time_base=Fraction(1, 30), rate=30, gop=4)
    rotated = make_clip(tmp_path / f"rot{ext}", frames=4, rotation=90)
    for path in (vfr, rotated):
        video = probe(path)["streams"][0]
        with open_video(str(path)) as reader:
            info = reader.info
        assert video["rate"] == f"{info.rate.numerator}/{info.rate.denominator}"
        assert video["constant_rate"] == info.constant_rate
        assert (video["rotation"], video["width"], video["height"]) == (info.rotation, info.width, info.height)
        assert video["spherical"] is None and info.spherical is None
    if ext == ".mp4":
        assert (probe(vfr)["streams"][0]["rate"], probe(vfr)["streams"][0]["constant_rate"]) == ("120/7", False)
    assert probe(rotated)["streams"][0]["rotation"] == 90
