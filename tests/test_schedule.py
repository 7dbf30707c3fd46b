"""Schedules: parsing, interpolation, frames against seconds, the safe evaluator, settings and the CLI."""

from __future__ import annotations

import math

import pytest

from dreamvideo.cli import main
from dreamvideo.config import DreamSettings, VideoSettings, build_settings, load_preset, parse_layers
from dreamvideo.errors import ConfigError
from dreamvideo.schedule import Expression, evaluate, parse_schedule, resolve, schedules_of, settings_at

NTSC = 30000 / 1001


def at(text: str, frame: int, *, rate: float = 30.0, **features: float) -> float:
    return parse_schedule(text).value(frame, frame / rate, rate, features)


def test_keyframes_linear_by_default_held_before_and_after():
    text = "0:(0.5), 48:(2), 96:(1)"
    assert at(text, 0) == 0.5
    assert at(text, 24) == pytest.approx(1.25)
    assert at(text, 48) == 2
    assert at(text, 72) == pytest.approx(1.5)
    assert at(text, 96) == 1 and at(text, 500) == 1  # held after the last key
    assert at("10:(3), 20:(4)", 0) == 3  # the first value before the first key


def test_interpolation_modes():
    assert at("step: 0:(0), 10:(1)", 9) == 0 and at("step: 0:(0), 10:(1)", 10) == 1
    assert at("linear: 0:(0), 10:(1)", 3) == pytest.approx(0.3)
    smooth = [at("smooth: 0:(0), 10:(1)", f) for f in range(11)]
    assert smooth[0] == 0 and smooth[10] == 1 and smooth[5] == pytest.approx(0.5)
    assert smooth[1] < 0.1 and smooth[9] > 0.9  # eases in and out: slow near the keys
    assert all(b >= a for a, b in zip(smooth, smooth[1:]))


def test_expressions_of_time_frame_and_music():
    assert at("0:(1 + 1.5*beat)", 7, beat=1.0) == 2.5
    assert at("0:(1 + 1.5*beat)", 7) == 1.0  # no music: the features read 0
    assert at("0:(f / 2)", 8) == 4
    assert at("0:(sin(t * pi / 2))", 30) == pytest.approx(1.0)
    assert at("clip(2 * low, 0, 1)", 0, low=0.8) == 1.0  # a bare expression: one key at frame 0
    assert at("0:(max(onset, mid) + abs(-1))", 0, onset=0.2, mid=0.4) == pytest.approx(1.4)
    # Both ends of an interpolated span are evaluated at the frame itself
    assert at("0:(0), 10:(10 * beat)", 5, beat=1.0) == pytest.approx(5.0)


def test_frames_against_seconds_at_30000_1001():
    """A time key sits at the frame whose timestamp reaches it: at 29.97 fps 1 s is between frames 29 and 30."""
    schedule = parse_schedule("step: 0s:(0), 1s:(1)")
    times = [f * 1001 / 30000 for f in range(61)]
    values = [schedule.value(f, t, NTSC) for f, t in enumerate(times)]
    assert values[29] == 0 and values[30] == 1  # frame 29 is at 0.968 s, frame 30 at 1.001 s
    by_frame = parse_schedule("0:(0), 300:(1)")
    by_time = parse_schedule("0s:(0), 10.01s:(1)")  # frame 300 is at exactly 10.01 s
    for f in (0, 77, 150, 299, 300, 400):
        t = f * 1001 / 30000
        assert by_time.value(f, t, NTSC) == pytest.approx(by_frame.value(f, t, NTSC), abs=1e-9)
    mixed = parse_schedule("0:(0), 2s:(1)")  # a time key among frame keys: placed at 2 * 29.97 frames
    assert mixed.value(30, 30 / NTSC, NTSC) == pytest.approx(30 / (2 * NTSC))


@pytest.mark.parametrize(
    ("text", "place", "reason"),
    [
        ("0:(1), 48(2)", 9, "expected ':' after the key"),
        ("0:(1), 48:2", 10, "expected '(' after the key's ':'"),
        ("0:(1) 10:(2)", 6, "expected ','"),
        ("0:(1), x:(2)", 7, "expected a key"),
        ("0:(1 +), 10:(2)", 6, "not an expression"),
        ("0:(1), 10:(2", 10, "never closed"),
        ("0:(volume)", 3, "unknown name 'volume'"),
        ("10:(1), 5:(2)", 8, "keys must increase"),
        ("0:(1), 2.5:(2)", 7, "whole number"),
        ("0:(t.real)", 3, "attribute is not allowed"),
        ("", 0, "empty schedule"),
    ],
)
def test_bad_schedules_quote_it_and_point_at_the_place(text, place, reason):
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text, name="--strength")
    message = str(caught.value)
    assert f"bad --strength schedule {text!r}" in message and reason in message
    assert f"at character {place + 1}" in message
    caret = caught.value.hint.splitlines()[1]
    assert caret.index("^") == len("hint: ") + place


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd')",
        "(lambda: 1)()",
        "[1, 2][0]",
        "t if t else f",
        "eval('1')",
        "sin(x=1)",
        "'text'",
        "True + 1",
        "f.__class__",
        "beat < 1",
    ],
)
def test_anything_but_arithmetic_is_refused_never_run(text, tmp_path):
    with pytest.raises(ConfigError):
        parse_schedule(f"0:({text})")


def test_arithmetic_that_fails_is_an_error_not_a_hang():
    with pytest.raises(ConfigError, match="failed"):
        Expression("10 ** 10 ** 10")(t=0.0, f=0.0)
    with pytest.raises(ConfigError, match="failed"):
        Expression("1 / (f - 3)")(t=0.0, f=3.0)
    with pytest.raises(ConfigError, match="longer than"):
        Expression("1 +" * 300 + "1")


