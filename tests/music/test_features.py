"""Music features: beats on generated drum and click tracks, frame alignment, decoding, the command."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.errors import MediaError
from dreamvideo.music import analyse, beat_f_measure, load_music, plot_features

from .plots import beat_columns, read_plot, row_heights
from .tracks import RATE, beat_times, click_track, drum_track, write_audio

NTSC = 30000 / 1001


def _tracks():
    for bpm in (70, 100, 128, 180):
        beats = beat_times(bpm, 20)
        yield f"click {bpm} bpm", click_track(beats, 20), beats
    for bpm in (70, 95, 140, 180):
        beats = beat_times(bpm, 20)
        yield f"drums {bpm} bpm", drum_track(beats, 20), beats
    for bpm in (80, 110):
        beats = beat_times(bpm, 20)
        yield f"swung drums {bpm} bpm", drum_track(beats, 20, swing=2 / 3), beats
    beats = beat_times([(0.0, 100.0), (10.0, 140.0)], 22)
    yield "tempo change 100 -> 140 bpm", drum_track(beats, 22), beats
    beats = beat_times(120, 20, start=4.0)
    yield "4 s of quiet noise, then drums", drum_track(beats, 20), beats
    beats = beat_times(120, 20)
    yield "quiet intro: the first 5 s 20 dB down", drum_track(beats, 20, gains=np.where(beats < 5, 0.1, 1.0)), beats
    beats = beat_times(120, 4.3)
    yield "a short track: 4.3 s", drum_track(beats, 4.3), beats


TRACKS = list(_tracks())


@pytest.mark.parametrize(("name", "samples", "beats"), TRACKS, ids=[t[0] for t in TRACKS])
def test_beat_f_measure_on_generated_tracks(name, samples, beats):
    features = analyse(samples, RATE)
    assert beat_f_measure(beats, features.beats, window=0.07) >= 0.9, (name, features.beats)
    if name.startswith("a short track"):
        assert len(features.beats) == len(beats)  # the last beats too


def test_f_measure_is_mir_evals():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    assert beat_f_measure(reference, reference + 0.069) == 1.0
    assert beat_f_measure(reference, reference + 0.071) == 0.0
    assert beat_f_measure(reference, np.array([1.0, 1.01, 2.0])) == pytest.approx(2 * (2 / 3 * 0.5) / (2 / 3 + 0.5))


@pytest.mark.parametrize("first", [3, 7, 10])
def test_a_click_at_frame_k_peaks_at_frame_k(first):
    """At 30000/1001, clicks exactly at frames k, k+12, ...'s timestamps (150 bpm): the onset and
    the beat pulse peak at each k, not k±1."""
    times = np.arange(160) / NTSC
    frames = np.arange(first, 150, 12)
    features = analyse(click_track(times[frames], 160 / NTSC), RATE)
    rows = features.table(list(times), 1 / NTSC)
    onset = np.array([row["onset"] for row in rows])
    pulse = np.array([row["beat"] for row in rows])
    for k in frames:
        assert onset[k] > 1.5 * max(onset[k - 1], onset[k + 1]), k
        assert pulse[k] == 1.0 and pulse[k - 1] < 1.0 and pulse[k + 1] < 1.0, k


def test_beat_pulse_decays_between_beats_and_levels_are_normalised():
    beats = beat_times(120, 8)
    features = analyse(drum_track(beats, 8), RATE)
    times = np.arange(int(8 * 30)) / 30
    rows = features.table(list(times), 1 / 30)
    pulse = np.array([row["beat"] for row in rows])
    on_beat = np.round(beats * 30).astype(int)
    assert np.all(pulse[on_beat[on_beat < len(pulse)]] == 1.0)
    between = pulse[on_beat[1] + 1 : on_beat[2]]
    assert np.all(np.diff(between) < 0) and between[-1] < 0.1  # falls away before the next beat
    for name in ("loudness", "onset", "beat", "low", "mid", "high"):
        values = np.array([row[name] for row in rows])
        assert values.min() >= 0 and values.max() <= 1 and values.max() > 0.5, name
    kick_frames = on_beat[0::2][:4]
    hat_frames = on_beat[0::2][:4] + 7  # the hat between beats: no kick, little low end
    assert np.mean([rows[i]["low"] for i in kick_frames]) > np.mean([rows[i]["low"] for i in hat_frames]) + 0.2


def test_decoded_aac_keeps_the_beat_times(tmp_path):
    beats = beat_times(128, 8)
    path = tmp_path / "drums.m4a"
    write_audio(path, drum_track(beats, 8), codec="aac")
    features = load_music(path)
    assert beat_f_measure(beats, features.beats) >= 0.95
    assert np.median(np.abs(features.beats[: len(beats)] - beats[: len(features.beats)])) < 0.02


def test_music_command_plot_and_json(tmp_path, capsys):
    beats = beat_times(100, 6)
    path = tmp_path / "clicks.wav"
    write_audio(path, click_track(beats, 6))
    plot = tmp_path / "features.png"
    assert main(["music", str(path), "--plot", str(plot), "--json", "--rate", "30000/1001"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["rate"] == "30000/1001" and abs(table["tempo_bpm"] - 100) < 2
    assert beat_f_measure(beats, np.array(table["beats_s"])) >= 0.95
    assert len(table["frames"]) == int(6 * NTSC) and set(table["frames"][0]) >= {"frame", "t", "beat", "low"}
    image = read_plot(plot)
    assert image.shape == (70 + 90 * 6, 1200, 3)
    assert len(beat_columns(image)) == len(table["beats_s"])


def test_plot_features_draws_a_row_each_and_the_beats(tmp_path):
    beats = beat_times(100, 6)
    path = tmp_path / "clicks.wav"
    write_audio(path, click_track(beats, 6))
    features = load_music(path)
    times = np.arange(0, 6, 1 / 30)
    plot = tmp_path / "features.png"
    plot.write_bytes(b"old")
    plot_features(features, plot, extra={"dream strength": (list(times), list(5 + 3 * np.sin(3 * times)))})
    image = read_plot(plot)
    assert image.shape == (70 + 90 * 7, 1200, 3)  # six features and the dream
    heights = row_heights(image, 7)
    assert heights == sorted(heights)  # loudness, onset, beat, low, mid, high, then the dream
    assert heights[-1] > heights[-2] + 20  # the dream's own row, under the features
    columns = beat_columns(image)
    assert len(columns) == len(features.beats)
    # One time axis: the lines stand at the beats' times, evenly scaled.
    scale = np.diff(columns) / np.diff(features.beats)
    assert scale.max() - scale.min() < 0.02 * scale.mean()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clicks.wav", "features.png"]  # no temporary left

    plot_features(features, tmp_path / "features.jpg")
    assert read_plot(tmp_path / "features.jpg").shape == (70 + 90 * 6, 1200, 3)
    with pytest.raises(MediaError, match="cannot write"):
        plot_features(features, tmp_path / "missing" / "features.png")


def test_music_of_a_silent_file_says_use_music(tmp_path, capsys):
    from tests.io.conftest import make_clip

    silent = make_clip(tmp_path / "silent.mp4", frames=4)
    assert main(["music", str(silent)]) == 2
    err = capsys.readouterr().err
    assert "has no audio" in err and "--music FILE" in err


def test_music_plot_without_matplotlib_is_one_error_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "clicks.wav"
    write_audio(path, click_track(beat_times(100, 2), 2))
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # import fails
    assert main(["music", str(path), "--plot", str(tmp_path / "features.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plot needs matplotlib") and "dreamvideo[plot]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clicks.wav"]
