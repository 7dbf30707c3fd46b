"""`dreamvideo dream` end to end: what the staged pipeline writes, checked with ffprobe and ffmpeg.

Frame counts and ranges, the exact rate, audio copied and cut in sync, rotation,
odd sizes, VFR timestamps, scene-cut resets, temporal coherence, the JSON report
and progress. Every run goes through ``dreamvideo.cli.main`` in this process (on the
CPU the flow runs in the decode thread; ``tests/temporal/test_flow.py`` runs the worker
processes); the clips are made in ``tmp_path`` with PyAV or
the ffmpeg program, and outputs are read back with ffprobe and ffmpeg, not with
our own decoder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.io import open_video
from dreamvideo.metrics import compare_files
from dreamvideo.temporal.flow import flow_pair
from dreamvideo.temporal.workers import _SharedFrames
from dreamvideo.temporal.warp import warp_array

from .clips import CLIPS, Clip, write_clip
from .conftest import photo
from .io.conftest import NTSC, audio_packets, ffmpeg, ffprobe, make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg

FAST = ["--octaves", "1", "--steps", "1", "--refine-steps", "1"]


# ---------------------------------------------------------------------------
# helpers (test_cli_dream.py uses them too)


def dream(capsys, *argv) -> tuple[int, str, str]:
    """``dreamvideo dream ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(["dream", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def video_stream(path: Path) -> dict:
    """ffprobe's description of the first video stream, with ``nb_read_frames`` counted."""
    return ffprobe(path, "-count_frames", "-select_streams", "v:0", "-show_streams")["streams"][0]


def ffmpeg_decode(path: Path, *args: str) -> bytes:
    """What the ffmpeg program writes to stdout decoding ``path`` with output options ``args``."""
    command = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), *args, "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def ffmpeg_frames(path: Path) -> np.ndarray:
    """Every frame as ffmpeg itself decodes it (autorotated): uint8 ``(N, H, W, 3)`` RGB."""
    with av.open(str(path)) as c:  # only for the upright size; the pixels come from ffmpeg
        stream = c.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        rotation = next(c.decode(stream)).rotation
    if round(rotation / 90) % 2:
        w, h = h, w
    raw = ffmpeg_decode(path, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24")
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def pan(image: np.ndarray, count: int, size: tuple[int, int], *, speed: float, y: int = 0) -> list[np.ndarray]:
    """``count`` crops of ``size`` (w, h) sliding right over ``image`` by ``speed`` px a frame (sub-pixel)."""
    w, h = size
    frames = []
    for i in range(count):
        x = i * speed
        x0, frac = int(x), x - int(x)
        crop = image[y : y + h, x0 : x0 + w + 1].astype(np.float32)
        frames.append(((1 - frac) * crop[:, :w] + frac * crop[:, 1 : w + 1] + 0.5).astype(np.uint8))
    return frames


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames of moving texture, 96x64 at 30000/1001, H.264 in MP4."""
    return make_clip(tmp_path_factory.mktemp("pipeline") / "clip.mp4", frames=12, gop=12)


@pytest.fixture(scope="module")
def dreamed(clip) -> tuple[Path, dict]:
    """The whole of ``clip`` dreamed once with a JSON report: (output, report)."""
    out = clip.with_name("dreamed.mp4")
    report = clip.with_name("report.json")
    assert main(["dream", str(clip), str(out), *FAST, "--quiet", "--json-report", str(report)]) == 0
    return out, json.loads(report.read_text())


# ---------------------------------------------------------------------------
# frames and rate


def test_whole_clip_gives_every_frame(dreamed):
    out, report = dreamed
    video = video_stream(out)
    assert video["nb_read_frames"] == "12" and report["frames"] == 12
    assert (video["width"], video["height"], video["codec_name"]) == (96, 64, "h264")


def test_frame_range_gives_exactly_those_frames(capsys, tmp_path, clip):
    out = tmp_path / "range.mp4"
    code, stdout, err = dream(capsys, clip, out, *FAST, "--frames", "3-8", "--quiet")
    assert code == 0, err
    assert "dreamed 6 frames" in stdout
    assert video_stream(out)["nb_read_frames"] == "6"
    # The frames are source frames 3..8: each output frame is nearest its own source frame.
    source, got = ffmpeg_frames(clip), ffmpeg_frames(out)
    for k, frame in enumerate(got):
        nearest = min(range(len(source)), key=lambda i: mean_abs(frame, source[i]))
        assert nearest == 3 + k


def test_exact_ntsc_rate_is_kept(capsys, tmp_path, dreamed, clip):
    out = tmp_path / "range.mp4"
    assert dream(capsys, clip, out, *FAST, "--frames", "2-10", "--quiet")[0] == 0
    for path in (dreamed[0], out):
        video = video_stream(path)
        assert (video["r_frame_rate"], video["avg_frame_rate"]) == ("30000/1001", "30000/1001"), path.name
    assert float(video_stream(out)["duration"]) == pytest.approx(9 * 1001 / 30000, abs=1e-3)


# ---------------------------------------------------------------------------
# audio

BURST_FRAME = 15  # the audio has a 1 kHz burst starting at this frame's time
BURST_AT = BURST_FRAME * 1001 / 30000
AAC_FRAME = 1024 / 48000


@pytest.fixture(scope="module")
def clip_burst(tmp_path_factory) -> Path:
    """24 frames at 30000/1001 with AAC audio, silent except a 50 ms burst at frame 15."""
    folder = tmp_path_factory.mktemp("audio")
    video = make_clip(folder / "video.mp4", frames=24, gop=12)
    out = folder / "burst.mp4"
    tone = f"aevalsrc='if(between(t\\,{BURST_AT:.6f}\\,{BURST_AT + 0.05:.6f})\\,0.5*sin(2*PI*1000*t)\\,0)'"
    ffmpeg("-i", str(video), "-f", "lavfi", "-i", f"{tone}:s=48000:d={24 * 1001 / 30000:.6f}",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k", str(out))  # fmt: skip
    return out


def burst_onset(path: Path) -> tuple[float, float]:
    """(seconds of decoded audio, time of the burst's onset) as ffmpeg decodes the file."""
    raw = ffmpeg_decode(path, "-map", "0:a", "-f", "f32le", "-ac", "1", "-ar", "48000")
    samples = np.abs(np.frombuffer(raw, np.float32))
    assert samples.max() > 0.4, "no burst in the audio"
    return len(samples) / 48000, int(np.argmax(samples > 0.25)) / 48000


@pytest.mark.parametrize("frames", [None, (6, 20)], ids=["whole", "range"])
def test_audio_copied_cut_and_in_sync(capsys, tmp_path, clip_burst, frames):
    out = tmp_path / "out.mp4"
    range_args = ["--frames", f"{frames[0]}-{frames[1]}"] if frames else []
    code, _, err = dream(capsys, clip_burst, out, *FAST, *range_args, "--quiet")
    assert code == 0, err
    first, last = frames or (0, 23)

    streams = {s["codec_type"]: s for s in ffprobe(out, "-show_streams")["streams"]}
    assert streams["audio"]["codec_name"] == "aac"
    assert int(streams["video"]["nb_frames"]) == last - first + 1
    video_seconds = (last - first + 1) * 1001 / 30000
    assert float(streams["video"]["duration"]) == pytest.approx(video_seconds, abs=1e-3)
    assert float(streams["audio"]["duration"]) == pytest.approx(video_seconds, abs=AAC_FRAME)

    # Copied, not re-encoded: every audio packet of the output is one of the source's, byte for byte.
    source_packets = {data for _, data in audio_packets(clip_burst)}
    kept = [data for _, data in audio_packets(out)]
    assert kept and all(data in source_packets for data in kept)

    # In sync: the burst sits at its source time minus the first frame's time.
    decoded, onset = burst_onset(out)
    assert decoded == pytest.approx(video_seconds, abs=AAC_FRAME)
    assert onset == pytest.approx(BURST_AT - first * 1001 / 30000, abs=0.005)


# ---------------------------------------------------------------------------
# geometry and timestamps


def test_rotated_source_comes_out_upright(capsys, tmp_path):
    src = make_clip(tmp_path / "rotated.mp4", frames=6, width=96, height=64, rotation=90)
    out = tmp_path / "upright.mp4"
    code, _, err = dream(capsys, src, out, *FAST, "--quiet")
    assert code == 0, err

    video = ffprobe(out, "-show_streams", "-select_streams", "v:0")["streams"][0]
    assert (video["width"], video["height"]) == (64, 96)
    rotations = [d.get("rotation", 0) for d in video.get("side_data_list", [])]
    assert not any(rotations) and "rotate" not in video.get("tags", {})

    upright, got = ffmpeg_frames(src), ffmpeg_frames(out)  # ffmpeg autorotates the source
    assert got.shape == upright.shape == (6, 96, 64, 3)
    for a, b in zip(got, upright):
        right, wrong = mean_abs(a, b), mean_abs(a, np.rot90(b, 2))
        assert right < 20 and right < wrong / 2, (right, wrong)  # measured about 9 and 62


def test_odd_dimensions(capsys, tmp_path):
    src = make_clip(tmp_path / "odd.mp4", frames=6, width=67, height=45, pix_fmt="yuv444p")
    assert (video_stream(src)["width"], video_stream(src)["height"]) == (67, 45)
    out = tmp_path / "odd_out.mp4"
    code, _, err = dream(capsys, src, out, *FAST, "--quiet")
    assert code == 0, err
    video = video_stream(out)
    # The last column and row go (4:2:0 needs even sizes); nothing is resampled.
    assert (video["width"], video["height"], video["nb_read_frames"]) == (66, 44, "6")
    assert mean_abs(ffmpeg_frames(out)[0], ffmpeg_frames(src)[0][:44, :66]) < 12


def frame_times(path: Path) -> list[float]:
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time")["frames"]
    return [float(f["pts_time"]) for f in frames]


def test_vfr_timestamps_are_kept(capsys, tmp_path):
    pts = [0, 40, 70, 150, 160, 200, 330, 350, 400, 520]  # milliseconds: irregular gaps
    src = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), rate=25)
    source_times = frame_times(src)
    assert np.allclose(np.array(source_times) - source_times[0], np.array(pts) / 1000, atol=1e-3)

    out = tmp_path / "vfr_out.mp4"
    code, _, err = dream(capsys, src, out, *FAST, "--quiet")
    assert code == 0, err
    got = frame_times(out)
    assert np.allclose(np.array(got) - got[0], np.array(pts) / 1000, atol=1e-3), got

    out = tmp_path / "vfr_range.mp4"
    code, _, err = dream(capsys, src, out, *FAST, "--quiet", "--frames", "3-7")
    assert code == 0, err
    got = frame_times(out)
    assert np.allclose(np.array(got) - got[0], (np.array(pts[3:8]) - pts[3]) / 1000, atol=1e-3), got


# ---------------------------------------------------------------------------
# scene cuts and temporal coherence

CUT = 6  # the first frame of shot 2


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory) -> Path:
    """A pan over skimage's astronaut, then a hard cut to a pan over its coffee: 12 frames 128x96."""
    astronaut = photo("astronaut", (256, 256))
    coffee = photo("coffee", (240, 160))
    frames = pan(astronaut, CUT, (128, 96), speed=2.0, y=40) + pan(coffee, 12 - CUT, (128, 96), speed=2.0, y=30)
    return write_clip(tmp_path_factory.mktemp("cut") / "two_shots.mp4", frames)


