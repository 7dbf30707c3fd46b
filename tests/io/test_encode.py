from fractions import Fraction

import av
import numpy as np
import pytest

from dreamvideo.config import FrameRange
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io.decode import open_video
from dreamvideo.io.encode import open_writer

from .conftest import NTSC, audio_packets, ffprobe, make_clip, needs_ffmpeg, psnr, texture


def _copy(src, out, *, frames=None, span_at_close=None, **kw):
    """Decode ``src`` (optionally a range) and encode it to ``out``; optionally set the audio span last."""
    with open_video(str(src), frames=frames) as reader:
        info, first = reader.info, None
        with open_writer(
            str(out),
            width=reader.output_size[0],
            height=reader.output_size[1],
            rate=info.rate,
            time_base=info.time_base,
            **kw,
        ) as writer:
            for frame in reader:
                if first is None:
                    first = frame
                writer.write(frame.image, frame.pts - first.pts)
            if span_at_close is not None:
                writer.set_audio_span(*span_at_close)
    return info


def _stream(probe: dict, kind: str) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == kind)


@needs_ffmpeg
@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv"])
def test_round_trip_keeps_frames_and_exact_ntsc_rate(tmp_path, clip48, ext):
    out = tmp_path / f"out{ext}"
    _copy(clip48, out)
    video = _stream(ffprobe(out, "-count_frames", "-show_streams"), "video")
    assert video["r_frame_rate"] == "30000/1001"
    assert video["avg_frame_rate"] == "30000/1001"
    assert int(video["nb_read_frames"]) == 48
    assert (video["codec_name"], video["pix_fmt"], video["width"], video["height"]) == ("h264", "yuv420p", 96, 64)
    with open_video(str(out)) as reader:
        assert reader.info.rate == NTSC
        frames = list(reader)
    assert len(frames) == 48
    for frame in frames[::11]:
        # Two lossy trips. The texture's 8 px colour blocks sit on the 2x2 chroma grid, where
        # repeating chroma samples is exact and interpolating them (decode._CHROMA) costs ~2 dB.
        assert psnr(frame.image, texture(frame.index)) > 23
        assert frame.time == pytest.approx(frame.index * 1001 / 30000, abs=1e-3)


@needs_ffmpeg
def test_vfr_timestamps_are_kept(tmp_path):
    pts = [0, 1, 2, 4, 5, 8, 9, 10, 15, 16, 17, 18, 20, 21, 22, 30]
    out = tmp_path / "vfr.mp4"
    with open_writer(str(out), width=64, height=64, rate=Fraction(30), time_base=Fraction(1, 30)) as writer:
        for i, p in enumerate(pts):
            writer.write(texture(i, 64, 64), p)
    frames = ffprobe(out, "-select_streams", "v", "-show_entries", "frame=pts_time")["frames"]
    assert [float(f["pts_time"]) for f in frames] == pytest.approx([p / 30 for p in pts], abs=1e-4)


@needs_ffmpeg
def test_pts_none_means_the_next_frame(tmp_path):
    out = tmp_path / "cfr.mp4"
    with open_writer(str(out), width=64, height=48, rate=Fraction(24), time_base=Fraction(1, 12288)) as writer:
        for i in range(10):
            writer.write(texture(i, 64, 48), None)
    video = _stream(ffprobe(out, "-count_frames", "-show_streams"), "video")
    assert (video["r_frame_rate"], video["avg_frame_rate"], video["nb_read_frames"]) == ("24/1", "24/1", "10")


@needs_ffmpeg
def test_h265_is_10_bit_and_tagged_for_apple(tmp_path, clip48):
    out = tmp_path / "out.mp4"
    _copy(clip48, out, codec="h265")
    video = _stream(ffprobe(out, "-show_streams"), "video")
    assert (video["codec_name"], video["codec_tag_string"], video["pix_fmt"]) == ("hevc", "hvc1", "yuv420p10le")
    assert video["r_frame_rate"] == "30000/1001"


