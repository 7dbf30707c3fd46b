"""A dream driven by its soundtrack: per-frame settings, the report, and the result measured."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.io import open_video
from dreamvideo.metrics import strength

from ..conftest import photo
from .plots import read_plot, row_heights
from .tracks import click_track, write_audio, write_video_with_audio

NTSC = Fraction(30000, 1001)
TINY = ["--octaves", "1", "--steps", "2", "--device", "cpu", "--quiet"]
FRAMES = 16
CLICKS = (3, 8, 12)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """16 frames of 64x64 at 30000/1001, panning 1 px a frame, with clicks (AAC) at frames 3, 8 and 12."""
    folder = tmp_path_factory.mktemp("music")
    frames = [np.roll(photo("astronaut", (64, 64)), i, axis=1) for i in range(FRAMES)]
    times = np.array(CLICKS) / float(NTSC)
    path = folder / "clip.mp4"
    write_video_with_audio(path, frames, click_track(times, FRAMES / float(NTSC) + 0.2), fps=NTSC)
    return path


def _frames(path):
    with open_video(str(path)) as reader:
        return [frame.image for frame in reader]


@pytest.mark.parametrize(("flow", "schedule"), [("none", "0:(0.1 + 2*onset)"), ("farneback", "0:(1 + 1.5*onset)")])
def test_strength_follows_the_music(clip, tmp_path, capsys, flow, schedule):
    """Per-frame strength (the project's metric) correlates >= 0.8 with the scheduled strength; with the
    flow too, where carried frames are held at the shot's strength times their own --strength.
    (crf 4: at the default crf the encoder flattens a 64x64 dream's fine detail.)"""
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    args = ["dream", str(clip), str(out), "--strength", schedule, "--flow", flow, "--crf", "4"]
    code = main([*args, "--json-report", str(report), *TINY])
    assert code == 0, capsys.readouterr().err
    scheduled = json.loads(report.read_text())["schedules"]["strength"]
    assert scheduled["schedule"] == schedule
    values = np.array([scheduled["per_frame"][str(i)] for i in range(FRAMES)])
    assert all(values[k] > values[0] + 1.2 for k in CLICKS) and values[0] == pytest.approx(values.min())
    measured = np.array([strength([s], [o]) for s, o in zip(_frames(clip), _frames(out))])
    assert np.corrcoef(values, measured)[0, 1] >= 0.8, (values, measured)


def test_music_file_drives_and_is_heard(clip, tmp_path, capsys):
    """--music FILE: its features drive the schedule (frame keys and seconds together), and it is the soundtrack."""
    music = tmp_path / "music.wav"
    write_audio(music, click_track(np.array([5 / float(NTSC)]), 1.0))
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    args = ["dream", str(clip), str(out), "--music", str(music), "--frames", "0-7", "--json-report", str(report)]
    code = main([*args, "--step-size", "0:(0.01), 0.1s:(0.01 + 0.03*onset)", "--blend", "step: 0:(1), 6:(0.5)", *TINY])
    assert code == 0, capsys.readouterr().err
    schedules = json.loads(report.read_text())["schedules"]
    step = schedules["step_size"]["per_frame"]
    assert max(step, key=step.get) == "5"
    assert [schedules["blend"]["per_frame"][str(i)] for i in range(8)] == [1.0] * 6 + [0.5] * 2
    import av

    with av.open(str(out)) as container:
        assert container.streams.audio, "the music is muxed in"


def test_features_from_a_silent_input_say_use_music(tmp_path, capsys):
    from tests.io.conftest import make_clip

    silent = make_clip(tmp_path / "silent.mp4", frames=4, width=64, height=64)
    code = main(["dream", str(silent), str(tmp_path / "out.mp4"), "--strength", "0:(1 + beat)", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "has no audio" in err and "hint: give a soundtrack with --music FILE" in err
    assert not (tmp_path / "out.mp4").exists()


def test_keys_past_the_end_warn(clip, tmp_path, capsys):
    code = main(["dream", str(clip), str(tmp_path / "out.mp4"), "--frames", "0-1", "--steps", "0:(1), 100:(3)", "--octaves", "1", "--quiet"])
    assert code == 0
    assert "warning: --steps schedule '0:(1), 100:(3)' has keys past the clip's end" in capsys.readouterr().err


def test_chunked_render_of_a_scheduled_dream_equals_one_run(clip, tmp_path):
    """Schedules and music are functions of the frame: chunks 0-3 and 4-7 give the frames of one 0-7 render."""
    from dreamvideo.config import DreamSettings, FrameRange, VideoSettings
    from dreamvideo.io.sequence import read_frame
    from dreamvideo.render import render_frames

    dream = DreamSettings(octaves=1, steps="0:(1), 7:(3)", strength="0:(0.2), 4:(1.5 + onset)", device="cpu")
    video = VideoSettings(flow="none", quiet=True)
    whole, chunks = tmp_path / "whole", tmp_path / "chunks"
    render_frames(str(clip), whole, FrameRange(0, 7), dream, video, preroll=2)
    render_frames(str(clip), chunks, FrameRange(4, 7), dream, video, preroll=2)
    render_frames(str(clip), chunks, FrameRange(0, 3), dream, video, preroll=2)
    for i in range(8):
        assert np.array_equal(read_frame(whole, i).image, read_frame(chunks, i).image), i
    first, last = read_frame(whole, 0).image, read_frame(whole, 7).image
    source = _frames(clip)
    assert strength([source[7]], [last]) > 2 * strength([source[0]], [first])


def test_features_of_a_stream_need_music(clip, tmp_path, capsys):
    """A pipe cannot be read twice: its soundtrack cannot be analysed before the dream."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "dreamvideo", "dream", "-", str(tmp_path / "out.mp4"), "--strength", "0:(1 + beat)", *TINY],
        stdin=open(clip, "rb"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and "cannot be read twice" in done.stderr and "--music FILE" in done.stderr


def test_music_dreamed_draws_the_measured_strength(clip, tmp_path, capsys):
    plot = tmp_path / "pulse.png"
    assert main(["music", str(clip), "--plot", str(plot), "--dreamed", str(clip), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = table["dreamed_strength"]
    assert len(rows) == FRAMES and all(row["strength"] == 0 for row in rows)  # the clip against itself
    assert rows[3]["t"] == pytest.approx(3 / float(NTSC), abs=1e-3)
    image = read_plot(plot)
    assert image.shape == (70 + 90 * 7, 1200, 3)  # six features and the dream's strength
    heights = row_heights(image, 7)
    assert heights == sorted(heights)
    assert main(["music", str(clip), "--dreamed", str(clip)]) == 2
    assert "give --plot PNG too" in capsys.readouterr().err