def test_scene_cut_restarts_the_dream(capsys, tmp_path, two_shots):
    # Lossless output, so a frame dreamed twice the same way decodes to the same pixels.
    settings = ["--octaves", "1", "--steps", "3", "--refine-steps", "1", "--crf", "0", "--quiet"]
    whole, report = tmp_path / "whole.mp4", tmp_path / "report.json"
    code, _, err = dream(capsys, two_shots, whole, *settings, "--json-report", report)
    assert code == 0, err
    assert json.loads(report.read_text())["scene_cuts"] == [CUT]

    # Frames CUT-1 and CUT dreamed on their own: each starts afresh with the same (seed, frame index).
    alone = tmp_path / "alone.mp4"
    code, _, err = dream(capsys, two_shots, alone, *settings, "--frames", f"{CUT - 1}-{CUT}")
    assert code == 0, err
    whole_frames, alone_frames = ffmpeg_frames(whole), ffmpeg_frames(alone)
    assert len(whole_frames) == 12 and len(alone_frames) == 2

    after_cut = mean_abs(whole_frames[CUT], alone_frames[1])
    before_cut = mean_abs(whole_frames[CUT - 1], alone_frames[0])
    assert after_cut < 0.5, "shot 2 starts with something carried over from shot 1"
    assert before_cut > 2.0, "within a shot the dream should carry over, not restart"


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory) -> dict[str, tuple[Path, Clip]]:
    """The temporal test clips of ``tests/clips.py`` (real panoramas and photos), encoded: name -> (file, clip)."""
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name in ("camera_path", "occluder", "similar_cut"):
        clip = CLIPS[name]()
        made[name] = (write_clip(folder / f"{name}.mp4", clip.frames), clip)
    return made


SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def sample_pan_shot(tmp_path_factory) -> Path:
    """The first shot of ``samples/pan.mp4`` (``samples/make_samples.py``): 32 frames, 224x128, of a
    1.5 px/frame pan over a real panorama."""
    sys.path.insert(0, str(SAMPLES))
    try:
        from make_samples import pan_frames, write_clip as write_sample
    finally:
        sys.path.remove(str(SAMPLES))
    workshop = cv2.cvtColor(cv2.imread(str(SAMPLES / "workshop.png")), cv2.COLOR_BGR2RGB)
    path = tmp_path_factory.mktemp("pan") / "pan.mp4"
    write_sample(path, pan_frames(workshop, 32, (224, 128), speed=1.5, y=64))
    return path


def ratios_to_independent(capsys, tmp_path: Path, clip: Path, frames: int, *options: str) -> tuple[float, float, float]:
    """Warp error, strength and sharpness of the flow-guided dream of ``clip`` over those of its
    frames dreamed each on their own (``--flow none``), with the same ``options``."""
    reports = {}
    for flow in ("farneback", "none"):
        out = tmp_path / f"{flow}.mp4"
        code, _, err = dream(capsys, clip, out, "--quiet", *options, "--flow", flow)
        assert code == 0, err
        reports[flow] = compare_files(clip, out)
        assert reports[flow].frames == frames and reports[flow].strength > 3  # it did dream
    carried, alone = reports["farneback"], reports["none"]
    ratios = (
        carried.warp_error / alone.warp_error,
        carried.strength / alone.strength,
        carried.sharpness / alone.sharpness,
    )
    print("warp ratio {:.3f}, strength ratio {:.3f}, sharpness ratio {:.3f}".format(*ratios))
    return ratios


