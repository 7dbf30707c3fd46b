"""Animation from a still: each frame the previous dream moved a little and dreamed a few steps more.

Google's zoom loop, pytorch-deepdream's ouroboros and DeepDreamAnim feed the whole dream
back into itself, so each frame resamples the last and the picture decays, after some
hundreds of frames, into a uniform texture. Here, as in a video run, the frame is the
still's pixels plus dream detail: the still is moved by the motion accumulated so far and
sampled once (never a copy of a copy), and only the detail is carried from frame to frame
(Lanczos), moved by this frame's step, then refined by ``refine_steps``. The still's layout
stays (``structure``), and the refining keeps the detail crisp (``sharpness``).

Motion (``AnimateSettings``, each per frame and schedulable): zoom, angle and translation
for a flat still; yaw, pitch and roll for a 360° still, whose camera turns through the
sphere (the equirect pixels are never zoomed) and whose output carries the 360° metadata.
Frame ``i`` is at ``i / rate`` seconds; the music (``--music``) is muxed in and may drive
any schedule. Each frame depends on the one before it, so an animation runs in one
process: ``render`` (frame ranges for farms) refuses it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .config import AnimateSettings, DreamSettings, VideoSettings
from .dream import image_to_tensor, tensor_to_image
from .errors import ConfigError
from .io import IMAGE_FORMATS, check_input_file, check_output_path, check_video_output, open_video, read_image
from .io.atomic import write_atomically
from .io.encode import open_writer
from .io.spherical import read_spherical, spherical_for
from .layout import check_aspect, resolve_layout
from .metrics import sharpness as detail_sharpness
from .music import load_music
from .panorama.projection import dreamer_for
from .timeline import Timeline

__all__ = ["AnimationResult", "animate_still", "flat_step", "sphere_step", "structure", "sharpness"]

FLAT_MOTION = ("zoom", "angle", "translation_x", "translation_y")
SPHERE_MOTION = ("yaw", "pitch", "roll")


@dataclass
class AnimationResult:
    """What ``animate_still`` made: the output, its frame count, and per frame the scheduled values,
    ``structure`` (layout kept, see :func:`structure`) and ``sharpness`` (see :func:`sharpness`)."""

    output: str
    frames: int
    rate: Fraction
    projection: str
    structure: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    schedules: dict = field(default_factory=dict)
    wall_time: float = 0.0

    def to_dict(self) -> dict:
        return {
            "output": self.output,
            "frames": self.frames,
            "rate": str(self.rate),
            "projection": self.projection,
            "wall_time_s": round(self.wall_time, 3),
            "structure": [round(v, 4) for v in self.structure],
            "sharpness": [round(v, 4) for v in self.sharpness],
            **({"schedules": self.schedules} if self.schedules else {}),
        }


def animate_still(
    source: str,
    output: str,
    dream: DreamSettings,
    video: VideoSettings,
    animate: AnimateSettings,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> AnimationResult:
    """Animate ``source`` (a still, or a video's last frame) into the video ``output``.

    ``video`` gives ``refine_steps`` (a moved frame's steps per octave; ``dream.steps`` dream the
    first), ``music``, ``codec``, ``crf`` and ``json_report``; ``animate`` the motion, ``carry``
    (the share of the moved detail carried), ``length`` (None: as long as the music) and ``rate``.

    Raises:
        ConfigError: no length and no music; motion that does not fit the picture (zoom on a
            360° still, yaw on a flat one); a stereo still.
        MediaError: unreadable input or music, unwritable output.
    """
    started = time.perf_counter()
    check_input_file(source)
    check_output_path(source, output)
    check_video_output(output, video.codec, video.crf)
    if video.music is not None:
        check_input_file(video.music)
    if video.json_report:
        check_output_path(source, video.json_report)
    rate = Fraction(animate.rate.replace(" ", ""))
    rgb, spherical = _read_still(source)
    layout = resolve_layout(dream, spherical, name=Path(source).name)
    if layout.stereo != "none":
        raise ConfigError("animate takes a mono still", hint="give one eye of a stereo panorama")
    check_aspect((rgb.shape[1], rgb.shape[0]), layout, strict=dream.strict, name=Path(source).name)
    _check_motion(animate, layout.projection)
    timeline = Timeline(dream, video, rate=float(rate), animate=animate)
    music = load_music(video.music) if video.music is not None else None
    if timeline.features:
        if music is None:
            raise ConfigError("a schedule reads music features: a still has no soundtrack", hint="give --music FILE")
        timeline.music = music
    length = animate.length or (math.floor(music.duration * rate) if music is not None else None)
    if not length:
        raise ConfigError("how long? give --length N (frames) or --music FILE (as long as the music)")

    dreamer = dreamer_for(dream, layout)
    height, width = rgb.shape[:2]
    result = AnimationResult(output, 0, rate, layout.projection)
    sphere = layout.projection == "equirect"
    moved_still = _SphereMover(height, width) if sphere else _FlatMover(height, width)
    with open_writer(
        output,
        width=width,
        height=height,
        rate=rate,
        time_base=1 / rate,
        codec=video.codec,
        crf=video.crf,
        audio_from=video.music,
        audio_span=(0.0, length / rate) if video.music else None,
        spherical=spherical_for(*layout),
    ) as writer:
        detail = None
        for i in range(length):
            values = timeline.at(i, float(i / rate))
            motion = timeline.motion_at(values)
            now = timeline.video_at(values)
            step = moved_still.step(motion) if i else np.eye(3)  # frame 0 is the still as it is
            base = moved_still.move(rgb, step, accumulate=True)
            source_t = image_to_tensor(base, dreamer.device)
            frame_dreamer = timeline.dreamer(dreamer, values)
            if detail is None:
                dreamed = frame_dreamer.dream(source_t, frame_index=i)
            else:
                carried = moved_still.move(detail, step) * motion.carry
                start = (source_t + image_to_tensor(carried, dreamer.device)).clamp(0, 1)
                dreamed = frame_dreamer.dream(start, steps=now.refine_steps, frame_index=i) if now.refine_steps else start
            detail = (dreamed - source_t)[0].permute(1, 2, 0).cpu().numpy()
            image = tensor_to_image(dreamed)
            writer.write(image, pts=i)
            result.structure.append(structure(image, base))
            result.sharpness.append(sharpness(image, base))
            result.frames += 1
            if progress is not None:
                progress(i + 1, length)
    result.schedules = timeline.report()
    result.wall_time = time.perf_counter() - started
    if video.json_report:
        import json

        write_atomically(video.json_report, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _read_still(source: str) -> tuple[np.ndarray, object]:
    """The still (a file's pixels, or a video's last frame) as ``float32 (H, W, 3)`` in [0, 1], cut to
    even sides (the video codecs' 4:2:0), and its spherical metadata."""
    if Path(source).suffix.lower() in IMAGE_FORMATS:
        rgb, spherical = read_image(source).rgb, read_spherical(source)
    else:
        with open_video(source) as reader:
            spherical = reader.info.spherical
            last = None
            for frame in reader:
                last = frame
        if last is None:
            raise ConfigError(f"{source} has no frames to animate")
        rgb = last.image.astype(np.float32) / 255.0
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    return np.ascontiguousarray(rgb[:height, :width]), spherical


def _check_motion(animate: AnimateSettings, projection: str) -> None:
    rest = {"zoom": 1.0}
    wrong = SPHERE_MOTION if projection != "equirect" else FLAT_MOTION
    for name in wrong:
        if getattr(animate, name) != rest.get(name, 0.0):
            if projection == "equirect":
                raise ConfigError(
                    f"--{name.replace('_', '-')} on a 360° still would distort the sphere",
                    hint="turn the camera with --yaw, --pitch and --roll",
                )
            raise ConfigError(
                f"--{name} turns a 360° camera; this still is flat",
                hint="use --zoom, --angle, --translation-x/-y, or --projection equirect for a panorama",
            )


class _FlatMover:
    """Affine motion of a flat picture about its centre; ``move`` with ``accumulate`` samples the
    still once under the motion so far."""

    def __init__(self, height: int, width: int) -> None:
        self.size = (width, height)
        self.total = np.eye(3)

    def step(self, motion: AnimateSettings) -> np.ndarray:
        return flat_step(self.size, motion.zoom, motion.angle, motion.translation_x, motion.translation_y)

    def move(self, image: np.ndarray, step: np.ndarray, *, accumulate: bool = False) -> np.ndarray:
        if accumulate:
            self.total = step @ self.total
        matrix = self.total if accumulate else step
        moved = cv2.warpAffine(image, matrix[:2], self.size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        return np.clip(moved, 0, 1) if accumulate else moved


class _SphereMover:
    """The camera of an equirect picture turning through the sphere (see :func:`sphere_step`)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.total = np.eye(3)
        self._dirs = _equirect_directions(height, width)

    def step(self, motion: AnimateSettings) -> np.ndarray:
        return sphere_step(motion.yaw, motion.pitch, motion.roll)

    def move(self, image: np.ndarray, step: np.ndarray, *, accumulate: bool = False) -> np.ndarray:
        if accumulate:
            self.total = self.total @ step
        rotation = self.total if accumulate else step
        dirs = self._dirs @ rotation.T  # each output pixel's direction in the picture sampled
        u, v = _directions_to_pixels(dirs, self.height, self.width)
        # Columns wrap across the seam; rows are clamped so that no sample wraps over a pole.
        moved = cv2.remap(
            image, u.astype(np.float32), np.clip(v, 0, self.height - 1).astype(np.float32),
            interpolation=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_WRAP,
        )  # fmt: skip
        return np.clip(moved, 0, 1) if accumulate else moved


def flat_step(size: tuple[int, int], zoom: float, angle: float, dx: float, dy: float) -> np.ndarray:
    """One frame's motion of a ``size`` ``(W, H)`` picture, a forward ``3x3`` matrix on pixel
    coordinates: scaled by ``zoom`` and turned ``angle`` degrees counter-clockwise about the
    centre, then shifted ``dx`` right and ``dy`` down."""
    w, h = size
    matrix = np.vstack([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom), [0, 0, 1]])
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    return matrix


def sphere_step(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """One frame's turn of a 360° camera, ``3x3``, camera to previous camera: ``yaw`` degrees to the
    right, ``pitch`` up, ``roll`` clockwise (x right, y up, z forward; longitude 0 is forward)."""
    a, b, c = (math.radians(v) for v in (yaw, -pitch, -roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _equirect_directions(height: int, width: int) -> np.ndarray:
    """Unit directions of the pixel centres, ``(H, W, 3)`` (as ``panorama.geometry``)."""
    lon = (np.arange(width) + 0.5) / width * 2 * math.pi - math.pi
    lat = math.pi / 2 - (np.arange(height) + 0.5) / height * math.pi
    lat, lon = lat[:, None], lon[None, :]
    return np.stack(np.broadcast_arrays(np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)), axis=-1)


def _directions_to_pixels(dirs: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    lon, lat = np.arctan2(x, z), np.arctan2(y, np.hypot(x, z))
    return (lon + math.pi) / (2 * math.pi) * width - 0.5, (math.pi / 2 - lat) / math.pi * height - 0.5


def structure(frame: np.ndarray, base: np.ndarray) -> float:
    """How much of the still's layout a frame keeps: the correlation of the two greys blurred to their
    layout (Gaussian, sigma 1/40 of the width). ``frame`` uint8 or float ``(H, W, 3)``, ``base``
    float in [0, 1] (the still moved as far as the frame). 1: the layout as it is; about 0: a
    texture that has forgotten it."""
    grey = [_luma(np.asarray(img, np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)) for img in (frame, base)]
    sigma = max(1.0, frame.shape[1] / 40)
    a, b = (cv2.GaussianBlur(g, (0, 0), sigma).ravel() for g in grey)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def sharpness(frame: np.ndarray, base: np.ndarray) -> float:
    """The project's sharpness (:func:`~dreamvideo.metrics.sharpness`) of a frame's dream detail
    over ``base`` (the still moved as far, float in [0, 1]); ``frame`` uint8 or float in [0, 1].
    0 for no detail."""
    frame_255 = np.asarray(frame, np.float32) * (1.0 if frame.dtype == np.uint8 else 255.0)
    value = detail_sharpness(np.asarray(base, np.float32) * 255.0, frame_255)
    return 0.0 if math.isnan(value) else value


def _luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)
