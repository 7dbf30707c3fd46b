"""Settings, parsers of option strings, presets, and the precedence default < preset < flag."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dreamvideo.cli import main
from dreamvideo.config import (
    AnimateSettings,
    DreamSettings,
    FrameRange,
    VideoSettings,
    build_settings,
    list_presets,
    load_preset,
    parse_channels,
    parse_frame_range,
    parse_frame_ranges,
    parse_layers,
    parse_size,
)
from dreamvideo.errors import ConfigError, DreamVideoError

# ---------------------------------------------------------------------------
# frame ranges


@pytest.mark.parametrize(
    "text, start, end",
    [("5-10", 5, 10), ("7", 7, 7), ("0-0", 0, 0), (" 3 - 4 ", 3, 4), ("0-99", 0, 99)],
)
def test_parse_frame_range(text, start, end):
    frames = parse_frame_range(text)
    assert frames == FrameRange(start, end)
    assert len(frames) == end - start + 1
    assert start in frames and end in frames and end + 1 not in frames
    assert str(frames) == f"{start}-{end}"


def test_parse_frame_range_reversed():
    with pytest.raises(ConfigError, match="reversed"):
        parse_frame_range("10-5")


@pytest.mark.parametrize("text", ["", "a-b", "-5", "5-", "1-2-3", "1.5-3", "5..10", "x", "1,", "1;2"])
def test_parse_frame_range_garbage(text):
    with pytest.raises(ConfigError, match="frame range") as info:
        parse_frame_range(text)
    assert info.value.hint and "A-B" in info.value.hint


def test_frame_ranges_are_one_syntax_for_every_command():
    """render's lists (``3-5,9``) parse everywhere; one span is what a video command needs."""
    assert parse_frame_ranges("3-5,9") == [FrameRange(3, 5), FrameRange(9, 9)]
    assert parse_frame_ranges("9,3-5") == [FrameRange(9, 9), FrameRange(3, 5)]
    assert parse_frame_range("0-4,5-9") == FrameRange(0, 9)  # a list without gaps is one span
    assert parse_frame_range("2,0,1") == FrameRange(0, 2)
    with pytest.raises(ConfigError, match=r"--frames '0,5' has a gap \(0-0, then 5-5\): this command dreams one span") as info:
        parse_frame_range("0,5")
    assert "`dreamvideo render` takes lists" in info.value.hint
    with pytest.raises(ConfigError, match="overlap"):
        parse_frame_range("0-5,3-9")
    with pytest.raises(ConfigError, match="reversed"):
        parse_frame_ranges("3-5,9-7")


def test_frame_range_checks_itself():
    with pytest.raises(ConfigError):
        FrameRange(-1, 3)
    with pytest.raises(ConfigError):
        FrameRange(4, 3)


# ---------------------------------------------------------------------------
# sizes, layers, channels


