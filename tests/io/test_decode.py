import subprocess
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest

from dreamvideo.config import FrameRange
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io.decode import open_video

from .conftest import NTSC, ffmpeg, make_clip, needs_ffmpeg, psnr, texture


def _decode_all(path, **kw):
    with open_video(str(path), **kw) as reader:
        return reader.info, [(f.index, f.pts, f.image) for f in reader], reader.frames_decoded


def test_info(clip240):
    with open_video(str(clip240)) as reader:
        info = reader.info
        assert (info.width, info.height) == (96, 64) == reader.output_size
        assert info.rate == Fraction(30000, 1001) and isinstance(info.rate, Fraction)
        assert info.frame_count == 240
        assert info.duration == pytest.approx(240 * 1001 / 30000)
        assert (info.rotation, info.codec, info.audio_streams) == (0, "h264", 0)


def test_expected_frames_and_is_file(clip240):
    with open_video(str(clip240)) as reader:
        assert (reader.expected_frames, reader.is_file) == (240, True)
    with open_video(str(clip240), frames=FrameRange(10, 19)) as reader:
        assert reader.expected_frames == 10


def test_full_decode_matches_the_source(clip240):
    info, frames, _ = _decode_all(clip240)
    assert [i for i, _, _ in frames] == list(range(240))
    for index, pts, image in frames[::37]:
        assert image.dtype == np.uint8 and image.shape == (64, 96, 3)
        assert psnr(image, texture(index)) > 25  # 4:2:0 blurs the colour of the noise blocks
        assert psnr(image, texture(index)) > psnr(image, texture(index + 1)) + 3
        assert pts * info.time_base == pytest.approx(index / info.rate)


def test_frames_are_streamed(clip240):
    with open_video(str(clip240)) as reader:
        for frame in reader:
            if frame.index == 4:
                break
        assert reader.frames_decoded < 30  # frame threading keeps a few in flight, not the clip


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_seek_gives_exact_frames_and_decodes_few(media, clip240, ext):
    path = clip240 if ext == ".mp4" else make_clip(media / f"clip240{ext}", frames=240)
    _, full, _ = _decode_all(path)
    _, part, decoded = _decode_all(path, frames=FrameRange(200, 205))
    assert [i for i, _, _ in part] == list(range(200, 206))
    for index, pts, image in part:
        assert pts == full[index][1]
        np.testing.assert_array_equal(image, full[index][2])
    # A keyframe every 24 frames: reaching 200 starts from 192, not from 0.
    limit = {".mp4": 40, ".mkv": 40, ".ts": 120}[ext]  # MPEG-TS seeks are approximate
    assert decoded < limit


def test_range_starting_at_zero_and_single_frame(clip48):
    _, full, _ = _decode_all(clip48)
    _, part, _ = _decode_all(clip48, frames=FrameRange(0, 2))
    assert [i for i, _, _ in part] == [0, 1, 2]
    _, one, _ = _decode_all(clip48, frames=FrameRange(47, 47))
    assert [i for i, _, _ in one] == [47]
    np.testing.assert_array_equal(one[0][2], full[47][2])


def test_range_beyond_a_counted_clip_fails_up_front(clip48):
    with pytest.raises(MediaError, match="it has 48 frames") as info:
        open_video(str(clip48), frames=FrameRange(40, 60))
    assert "0-47" in info.value.hint


def test_range_beyond_an_uncounted_clip_fails_when_decoding_ends(media):
    path = make_clip(media / "clip48.mkv", frames=48)
    with open_video(str(path), frames=FrameRange(40, 60)) as reader:
        assert reader.info.frame_count is None
        with pytest.raises(MediaError, match="it has 48 frames"):
            list(reader)


def test_vfr_timestamps_and_ranges(tmp_path):
    pts = [0, 1, 2, 4, 5, 8, 9, 10, 15, 16, 17, 18, 20, 21, 22, 30, 31, 32, 33, 34]
    for ext in (".mp4", ".mkv"):
        path = make_clip(
            tmp_path / f"vfr{ext}", frames=len(pts), pts=pts, time_base=Fraction(1, 30), rate=30, gop=4
        )
        info, frames, _ = _decode_all(path)
        times = [p * info.time_base for _, p, _ in frames]
        assert times == pytest.approx([p / 30 for p in pts], abs=1e-3)
        # mkv claims a constant 30 fps; the reader must notice and count instead.
        _, part, _ = _decode_all(path, frames=FrameRange(9, 12))
        assert [i for i, _, _ in part] == [9, 10, 11, 12]
        for index, p, image in part:
            assert p == frames[index][1]
            np.testing.assert_array_equal(image, frames[index][2])