@needs_ffmpeg
def test_prores_is_10_bit_422_in_mov(tmp_path, clip48):
    out = tmp_path / "out.mov"
    _copy(clip48, out, codec="prores", frames=FrameRange(0, 9))
    video = _stream(ffprobe(out, "-count_frames", "-show_streams"), "video")
    assert (video["codec_name"], video["pix_fmt"], video["nb_read_frames"]) == ("prores", "yuv422p10le", "10")
    with pytest.raises(MediaError, match="prores") as info:
        open_writer(str(tmp_path / "x.mp4"), width=64, height=64, rate=NTSC, time_base=1 / NTSC, codec="prores")
    assert ".mov" in info.value.hint


def test_bad_options(tmp_path):
    common = dict(width=64, height=64, rate=NTSC, time_base=1 / NTSC)
    with pytest.raises(ConfigError, match="unknown codec"):
        open_writer(str(tmp_path / "a.mp4"), codec="vp9", **common)
    with pytest.raises(ConfigError, match="crf"):
        open_writer(str(tmp_path / "a.mov"), codec="prores", crf=10, **common)
    with pytest.raises(MediaError, match="does not exist"):
        open_writer(str(tmp_path / "no" / "a.mp4"), **common)
    with pytest.raises(MediaError, match="even"):
        open_writer(str(tmp_path / "a.mp4"), width=63, height=64, rate=NTSC, time_base=1 / NTSC)
    assert not list(tmp_path.iterdir())


@needs_ffmpeg
def test_audio_is_copied_not_reencoded(tmp_path, clip_audio):
    out = tmp_path / "out.mp4"
    _copy(clip_audio, out, audio_from=str(clip_audio))
    source, copied = (
        ffprobe(clip_audio, "-show_streams", "-show_format"),
        ffprobe(out, "-show_streams", "-show_format"),
    )
    for key in ("codec_name", "sample_rate", "channels"):
        assert _stream(copied, "audio")[key] == _stream(source, "audio")[key]
    assert audio_packets(out) == audio_packets(clip_audio)  # same packets, same timestamps
    assert copied["format"]["tags"]["title"] == "Sine test"


@needs_ffmpeg
@pytest.mark.parametrize("ext, when", [(".mkv", "open"), (".mp4", "open"), (".mp4", "close")])
def test_audio_is_cut_to_a_frame_range(tmp_path, clip_audio, ext, when):
    frames = FrameRange(12, 35)  # 24 frames: 0.8008 s from 0.4004 s
    out = tmp_path / f"cut{ext}"
    start, end = 12 * 1001 / 30000, 36 * 1001 / 30000
    if when == "open":  # interleaved as the video is written
        _copy(clip_audio, out, frames=frames, audio_from=str(clip_audio), audio_span=(start, end))
    else:  # held back until the caller knows where the range ended
        _copy(clip_audio, out, frames=frames, audio_from=str(clip_audio), span_at_close=(start, end))

    probe = ffprobe(out, "-count_frames", "-show_streams")
    video, audio = _stream(probe, "video"), _stream(probe, "audio")
    assert int(video["nb_read_frames"]) == 24
    assert float(video["start_time"]) == pytest.approx(0, abs=1e-3)
    # Audio starts with the video (to within a packet) and lasts as long.
    audio_start = float(audio["start_time"])
    assert -1e-3 <= audio_start < 0.03
    last = ffprobe(out, "-select_streams", "a", "-show_entries", "packet=pts_time,duration_time")["packets"][-1]
    audio_end = float(last["pts_time"]) + float(last["duration_time"])
    assert audio_end - audio_start == pytest.approx(end - start, abs=0.06)

    # The kept packets are the source's, byte for byte, in order.
    source = [data for _, data in audio_packets(clip_audio)]
    kept = [data for _, data in audio_packets(out)]
    offset = source.index(kept[0])
    assert source[offset : offset + len(kept)] == kept
    assert audio["codec_name"] in ("aac", "mp3")


@needs_ffmpeg
def test_audio_start_cannot_move_once_written(tmp_path, clip_audio):
    with open_writer(
        str(tmp_path / "a.mp4"),
        width=96,
        height=64,
        rate=NTSC,
        time_base=1 / NTSC,
        audio_from=str(clip_audio),
        audio_span=(0.0, None),
    ) as writer:
        for i in range(12):
            writer.write(texture(i), None)
        writer.set_audio_span(0.0, 0.5)  # the end may still change
        with pytest.raises(ValueError, match="start"):
            writer.set_audio_span(0.2, 0.5)