@pytest.mark.slow
def test_a_carried_dream_is_steady_strong_and_sharp_at_the_default_settings(capsys, tmp_path, sample_pan_shot):
    # The quality bar of issue 19, read together: the flow-guided dream against every frame dreamed
    # alone, at the default settings. Blurring the carried detail lowers the warp error, so the warp
    # ratio alone would pass a soft dream.
    warp_ratio, strength_ratio, sharpness_ratio = ratios_to_independent(capsys, tmp_path, sample_pan_shot, 32)
    # Measured 0.302, 0.975, 0.932; with the detail warped bilinearly every frame (the carry before
    # issue 19) 0.175, 0.916, 0.636: steady because blurred.
    assert warp_ratio <= 0.35 and 0.9 <= strength_ratio < 1.15 and sharpness_ratio >= 0.8, (
        warp_ratio, strength_ratio, sharpness_ratio
    )


COHERENT = ["--steps", "4", "--quiet"]  # the default pyramid, blend and refine steps; fewer steps to stay fast


@pytest.mark.slow
def test_flow_makes_the_dream_steadier_at_equal_strength_and_sharpness(capsys, tmp_path, clip_files):
    # A camera path over a panorama at 128 px (dreamed at the 224 px base, its detail resized down to
    # near the pixel grid's limit): the flow-guided dream against every frame dreamed alone.
    path, _ = clip_files["camera_path"]
    warp_ratio, strength_ratio, sharpness_ratio = ratios_to_independent(capsys, tmp_path, path, 16, *COHERENT)
    # Measured 0.507, 1.000, 0.946 (keyframe sampled once with Lanczos); with the detail warped
    # bilinearly every frame (before issue 19) 0.425, 0.981, 0.647. At 128 px no carry reaches a warp
    # ratio of 0.35 with a sharpness ratio of 0.8 (DESIGN: Sharp and steady, the front).
    assert warp_ratio <= 0.55 and 0.9 <= strength_ratio < 1.15 and sharpness_ratio >= 0.8, (
        warp_ratio, strength_ratio, sharpness_ratio
    )


