"""Typed settings shared by the CLI and the Python API, TOML presets, validation.

An option exists once, here. Precedence: a command-line flag beats a preset,
which beats the default in these dataclasses.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from .errors import ConfigError
from .schedule import is_schedule, parse_schedule, split_top_level

__all__ = [
    "AnimateSettings",
    "DreamSettings",
    "FrameRange",
    "VideoSettings",
    "build_settings",
    "list_presets",
    "load_preset",
    "preset_description",
    "parse_channels",
    "parse_frame_range",
    "parse_frame_ranges",
    "parse_layers",
    "parse_logit",
    "parse_size",
]


@dataclass(frozen=True)
class FrameRange:
    """Inclusive range of 0-based decode indices, ``A-B`` on the command line."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ConfigError(f"bad frame range {self}: need 0 <= A <= B")

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.start <= index <= self.end

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


_FRAMES_HINT = "use A-B or a single frame A (inclusive, 0-based), or a list of them, e.g. 0-99 or 3-5,9"


def parse_frame_ranges(text: str) -> list[FrameRange]:
    """Parse ``--frames``: ``A-B`` (inclusive, 0-based), a single frame ``A``, or a list of them
    (``3-5,9``), into ranges in the order given. The one syntax of every command's ``--frames``.

    Raises:
        ConfigError: a malformed or reversed range, or ranges that overlap.
    """
    ranges = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ConfigError(f"bad frame range {text!r}", hint=_FRAMES_HINT)
        start = int(m[1])
        end = int(m[2]) if m[2] is not None else start
        if end < start:
            raise ConfigError(f"bad frame range {part.strip()!r}: it is reversed ({start} > {end})", hint=_FRAMES_HINT)
        ranges.append(FrameRange(start, end))
    ordered = sorted(ranges, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start <= a.end:
            raise ConfigError(f"frame ranges {a} and {b} overlap", hint="give each frame once")
    return ranges


def parse_frame_range(text: str) -> FrameRange:
    """Parse ``--frames`` for a command that takes one span of frames (a video is one span).

    The syntax is :func:`parse_frame_ranges`'; a list is accepted when its ranges join into
    one span without gaps (``0-4,5-9`` is ``0-9``).

    Raises:
        ConfigError: a malformed or reversed range, or a list with gaps (with where lists go).
    """
    ranges = sorted(parse_frame_ranges(text), key=lambda r: r.start)
    for a, b in zip(ranges, ranges[1:]):
        if b.start != a.end + 1:
            raise ConfigError(
                f"--frames {text!r} has a gap ({a}, then {b}): this command dreams one span of frames",
                hint="give one range A-B, or run once per range; `dreamvideo render` takes lists "
                "(it writes the frames into a folder)",
            )
    return FrameRange(ranges[0].start, ranges[-1].end)


def parse_logit(text: str) -> int | str:
    """``--logit``: a class index (``"285"`` → 285) or a class name, kept as text.

    Names are matched against the model's labels when the objective is built.
    """
    text = text.strip()
    _check(bool(text), "--logit needs a class index or name")
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` into ``(width, height)``.

    Raises:
        ConfigError: unless both are positive integers.
    """
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m[1]) == 0 or int(m[2]) == 0:
        raise ConfigError(f"bad size {text!r}", hint="use WxH, e.g. 1280x720")
    return int(m[1]), int(m[2])


# ---------------------------------------------------------------------------
# Layers and channels

LayerWeights = tuple[tuple[str, float | str], ...]  # a str weight is a schedule


def parse_fast(text: str) -> frozenset[str]:
    """``--fast`` ``a,b`` → the set of speed paths; ConfigError for an unknown one or bf16 with fp16."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(names - set(FAST_PATHS))
    if unknown:
        raise ConfigError(f"unknown --fast path {unknown[0]!r}", hint=f"use some of: {', '.join(FAST_PATHS)}")
    _check(not {"bf16", "fp16"} <= names, "--fast takes bf16 or fp16, not both")
    return names


def parse_layers(text: str) -> LayerWeights:
    """Parse ``NAME[:W],...`` into ``((name, weight), ...)``; weight defaults to 1.

    A weight in brackets is a schedule (``blocks.6:[0:(0), 48:(1)]``, see ``schedule.py``),
    kept as its text.

    Raises:
        ConfigError: on an empty name, a weight that is not a number, a bad schedule.
    """
    result: list[tuple[str, float | str]] = []
    for part in split_top_level(text):
        name, _, weight = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise ConfigError(f"bad --layers {text!r}", hint="use NAME[:WEIGHT],... e.g. blocks.10:1,blocks.6:0.5")
        if weight.strip().startswith("["):
            schedule = weight.strip()
            _check(schedule.endswith("]"), f"bad weight {weight!r} for layer {name!r} in --layers: ']' missing")
            parse_schedule(schedule[1:-1], name=f"--layers {name}")
            result.append((name, schedule[1:-1]))
            continue
        try:
            value = float(weight) if weight.strip() else 1.0
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(f"bad weight {weight!r} for layer {name!r} in --layers")
        result.append((name, value))
    return tuple(result)


def parse_channels(text: str) -> tuple[int, ...]:
    """Parse a channel list ``3,7,10-12`` into ``(3, 7, 10, 11, 12)``.

    Raises:
        ConfigError: on anything that is not a list of indices and inclusive ranges.
    """
    channels: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise ConfigError(f"bad --channels {text!r}", hint="use indices and inclusive ranges, e.g. 3,7,10-12")
        channels.extend(range(int(m[1]), int(m[2] or m[1]) + 1))
    return tuple(dict.fromkeys(channels))


# ---------------------------------------------------------------------------
# Settings

DEVICES = ("auto", "cpu", "cuda", "mps")
PYRAMIDS = ("anchored", "classic")
PROJECTIONS = ("auto", "flat", "equirect")
STEREO_LAYOUTS = ("auto", "none", "top-bottom", "left-right")
SPHERE_MODES = ("views", "cubemap", "equirect")
# Opt-in speed paths (--fast): none measured to win on a GPU yet (see DESIGN, Speed).
FAST_PATHS = ("cudnn", "channels-last", "bf16", "fp16", "compile")
FLOWS = ("farneback", "dis", "none")
CODECS = ("h264", "h265", "prores")


@dataclass
class DreamSettings:
    """What to dream and how: the dream options of every command.

    ``layers`` is ``NAME[:W],...`` (None: the model's default layer); ``channels``
    restricts the layer objectives to those channel indices; ``guide`` is an image
    whose features the dream moves towards; ``logit`` maximises one class logit.

    The octave pyramid: ``pyramid="anchored"`` (default) is anchored to the
    picture: the smallest octave is ``base_width`` pixels wide whatever the
    frame size, octaves grow by ``octave_scale`` up to the frame, and ``jitter``
    is in pixels of the ``base_width`` octave, scaled with each octave, so the
    same settings give the same large structures at any resolution.
    ``pyramid="classic"`` is anchored to the pixels: ``octaves`` levels below the
    frame, ``jitter`` in frame pixels. ``octaves`` and ``jitter`` default (None)
    to 4 and 32 for classic; anchored takes every octave from the base up and a
    jitter of 6 (2.7% of the width). ``octaves`` given with the anchored pyramid
    keeps only that many of the finest octaves (faster; the largest structures,
    and with them the resolution independence, are lost).

    ``strength`` scales the dream: steps and step size are each multiplied by
    ``sqrt(strength)`` (steps rounded, at least 1), so the total distance moved
    grows in proportion to it; 0 leaves the image as it was.
    ``step_size`` is in units of the [0, 1] pixel range per step, applied to the
    gradient normalised by its mean absolute value. ``tile`` is the largest side
    dreamed in one piece; larger octaves are dreamed in overlapping tiles. None:
    512 on the CPU, 1536 on CUDA (``Dreamer.CUDA_TILE``).

    ``projection`` says what the picture is: ``flat``, ``equirect`` (a 360°
    panorama: longitude along the width, the top row the zenith), or ``auto``
    (from the input's spherical metadata, else flat). ``stereo`` is the eye
    layout (``auto``: from metadata, else none); ``sphere_mode`` how a panorama is
    shown to the network (``views``: overlapping perspective views, ``cubemap``,
    or ``equirect``: the pixels as they are, seam wrapped). ``strict`` turns
    doubtful input (an equirect frame that is not 2:1 per eye) from a warning
    into an error.
    """

    model: str = "efficientnet-lite0"
    weights: str | None = None
    layers: str | None = None
    channels: str | None = None
    guide: str | None = None
    logit: int | str | None = None
    pyramid: str = "anchored"
    base_width: int = 224
    octaves: int | None = None
    octave_scale: float = 1.4
    steps: int | str = 10
    step_size: float | str = 0.02
    strength: float | str = 1.0
    jitter: int | str | None = None
    smoothing: float = 0.5
    tile: int | None = None
    seed: int = 0
    device: str = "auto"
    projection: str = "auto"
    stereo: str = "auto"
    sphere_mode: str = "views"
    strict: bool = False
    fast: str | None = None

    def validate(self) -> None:
        """Raise ConfigError for any value out of range; parse the list options."""
        _check(self.pyramid in PYRAMIDS, f"--pyramid must be one of {', '.join(PYRAMIDS)}")
        _check(self.base_width >= 32, "--base-width must be at least 32")
        _check(self.octaves is None or self.octaves >= 1, "--octaves must be at least 1")
        _check(self.octave_scale > 1.0, "--octave-scale must be greater than 1")
        for name in ("steps", "step_size", "strength", "jitter"):  # a schedule: see schedule.py
            if is_schedule(getattr(self, name)):
                parse_schedule(getattr(self, name), name=f"--{name.replace('_', '-')}")
        _check(is_schedule(self.steps) or self.steps >= 1, "--steps must be at least 1")
        _check(is_schedule(self.step_size) or self.step_size > 0, "--step-size must be positive")
        _check(
            is_schedule(self.strength) or math.isfinite(self.strength) and self.strength >= 0,
            "--strength must not be negative",
        )
        _check(is_schedule(self.jitter) or self.jitter is None or self.jitter >= 0, "--jitter must not be negative")
        _check(self.smoothing >= 0, "--smoothing must not be negative")
        _check(self.tile is None or self.tile >= 64, "--tile must be at least 64")
        _check(self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}")
        logit = parse_logit(self.logit) if isinstance(self.logit, str) else self.logit
        _check(not isinstance(logit, int) or logit >= 0, "--logit must not be negative")
        _check(self.projection in PROJECTIONS, f"--projection must be one of {', '.join(PROJECTIONS)}")
        _check(self.stereo in STEREO_LAYOUTS, f"--stereo must be one of {', '.join(STEREO_LAYOUTS)}")
        _check(self.sphere_mode in SPHERE_MODES, f"--sphere-mode must be one of {', '.join(SPHERE_MODES)}")
        if self.fast is not None:
            parse_fast(self.fast)
        if self.layers is not None:
            parse_layers(self.layers)
        if self.channels is not None:
            parse_channels(self.channels)

    @property
    def scheduled(self) -> bool:
        """Whether any value changes over the clip (a schedule: see ``schedule.py``)."""
        weights = parse_layers(self.layers) if self.layers else ()
        return any(is_schedule(getattr(self, n)) for n in ("steps", "step_size", "strength", "jitter")) or any(
            is_schedule(w) for _, w in weights
        )

    @property
    def jitter_px(self) -> int:
        """``jitter`` with its default: 32 frame pixels (classic) or 6 base-octave pixels (anchored)."""
        if self.jitter is not None:
            return self.jitter
        return 32 if self.pyramid == "classic" else 6


@dataclass
class VideoSettings:
    """How a clip is decoded, kept coherent in time and encoded.

    ``blend`` is how much of the previous frame's warped dream detail a frame
    starts from (0: none, 1: all of it); ``refine_steps`` are the steps per octave
    for such a frame (``steps`` serve the first frame and the one after a cut).
    ``flow_scale`` is the fraction of the frame size the optical flow is computed at; None:
    half size, but at least 640 px wide (``temporal.flow.auto_flow_scale``).
    ``audio`` is a file whose soundtrack replaces the input's (cut to the same span).
    ``music`` is a file whose soundtrack drives the schedules' music features (and is the
    output's soundtrack unless ``audio`` says otherwise); None: the input's own soundtrack.
    ``blend`` and ``refine_steps`` may be schedules (``schedule.py``), as may the dream's
    ``strength``, ``step_size``, ``steps``, ``jitter`` and layer weights.
    ``vr_names`` adds the suffixes headset players look for (``_360``, ``_TB``,
    ``_LR``) to the output name of a 360° run (``layout.vr_name``).
    ``live_timeout`` (with ``live``): seconds a stream input may send nothing before it is
    taken as ended; 0 waits for ever.
    ``frame_batch`` is how many frames with no temporal link (``--flow none`` or
    ``--blend 0``) are dreamed as one batch; None: 4 on CUDA, 1 elsewhere
    (``pipeline.frame_batch``). The dream of each frame does not depend on it.
    """

    frames: str | None = None
    width: int | None = None
    size: str | None = None
    flow: str = "farneback"
    flow_scale: float | None = None
    blend: float | str = 1.0
    refine_steps: int | str = 1
    codec: str = "h264"
    crf: int | None = None
    json_report: str | None = None
    audio: str | None = None
    quiet: bool = False
    vr_names: bool = False
    live: bool = False
    live_timeout: float = 5.0
    frame_batch: int | None = None
    music: str | None = None

    def validate(self) -> None:
        """Raise ConfigError for any value out of range."""
        _check(self.flow in FLOWS, f"--flow must be one of {', '.join(FLOWS)}")
        _check(self.flow_scale is None or 0 < self.flow_scale <= 1, "--flow-scale must be in (0, 1]")
        for name in ("blend", "refine_steps"):  # a schedule: see schedule.py
            if is_schedule(getattr(self, name)):
                parse_schedule(getattr(self, name), name=f"--{name.replace('_', '-')}")
        _check(is_schedule(self.blend) or 0 <= self.blend <= 1, "--blend must be in [0, 1]")
        _check(is_schedule(self.refine_steps) or self.refine_steps >= 0, "--refine-steps must not be negative")
        _check(self.frame_batch is None or self.frame_batch >= 1, "--frame-batch must be at least 1")
        _check(self.live_timeout >= 0, "--live-timeout must not be negative")
        _check(self.codec in CODECS, f"--codec must be one of {', '.join(CODECS)}")
        _check(self.crf is None or 0 <= self.crf <= 51, "--crf must be in 0..51")
        _check(self.width is None or self.width >= 16, "--width must be at least 16")
        _check(self.width is None or self.size is None, "give --width or --size, not both")
        if self.frames is not None:
            parse_frame_range(self.frames)
        if self.size is not None:
            parse_size(self.size)

    @property
    def frame_range(self) -> FrameRange | None:
        return parse_frame_range(self.frames) if self.frames is not None else None

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return parse_size(self.size) if self.size is not None else None


@dataclass
class AnimateSettings:
    """The motion of an animation from a still (``dreamvideo animate``): each frame is the previous
    dream moved by these, then dreamed ``refine_steps`` more. Each is per frame and may be a schedule.

    Flat pictures: ``zoom`` (scale a frame, >1 moves in), ``angle`` (degrees a frame,
    counter-clockwise), ``translation_x``/``translation_y`` (pixels a frame, right and down).
    A 360° picture turns the camera through the sphere instead: ``yaw`` (degrees a frame,
    to the right), ``pitch`` (up) and ``roll`` (clockwise); its pixels are never zoomed.
    ``carry``: the share of the last frame's moved detail a frame starts from (the rest is dreamed
    afresh: carrying all of it lets zoomed detail grow coarse, see DESIGN).
    ``length``: frames (None: as long as ``--music``); ``rate``: frames per second (``30000/1001`` too).
    """

    zoom: float | str = 1.0
    angle: float | str = 0.0
    translation_x: float | str = 0.0
    translation_y: float | str = 0.0
    yaw: float | str = 0.0
    pitch: float | str = 0.0
    roll: float | str = 0.0
    carry: float | str = 0.85
    length: int | None = None
    rate: str = "30"

    def validate(self) -> None:
        """Raise ConfigError for a bad schedule, length or rate."""
        for name in ("zoom", "angle", "translation_x", "translation_y", "yaw", "pitch", "roll", "carry"):
            if is_schedule(getattr(self, name)):
                parse_schedule(getattr(self, name), name=f"--{name.replace('_', '-')}")
        _check(is_schedule(self.zoom) or 0.5 <= self.zoom <= 2.0, "--zoom must be in [0.5, 2] (a frame's scale)")
        _check(is_schedule(self.carry) or 0 <= self.carry <= 1, "--carry must be in [0, 1]")
        _check(self.length is None or self.length >= 1, "--length must be at least 1")
        _check(bool(re.fullmatch(r"\s*\d+(\.\d+)?(\s*/\s*\d+)?\s*", self.rate)), "--rate must be FPS, e.g. 30 or 30000/1001")

    @property
    def motion(self) -> bool:
        """Whether any motion is asked for (a preset with motion is an animation, which ``render`` refuses)."""
        rest = {"zoom": 1.0}
        return any(
            getattr(self, name) != rest.get(name, 0.0)
            for name in ("zoom", "angle", "translation_x", "translation_y", "yaw", "pitch", "roll")
        )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


# ---------------------------------------------------------------------------
# Presets

def _preset_dir() -> Path:
    """The presets: the top-level ``pipelines/`` folder, installed as ``dreamvideo.pipelines``
    (read in place from a checkout that is on ``sys.path`` but not installed, as on the GPU machine)."""
    try:
        return Path(str(importlib.resources.files("dreamvideo.pipelines")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "pipelines"


def list_presets() -> dict[str, str]:
    """Preset names in ``pipelines/`` → their one-line description."""
    return {path.stem: preset_description(str(path)) for path in sorted(_preset_dir().glob("*.toml"))}


def preset_description(name_or_file: str) -> str:
    """A preset's one-line description (empty if it has none)."""
    return str(_read_toml(_preset_path(name_or_file)).get("description", ""))


def _preset_path(name_or_file: str) -> Path:
    """``pipelines/NAME.toml`` for a bare name, else the file given.

    Raises:
        ConfigError: no such preset.
    """
    path = Path(name_or_file)
    if not path.suffix:
        path = _preset_dir() / f"{name_or_file}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(_preset_dir().glob("*.toml"))) or "none"
        raise ConfigError(f"no preset {name_or_file!r}", hint=f"presets: {known}; or give a .toml file")
    return path


def load_preset(name_or_file: str) -> dict[str, dict[str, object]]:
    """Read a preset by name (``pipelines/NAME.toml``) or path.

    A preset holds ``[dream]``, ``[video]`` and ``[animate]`` tables whose keys are the field
    names of DreamSettings, VideoSettings and AnimateSettings, and an optional ``description``.

    Raises:
        ConfigError: unknown preset, unreadable TOML, unknown table or key.
    """
    path = _preset_path(name_or_file)
    data = _read_toml(path)
    tables = {"dream": DreamSettings, "video": VideoSettings, "animate": AnimateSettings}
    for key, value in data.items():
        if key == "description":
            continue
        if key not in tables:
            raise ConfigError(f"preset {path.name}: unknown table {key!r}", hint="use [dream], [video] and [animate]")
        if not isinstance(value, dict):
            raise ConfigError(f"preset {path.name}: {key!r} must be a table ([{key}])")
        fields = {f.name for f in dataclasses.fields(tables[key])}
        for option in value:
            if option not in fields:
                raise ConfigError(f"preset {path.name}: unknown option {key}.{option}")
    return {key: dict(data.get(key, {})) for key in tables}


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read preset {path}: {exc}") from None


def build_settings(
    cls: type, *, preset: dict[str, object] | None = None, overrides: dict[str, object] | None = None
):
    """Make a settings object: the dataclass defaults, then the preset, then flags.

    ``overrides`` holds only the options the user gave (None values are ignored).
    """
    values: dict[str, object] = {}
    values.update(preset or {})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name not in hints:
            raise ConfigError(f"unknown option {name!r}")
        _check_type(name, value, hints[name])
    settings = cls(**values)
    settings.validate()
    return settings


def _check_type(name: str, value: object, hint: object) -> None:
    """Raise ConfigError unless ``value`` fits the field annotation (int is a float; bool is no int)."""
    allowed = typing.get_args(hint) or (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if kind in (str, bool) and type(value) is kind:
            return
    wanted = " or ".join("none" if k is type(None) else k.__name__ for k in allowed)
    raise ConfigError(f"option {name.replace('_', '-')}: expected {wanted}, got {value!r}")