def test_resize_by_width_and_size(clip48):
    with open_video(str(clip48), width=49) as reader:
        assert reader.output_size == (50, 34)  # even, aspect kept
        frame = next(iter(reader))
        assert frame.image.shape == (34, 50, 3)
    with open_video(str(clip48), size=(33, 21)) as reader:
        assert reader.output_size == (34, 22)
        assert next(iter(reader)).image.shape == (22, 34, 3)
    with pytest.raises(ConfigError):
        open_video(str(clip48), width=32, size=(32, 32))


def test_odd_source_size(tmp_path):
    path = make_clip(tmp_path / "odd.mov", frames=6, width=65, height=49, codec="png", pix_fmt="rgb24")
    with open_video(str(path)) as reader:
        assert (reader.info.width, reader.info.height) == (65, 49)
        assert reader.output_size == (64, 48)
        frames = list(reader)
    assert len(frames) == 6
    np.testing.assert_array_equal(frames[3].image, texture(3, 65, 49)[:48, :64])  # lossless: an exact crop
    with open_video(str(path), width=33) as reader:
        assert next(iter(reader)).image.shape == (26, 34, 3)


@pytest.mark.parametrize("how", ["pyav", pytest.param("ffmpeg-tag", marks=needs_ffmpeg)])
def test_rotation_is_honoured(tmp_path, clip48, how):
    if how == "pyav":  # the same encode without the tag is the reference: x264's output varies by CPU
        path = make_clip(tmp_path / "rot.mp4", frames=8, rotation=90)
        upright = make_clip(tmp_path / "plain.mp4", frames=8)
    else:
        path = tmp_path / "rot.mp4"  # ffmpeg 5's way to tag a rotation (newer: -display_rotation 90 on the input)
        upright = clip48
        ffmpeg("-i", str(clip48), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    with open_video(str(path)) as reader:
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (64, 96, 90)
        assert reader.output_size == (64, 96)
        first = next(iter(reader)).image
    assert first.shape == (96, 64, 3)
    np.testing.assert_array_equal(first, np.rot90(_decode_all(upright, frames=FrameRange(0, 0))[1][0][2]))
    if how == "ffmpeg-tag":  # FFmpeg's own autorotation agrees
        raw = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(path),
                "-vf",  # the reader's conversion: interpolated chroma (decode._CHROMA)
                "scale=flags=bilinear+full_chroma_int+accurate_rnd",
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ],
            check=True,
            capture_output=True,
        ).stdout
        assert psnr(first, np.frombuffer(raw, np.uint8).reshape(96, 64, 3)) > 40
    with open_video(str(path), width=32) as reader:
        assert next(iter(reader)).image.shape == (48, 32, 3)


@pytest.mark.parametrize("ext", [".ts", ".mp4"])
def test_truncated_file_yields_frames_and_warns_once(tmp_path, ext):
    path = make_clip(tmp_path / f"whole{ext}", frames=96, gop=12)
    if ext == ".mp4":  # index first, so a cut file still opens
        moved = tmp_path / "faststart.mp4"
        with av.open(str(path)) as src, av.open(str(moved), "w", options={"movflags": "+faststart"}) as dst:
            out = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = out
                    dst.mux(packet)
        path = moved
    data = path.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, frames, _ = _decode_all(cut)
    assert 10 < len(frames) < 96
    assert [i for i, _, _ in frames] == list(range(len(frames)))
    if ext == ".mp4":  # MPEG-TS records no frame count, so a clean cut looks like a short clip
        assert len(caught) == 1 and "truncated" in str(caught[0].message)


def test_garbage_and_missing_inputs(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        open_video(str(tmp_path / "missing.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 5000)
    with pytest.raises(MediaError, match="cannot open"):
        open_video(str(tmp_path / "junk.mp4"))


def test_no_video_stream(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * 1024
            c.mux(s.encode(frame))
        c.mux(s.encode())
    with pytest.raises(MediaError, match="no video stream"):
        open_video(str(path))


def test_iterating_twice_is_an_error(clip48):
    with open_video(str(clip48)) as reader:
        list(reader)
        with pytest.raises(RuntimeError):
            iter(reader)


def test_rate_of_25_fps_is_exact(tmp_path):
    path = make_clip(tmp_path / "pal.mkv", frames=10, rate=25)
    with open_video(str(path)) as reader:
        assert reader.info.rate == 25 and reader.info.rate != NTSC