def test_settings_take_schedules_and_hold_values_to_their_range():
    dream = build_settings(
        DreamSettings, overrides={"strength": "0:(1), 10:(-5)", "steps": "0:(2.6)", "layers": "blocks.10:[0:(0), 10:(2)],blocks.6:0.5"}
    )
    assert dream.scheduled
    schedules = schedules_of(dream)
    assert set(schedules) == {"strength", "steps", "layers:blocks.10"}
    values = evaluate(schedules, 10, 10 / 30, 30.0)
    assert values == {"strength": 0.0, "steps": 3, "layers:blocks.10": 2.0}  # clamped at 0; rounded
    now = resolve(dream, values)
    assert now.strength == 0.0 and now.steps == 3
    assert parse_layers(now.layers) == (("blocks.10", 2.0), ("blocks.6", 0.5))
    first = settings_at(dream)
    assert first.strength == 1.0 and parse_layers(first.layers)[0] == ("blocks.10", 0.0)
    video = build_settings(VideoSettings, overrides={"blend": "0:(0), 10:(3)"})
    assert evaluate(schedules_of(video), 10, 0.0, 30.0) == {"blend": 1.0}  # held to [0, 1]
    with pytest.raises(ConfigError, match="--step-size must be positive"):
        build_settings(DreamSettings, overrides={"step_size": -1.0})
    with pytest.raises(ConfigError, match="bad --layers blocks.10 schedule"):
        build_settings(DreamSettings, overrides={"layers": "blocks.10:[0:(oops)]"})


def test_a_preset_holds_schedules(tmp_path):
    preset = tmp_path / "pulse.toml"
    preset.write_text('[dream]\nstrength = "0:(1 + beat)"\nsteps = 4\n[video]\nblend = "smooth: 0:(0), 2s:(1)"\n')
    tables = load_preset(str(preset))
    dream = build_settings(DreamSettings, preset=tables["dream"])
    video = build_settings(VideoSettings, preset=tables["video"])
    assert schedules_of(dream)["strength"].features == {"beat"}
    assert schedules_of(video)["blend"].interpolation == "smooth"
    preset.write_text('[dream]\nstrength = "0:(1 + bass)"\n')
    with pytest.raises(ConfigError, match="unknown name 'bass'"):
        build_settings(DreamSettings, preset=load_preset(str(preset))["dream"])


def test_cli_bad_schedule_is_one_error_line_before_any_work(capsys, tmp_path):
    code = main(["dream", str(tmp_path / "missing.mp4"), str(tmp_path / "out.mp4"), "--strength", "0:(1), 48(2)"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        "error: bad --strength schedule '0:(1), 48(2)': expected ':' after the key, at character 10"
    ]
    assert lines[1] == "hint: 0:(1), 48(2)" and lines[2].index("^") == len("hint: ") + 9
    assert not (tmp_path / "out.mp4").exists()
    code = main(["dream", "in.mp4", "out.mp4", "--strength", "0:(__import__('os').getcwd())"])
    assert code == 2 and "unknown function" in capsys.readouterr().err


def test_plain_numbers_stay_numbers():
    assert build_settings(DreamSettings, overrides={"strength": 2}).strength == 2
    assert not DreamSettings().scheduled
    assert math.isclose(settings_at(DreamSettings(strength=1.5)).strength, 1.5)


def test_a_variable_rate_clip_reads_time_keys_at_each_frames_own_timestamp(tmp_path, capsys):
    """VFR: a schedule keyed in seconds is read at each frame's decoded timestamp, not index / rate."""
    import json
    from fractions import Fraction

    from dreamvideo.io import open_video

    from .io.conftest import make_clip

    pts = [0, 100, 150, 400, 450, 900]  # ms: gaps of 100, 50, 250, 50, 450
    clip = make_clip(tmp_path / "vfr.mp4", frames=6, width=64, height=48, pts=pts, time_base=Fraction(1, 1000))
    report = tmp_path / "report.json"
    args = ["dream", str(clip), str(tmp_path / "out.mp4"), "--strength", "0s:(0), 10s:(10)", "--flow", "none"]
    assert main([*args, "--octaves", "1", "--steps", "1", "--quiet", "--json-report", str(report)]) == 0, capsys.readouterr().err
    with open_video(str(clip)) as reader:
        times = [frame.time for frame in reader]
    per_frame = json.loads(report.read_text())["schedules"]["strength"]["per_frame"]
    assert [per_frame[str(i)] for i in range(6)] == pytest.approx(times)
    assert times == pytest.approx([p / 1000 for p in pts], abs=1e-3)


def test_each_frames_dreamer_keeps_the_runners_step_reporting(lite0):
    """A scheduled frame gets a Dreamer of its own: the runner's progress inside a frame goes with it."""
    from dreamvideo.dream import Dreamer, objective_from_settings
    from dreamvideo.timeline import Timeline

    dream = build_settings(DreamSettings, overrides={"strength": "0:(1), 4:(2)", "device": "cpu"})
    timeline = Timeline(dream, VideoSettings(), rate=25.0)
    base_settings = settings_at(dream)
    base = Dreamer(lite0, objective_from_settings(base_settings, lite0), base_settings)
    told = []
    with base.reporting_steps(lambda done, total: told.append((done, total))):
        frame_dreamer = timeline.dreamer(base, timeline.at(2, 2 / 25))
    assert frame_dreamer is not base and frame_dreamer.settings.strength == pytest.approx(1.5)
    assert frame_dreamer.on_step is not None
    frame_dreamer.on_step(1, 3)
    assert told == [(1, 3)]