@needs_ffmpeg
def test_audio_from_a_pipe_is_skipped_with_a_warning(tmp_path, clip48):
    with pytest.warns(UserWarning, match="pipe"):
        with open_writer(
            str(tmp_path / "a.mp4"), width=96, height=64, rate=NTSC, time_base=1 / NTSC, audio_from="-"
        ) as w:
            w.write(texture(0), 0)
    assert [s["codec_type"] for s in ffprobe(tmp_path / "a.mp4", "-show_streams")["streams"]] == ["video"]


def test_metadata_is_written_but_not_the_muxers_own(tmp_path):
    out = tmp_path / "meta.mp4"
    metadata = {"title": "Dream", "encoder": "Lavf1.0", "major_brand": "qt  ", "creation_time": "2001-01-01"}
    with open_writer(str(out), width=64, height=64, rate=NTSC, time_base=1 / NTSC, metadata=metadata) as w:
        w.write(texture(0, 64, 64), None)
    with av.open(str(out)) as c:
        assert c.metadata["title"] == "Dream"
        assert c.metadata["major_brand"] != "qt  " and c.metadata["encoder"] != "Lavf1.0"
        assert "creation_time" not in c.metadata


def test_a_failure_leaves_the_existing_output_untouched(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the previous render")
    with pytest.raises(KeyError):
        with open_writer(str(out), width=64, height=64, rate=NTSC, time_base=1 / NTSC) as writer:
            for i in range(5):
                writer.write(texture(i, 64, 64), None)
                assert len(list(tmp_path.iterdir())) == 2  # the output and a partial beside it
            raise KeyError("interrupted")
    assert out.read_bytes() == b"the previous render"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_success_replaces_the_output(tmp_path):
    out = tmp_path / "out.mkv"
    out.write_bytes(b"old")
    with open_writer(str(out), width=64, height=64, rate=NTSC, time_base=1 / NTSC) as writer:
        writer.write(texture(0, 64, 64), None)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mkv"]
    with open_video(str(out)) as reader:
        assert len(list(reader)) == 1


def test_wrong_frame_shape(tmp_path):
    with open_writer(str(tmp_path / "a.mp4"), width=64, height=64, rate=NTSC, time_base=1 / NTSC) as writer:
        with pytest.raises(ValueError, match="64, 64, 3"):
            writer.write(np.zeros((64, 32, 3), np.uint8), 0)
        writer.abort()
    assert not list(tmp_path.iterdir())


def test_writer_over_vfr_source_round_trip(tmp_path):
    pts = [0, 2, 3, 7, 8, 9, 14, 15]
    src = make_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 30), rate=30, gop=4)
    out = tmp_path / "vfr_out.mkv"
    _copy(src, out)
    with open_video(str(out)) as reader:
        times = [f.time for f in reader]
    assert times == pytest.approx([p / 30 for p in pts], abs=2e-3)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".ts", ".mkv", ".mp4"])
def test_a_live_writer_writes_each_frame_as_it_goes_and_keeps_them_when_aborted(tmp_path, suffix):
    out = tmp_path / f"live{suffix}"
    out.write_bytes(b"the earlier output")
    writer = open_writer(str(out), width=64, height=48, rate=Fraction(25), time_base=Fraction(1, 25), live=True)
    assert out.read_bytes() == b"the earlier output"  # replaced only once a frame is dreamed
    sizes = []
    for i in range(4):
        writer.write(texture(i, 64, 48))
        sizes.append(out.stat().st_size)
    assert sizes == sorted(set(sizes)), sizes  # larger after every frame: another program can follow it
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # at its name, no temporary file beside it
    writer.abort()  # as a second Ctrl-C or a failure: what was written stays, closed where it was cut
    probe = ffprobe(out, "-count_frames", "-show_entries", "stream=nb_read_frames")
    assert probe["streams"][0]["nb_read_frames"] == "4"