@pytest.mark.parametrize("text, size", [("1280x720", (1280, 720)), ("64X48", (64, 48)), (" 320 x 240 ", (320, 240))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1280", "0x720", "1280x0", "-1x5", "1.5x2", "axb", "12x34x56", "1280*720"])
def test_parse_size_bad(text):
    with pytest.raises(ConfigError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(
    "text, layers",
    [
        ("blocks.10", (("blocks.10", 1.0),)),
        ("blocks.10:2,blocks.6:0.5", (("blocks.10", 2.0), ("blocks.6", 0.5))),
        (" inception4c : -1 , inception4d.branch4.0 ", (("inception4c", -1.0), ("inception4d.branch4.0", 1.0))),
    ],
)
def test_parse_layers(text, layers):
    assert parse_layers(text) == layers


@pytest.mark.parametrize("text", ["", " ", "a,,b", ":2", "blocks.10:x", "blocks.10:1:2", ","])
def test_parse_layers_bad(text):
    with pytest.raises(ConfigError, match="layers|weight"):
        parse_layers(text)


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf"])
def test_parse_layers_rejects_weights_that_are_not_finite(weight):
    with pytest.raises(ConfigError):
        parse_layers(f"blocks.10:{weight}")


@pytest.mark.parametrize(
    "text, channels",
    [("3", (3,)), ("3,7,10-12", (3, 7, 10, 11, 12)), (" 0 - 2 , 1 ", (0, 1, 2)), ("5-5", (5,))],
)
def test_parse_channels(text, channels):
    assert parse_channels(text) == channels


@pytest.mark.parametrize("text", ["", "5-2", "a", "-1", "1,,2", "1.5", "3-", "1-2-3"])
def test_parse_channels_bad(text):
    with pytest.raises(ConfigError, match="--channels"):
        parse_channels(text)


# ---------------------------------------------------------------------------
# validation


def test_default_settings_are_valid():
    DreamSettings().validate()
    VideoSettings().validate()
    assert DreamSettings().model == "efficientnet-lite0"


@pytest.mark.parametrize(
    "change, flag",
    [
        ({"octaves": 0}, "--octaves"),
        ({"octave_scale": 1.0}, "--octave-scale"),
        ({"octave_scale": 0.5}, "--octave-scale"),
        ({"steps": 0}, "--steps"),
        ({"step_size": 0.0}, "--step-size"),
        ({"step_size": -1.0}, "--step-size"),
        ({"jitter": -1}, "--jitter"),
        ({"smoothing": -0.1}, "--smoothing"),
        ({"tile": 63}, "--tile"),
        ({"device": "tpu"}, "--device"),
        ({"logit": -1}, "--logit"),
        ({"layers": ""}, "--layers"),
        ({"layers": "a:b"}, "--layers"),
        ({"channels": "5-2"}, "--channels"),
    ],
)
def test_dream_settings_validate(change, flag):
    with pytest.raises(ConfigError, match=flag):
        dataclasses.replace(DreamSettings(), **change).validate()


@pytest.mark.parametrize(
    "change, flag",
    [
        ({"flow": "lucas-kanade"}, "--flow"),
        ({"flow_scale": 0.0}, "--flow-scale"),
        ({"flow_scale": 1.5}, "--flow-scale"),
        ({"blend": -0.1}, "--blend"),
        ({"blend": 1.1}, "--blend"),
        ({"refine_steps": -1}, "--refine-steps"),
        ({"frame_batch": 0}, "--frame-batch"),
        ({"codec": "mjpeg"}, "--codec"),
        ({"crf": 52}, "--crf"),
        ({"crf": -1}, "--crf"),
        ({"width": 8}, "--width"),
        ({"width": 640, "size": "640x480"}, "--width"),
        ({"frames": "9-3"}, "frame range"),
        ({"frames": "x"}, "frame range"),
        ({"size": "640"}, "size"),
    ],
)
def test_video_settings_validate(change, flag):
    with pytest.raises(ConfigError, match=flag):
        dataclasses.replace(VideoSettings(), **change).validate()


def test_video_settings_parsed_views():
    video = VideoSettings(frames="2-4", size="64x48")
    assert video.frame_range == FrameRange(2, 4)
    assert video.frame_size == (64, 48)
    assert VideoSettings().frame_range is None and VideoSettings().frame_size is None


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, DreamVideoError)
    assert ConfigError("x").exit_code == 2


# ---------------------------------------------------------------------------
# presets and precedence


def test_list_presets():
    presets = list_presets()
    assert "default" in presets
    assert set(presets) == {p.stem for p in (Path(__file__).parent.parent / "pipelines").glob("*.toml")}
    assert all(isinstance(d, str) for d in presets.values())
    assert presets["default"], "the default preset should describe itself"


def test_every_shipped_preset_loads_and_validates():
    for name in list_presets():
        preset = load_preset(name)
        assert set(preset) == {"dream", "video", "animate"}
        build_settings(DreamSettings, preset=preset["dream"])
        build_settings(VideoSettings, preset=preset["video"])
        build_settings(AnimateSettings, preset=preset["animate"])


SHIPPED = Path(__file__).parent.parent / "pipelines"


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.toml")), ids=lambda p: p.stem)
def test_every_key_of_every_preset_is_a_real_option(path):
    """Read the TOML raw (not through load_preset) so a checker bug cannot hide a bad key."""
    from dreamvideo.config import tomllib

    from dreamvideo.models import layer_names

    data = tomllib.loads(path.read_text())
    assert set(data) <= {"description", "dream", "video", "animate"}, f"{path.name}: unknown tables"
    assert isinstance(data.get("description"), str) and data["description"].strip(), f"{path.name}: no description"
    fields = {"dream": DreamSettings, "video": VideoSettings, "animate": AnimateSettings}
    for table, cls in fields.items():
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data.get(table, {}):
            assert key in names, f"{path.name}: [{table}] {key} is not a {cls.__name__} option"
    dream = build_settings(DreamSettings, preset=data.get("dream"))
    build_settings(VideoSettings, preset=data.get("video"))
    # the layers it names exist in its model (listed on the meta device: no weights needed)
    if dream.layers:
        known = set(layer_names(dream.model))
        for layer, _ in parse_layers(dream.layers):
            assert layer in known, f"{path.name}: {dream.model} has no layer {layer!r}"


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_preset_says_what_it_costs(name):
    description = list_presets()[name]
    assert "MEASURED" not in description, f"{name}: the frames/s figure was never filled in"
    assert "frames/s" in description or "not measured yet" in description


def test_hallucination_machine_maps_the_published_settings():
    """Caffe GoogLeNet inception_4d/pool, 3 octaves x1.8, 16 iterations, step 1.5/255, jitter 32, blend 0.9."""
    preset = load_preset("hallucination-machine")
    dream = build_settings(DreamSettings, preset=preset["dream"])
    video = build_settings(VideoSettings, preset=preset["video"])
    assert (dream.model, dream.layers) == ("googlenet", "inception4d.branch4.0")
    assert (dream.pyramid, dream.octaves, dream.octave_scale) == ("classic", 3, 1.8)
    assert dream.steps == video.refine_steps == 16
    assert dream.step_size == pytest.approx(1.5 / 255, rel=1e-3) and dream.strength == 1.0
    assert (dream.jitter_px, dream.smoothing) == (32, 0.0)
    assert (video.flow, video.blend) == ("farneback", 0.9)
    assert dream.projection == "equirect"


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    listed = {line.split()[0]: line for line in captured.out.splitlines()}
    assert set(listed) == set(list_presets())
    assert list_presets()["default"] in listed["default"]


def test_load_preset_from_a_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('description = "mine"\n[dream]\nsteps = 3\nlayers = "blocks.6"\n[video]\nblend = 0.25\n')
    assert load_preset(str(path)) == {"dream": {"steps": 3, "layers": "blocks.6"}, "video": {"blend": 0.25}, "animate": {}}


def test_load_preset_with_only_one_table(tmp_path):
    path = tmp_path / "video.toml"
    path.write_text("[video]\nflow = \"dis\"\n")
    assert load_preset(str(path)) == {"dream": {}, "video": {"flow": "dis"}, "animate": {}}


@pytest.mark.parametrize(
    "text, match",
    [
        ("[dream]\nstepz = 3\n", "stepz"),
        ("[video]\noctaves = 3\n", "octaves"),  # a dream option in the video table
        ("[render]\nsteps = 3\n", "render"),
        ("steps = 3\n", "steps"),
        ("[dream\n", "cannot read"),
    ],
)
def test_load_preset_bad(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_preset(str(path))


def test_load_preset_unknown_name():
    with pytest.raises(ConfigError, match="nope") as info:
        load_preset("nope")
    assert "default" in info.value.hint


def test_load_preset_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml"):
        load_preset(str(tmp_path / "missing.toml"))


def test_build_settings_precedence(tmp_path):
    """default < preset < flag, field by field; a flag left at None does not hide the preset."""
    path = tmp_path / "p.toml"
    path.write_text("[dream]\nsteps = 3\noctaves = 2\nseed = 9\n[video]\nblend = 0.25\ncrf = 30\n")
    preset = load_preset(str(path))
    flags = {f.name: None for f in dataclasses.fields(DreamSettings)} | {"octaves": 5, "jitter": 4}

    dream = build_settings(DreamSettings, preset=preset["dream"], overrides=flags)

    assert dream.steps == 3  # preset beats default
    assert dream.seed == 9
    assert dream.octaves == 5  # flag beats preset
    assert dream.jitter == 4  # flag beats default
    assert dream.step_size == DreamSettings().step_size  # default where neither says
    video = build_settings(VideoSettings, preset=preset["video"], overrides={"crf": 20, "blend": None})
    assert (video.blend, video.crf, video.flow) == (0.25, 20, "farneback")


def test_build_settings_validates():
    with pytest.raises(ConfigError, match="--octaves"):
        build_settings(DreamSettings, overrides={"octaves": 0})
    with pytest.raises(ConfigError, match="--steps"):
        build_settings(DreamSettings, preset={"steps": 0})
    with pytest.raises(ConfigError, match="--blend"):
        build_settings(VideoSettings, preset={"blend": 0.5}, overrides={"blend": 2.0})


@pytest.mark.parametrize(
    "preset",
    [{"octaves": "3"}, {"steps": 2.5}, {"layers": 7}, {"octave_scale": "1.4"}, {"seed": [1]}],
    ids=["str for int", "float for int", "int for str", "str for float", "list for int"],
)
def test_build_settings_rejects_values_of_the_wrong_type(preset):
    """A preset value of the wrong type is a user's mistake (ConfigError), not an internal failure."""
    with pytest.raises(ConfigError):
        build_settings(DreamSettings, preset=preset)


def test_build_settings_accepts_an_int_for_a_float():
    assert build_settings(DreamSettings, preset={"octave_scale": 2, "step_size": 1}).octave_scale == 2