def dream_detail(dreamed: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The dream detail of a frame, float32 ``(H, W, 3)``, blurred a little against compression noise."""
    return cv2.GaussianBlur(dreamed.astype(np.float32) - source.astype(np.float32), (0, 0), 1.0)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.slow
def test_cut_between_shots_of_one_palette_leaves_no_ghost(capsys, tmp_path, clip_files):
    path, clip = clip_files["similar_cut"]
    out, report = tmp_path / "cut.mp4", tmp_path / "cut.json"
    code, _, err = dream(capsys, path, out, *COHERENT, "--json-report", report)
    assert code == 0, err
    assert json.loads(report.read_text())["scene_cuts"] == [clip.cut]

    # How much of frame t-1's dream detail, carried along the flow as the pipeline would, is in frame t.
    source, dreamed = ffmpeg_frames(path), ffmpeg_frames(out)
    details = [dream_detail(o, s) for o, s in zip(dreamed, source)]

    def carried_over(t: int) -> float:
        flow_cur_to_prev, _ = flow_pair(source[t - 1], source[t], scale=0.5)
        return correlation(details[t], warp_array(details[t - 1], flow_cur_to_prev))

    within = [carried_over(t) for t in range(1, len(source)) if t != clip.cut]
    across = carried_over(clip.cut)
    print(f"detail correlation within shots {min(within):.2f}..{max(within):.2f}, across the cut {across:.2f}")
    assert min(within) > 0.6 and abs(across) < 0.15, (within, across)


@pytest.mark.slow
def test_revealed_pixels_are_dreamed_as_strongly(capsys, tmp_path, clip_files):
    # A photo slides over a panorama view: what it uncovers is dreamed afresh, at full strength.
    path, clip = clip_files["occluder"]
    out = tmp_path / "occluder.mp4"
    code, _, err = dream(capsys, path, out, *COHERENT)
    assert code == 0, err
    source, dreamed = ffmpeg_frames(path), ffmpeg_frames(out)
    revealed, carried = [], []
    for t in range(1, len(source)):
        strength = np.abs(dreamed[t].astype(np.float32) - source[t]).mean(axis=2)
        moving = np.abs(clip.frames[t].astype(np.int16) - clip.frames[t - 1]).sum(axis=2) > 60
        near = cv2.dilate(moving.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
        revealed.append(strength[clip.revealed[t]].mean())
        carried.append(strength[~near].mean())
    ratio = np.mean(revealed) / np.mean(carried)
    print(f"strength revealed {np.mean(revealed):.2f}, carried {np.mean(carried):.2f}, ratio {ratio:.3f}")
    assert ratio >= 0.8, (revealed, carried)


# ---------------------------------------------------------------------------
# report and progress


def test_flow_on_the_cpu_is_inline_and_whole_for_small_frames(capsys, tmp_path, clip, monkeypatch):
    """Dreaming on the CPU, flow worker processes would only take cores from torch: the flow runs
    in the decode thread; a frame under FLOW_MIN_WIDTH px gets its flow at full size."""
    import dreamvideo.pipeline as pipeline

    made = []

    class Recorded(pipeline.FlowWorkers):
        def __init__(self, **kwargs):
            made.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(pipeline, "FlowWorkers", Recorded)
    code, _, err = dream(capsys, clip, tmp_path / "o.mp4", *FAST, "--frames", "0-2", "--device", "cpu")
    assert code == 0, err
    assert [(k["processes"], k["scale"]) for k in made] == [(0, 1.0)]
    code, _, err = dream(capsys, clip, tmp_path / "o2.mp4", *FAST, "--frames", "0-2", "--flow-scale", "0.25")
    assert code == 0, err
    assert made[-1]["scale"] == 0.25


def test_flow_workers_as_on_a_gpu_give_the_inline_dream(capsys, tmp_path, clip, monkeypatch):
    """The GPU's path for flow: worker processes reading the decoded frames from shared memory.
    The same evidence arrives, so the same frames come out as with the flow inline."""
    import dreamvideo.pipeline as pipeline

    inline = tmp_path / "inline.mp4"
    code, _, err = dream(capsys, clip, inline, *FAST, "--frames", "0-5", "--device", "cpu", "--codec", "h264", "--crf", "0")
    assert code == 0, err
    held = []
    hold = _SharedFrames.hold
    monkeypatch.setattr(_SharedFrames, "hold", lambda self, prev, cur: held.append(1) or hold(self, prev, cur))

    class Workers(pipeline.FlowWorkers):
        def __init__(self, **kwargs):
            super().__init__(**{**kwargs, "processes": 2})  # as on a GPU

    monkeypatch.setattr(pipeline, "FlowWorkers", Workers)
    out = tmp_path / "workers.mp4"
    code, _, err = dream(capsys, clip, out, *FAST, "--frames", "0-5", "--device", "cpu", "--codec", "h264", "--crf", "0")
    assert code == 0, err
    assert len(held) == 5  # every pair went through the shared slots
    with open_video(str(inline)) as a, open_video(str(out)) as b:
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.image, y.image)


def test_decode_runs_far_enough_ahead_for_every_flow_worker():
    from types import SimpleNamespace

    from dreamvideo.pipeline import look_ahead
    from dreamvideo.sinks import QUEUE_DEPTH

    # each queued frame carries its pair's future: with more workers than that, some would idle
    assert look_ahead(None) == look_ahead(SimpleNamespace(processes=0)) == QUEUE_DEPTH == 8
    assert look_ahead(SimpleNamespace(processes=12)) == 14


def test_independent_frames_dream_the_same_batched(capsys, tmp_path, clip, monkeypatch):
    """--flow none with --frame-batch 5 (CUDA's path, here on the CPU; 12 frames: two batches of 5
    and one of 2) gives the frames dreamed one by one."""
    import dreamvideo.temporal.dreamer as dreamer_module

    batches = []
    original = dreamer_module.TemporalDreamer.dream_independent
    monkeypatch.setattr(
        dreamer_module.TemporalDreamer, "dream_independent",
        lambda self, frames: batches.append(len(frames)) or original(self, frames),
    )  # fmt: skip
    outputs = {}
    for batch in (1, 5):
        out = tmp_path / f"batch{batch}.mp4"
        code, _, err = dream(capsys, clip, out, *FAST, "--flow", "none", "--frame-batch", batch, "--crf", "0", "--quiet")
        assert code == 0, err
        outputs[batch] = ffmpeg_frames(out)
    assert batches == [5, 5, 2]
    assert len(outputs[1]) == 12
    assert np.abs(outputs[1].astype(int) - outputs[5].astype(int)).max() <= 1


def test_json_report(dreamed, clip):
    out, report = dreamed
    assert (report["input"], report["output"], report["frames"]) == (str(clip), str(out), 12)
    # texture() redraws its noise every frame, so cuts may be found; they are frame indices.
    assert all(isinstance(i, int) and 0 < i < 12 for i in report["scene_cuts"])
    stages = report["stage_times_s"]
    assert {"model_load", "decode", "flow_wait", "dream", "encode"} <= set(stages)
    assert all(v >= 0 for v in stages.values()) and stages["dream"] > 0
    # model load, waiting for flow and dreaming happen one after another on the main thread.
    assert 0 < stages["model_load"] + stages["flow_wait"] + stages["dream"] <= report["wall_time_s"]
    assert report["frames_per_s"] == pytest.approx(12 / report["wall_time_s"], rel=0.01)
    assert set(report["peak_memory_mb"]) == {"host"} and 50 < report["peak_memory_mb"]["host"] < 24 * 1024
    dream_settings, video_settings = report["settings"]["dream"], report["settings"]["video"]
    assert (dream_settings["model"], dream_settings["octaves"], dream_settings["steps"]) == ("efficientnet-lite0", 1, 1)
    assert (video_settings["flow"], video_settings["blend"], video_settings["refine_steps"]) == ("farneback", 1.0, 1)


# "dreamed 5/12 frames, 9.80 frames/s, eta 1s"; "dreamed 5 frames, 9.80 frames/s" when the count is unknown
PROGRESS = re.compile(r"dreamed (\d+)(?:/(\d+))? frames, [\d.]+ frames/s(?:, eta \d+s)?")


def test_quiet_run_prints_no_progress(capsys, tmp_path, clip, monkeypatch):
    from dreamvideo import pipeline

    monkeypatch.setattr(pipeline.Progress, "PLAIN_EVERY_S", 0.0)
    code, stdout, err = dream(capsys, clip, tmp_path / "q.mp4", *FAST, "--frames", "0-3", "--quiet")
    assert code == 0
    assert not PROGRESS.search(err) and not PROGRESS.search(stdout)
    assert err == ""


def test_progress_is_plain_lines_on_stderr(capsys, tmp_path, clip, monkeypatch):
    from dreamvideo import pipeline

    monkeypatch.setattr(pipeline.Progress, "PLAIN_EVERY_S", 0.0)
    monkeypatch.setattr(pipeline.Progress, "STEP_EVERY_S", float("inf"))  # no step lines, even on a loaded machine
    report = tmp_path / "p.json"
    code, stdout, err = dream(capsys, clip, tmp_path / "p.mp4", *FAST, "--frames", "0-4", "--json-report", report)
    assert code == 0, err
    # this clip's frames carry fresh blocky noise: some are scene cuts, and each cut found gets its line
    cuts = [line for line in err.splitlines() if line.startswith("scene cut at frame ")]
    found = json.loads(report.read_text())["scene_cuts"]
    assert found and cuts == [f"scene cut at frame {i}: the dream starts afresh" for i in found], err
    lines = [line for line in err.splitlines() if line not in cuts]
    assert lines and all(PROGRESS.fullmatch(line) for line in lines), err
    assert "\r" not in err and "\x1b" not in err  # no bar redraws on a file or pipe
    counts = [tuple(map(int, PROGRESS.fullmatch(line).groups())) for line in lines]
    assert counts[:5] == [(i, 5) for i in range(1, 6)] and set(counts[5:]) <= {(5, 5)}
    assert not PROGRESS.search(stdout)
