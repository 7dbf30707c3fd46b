"""The robustness matrix (issue 9): every case as a function that runs real commands and checks them.

A case runs ``dreamvideo`` commands through :class:`Workspace` (in this process through
``dreamvideo.cli.main`` for speed, or as a real ``python -m dreamvideo`` subprocess where
the exact stderr matters or a signal is sent), checks what came out, and returns a short
outcome; a failed check raises AssertionError. ``tests/robustness/test_matrix.py`` runs
each as a test; ``tests/robustness_table.py`` runs them all and prints the table.

Conventions checked for every failure: exactly one ``error:`` line (a ``hint:`` may
follow), exit code 2 for the user's mistakes (1 for internal faults), no traceback.
Handled inputs are checked with FFmpeg's own tools: upright, every decodable frame,
the source's timestamps.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .media import SIDE_EFFECT, Media, tenk_level, ffprobe_frames, ffprobe_packet_times, ffprobe_stream

__all__ = ["CASES", "Case", "Result", "Skip", "Workspace"]

ROOT = Path(__file__).resolve().parents[2]
# Tiny and quick: one octave at 64 px, one step.
DREAM = ["--base-width", "64", "--octaves", "1", "--steps", "1"]
VIDEO = [*DREAM, "--refine-steps", "1", "--quiet"]
SAME = ["--strength", "0", "--flow", "none", "--quiet"]  # the picture passes unchanged: checks the plumbing


class Skip(Exception):
    """The case cannot run here (e.g. no tmpfs mount); the message says why."""


@dataclass
class Result:
    """One command's exit code, stdout, stderr and wall time."""

    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def fails(self, code: int, pattern: str, *, clean: bool = True) -> str:
        """Check a refusal: exit ``code``, one ``error:`` line matching ``pattern``, no traceback.

        ``clean``: stderr is nothing but that line (and a ``hint:``), so no warning comes first.
        Returns the error line.
        """
        assert "Traceback" not in self.err, f"traceback in stderr:\n{self.err}"
        errors = [line for line in self.lines if line.startswith("error:")]
        assert len(errors) == 1, f"expected one error line, got stderr:\n{self.err}"
        assert self.code == code, f"exit {self.code}, expected {code}; stderr:\n{self.err}"
        assert re.search(pattern, errors[0]), f"{errors[0]!r} does not match {pattern!r}"
        if clean:
            assert self.lines[0] == errors[0], f"stderr does not begin with the error line:\n{self.err}"
            assert all(line.startswith("hint:") for line in self.lines[1:]), f"more than error and hint:\n{self.err}"
        return errors[0]

    def succeeds(self) -> None:
        assert self.code == 0, f"exit {self.code}; stderr:\n{self.err}"
        assert "Traceback" not in self.err and "error:" not in self.err, self.err

    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("warning:")]


@dataclass
class Workspace:
    """Inputs (``media``), fresh output folders (``tmp``) and the command runner (``cli``).

    Every command run is logged in ``commands`` (the table shows them).
    """

    folder: Path
    force_subprocess: bool = False
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.media = Media(self.folder / "inputs")
        self._count = 0

    def tmp(self) -> Path:
        self._count += 1
        path = self.folder / f"case{self._count:03d}"
        path.mkdir(parents=True)
        return path

    def short(self, text: str) -> str:
        """``text`` with the workspace's folders left out of paths."""
        for prefix in (str(self.media.folder) + "/", str(self.folder) + "/"):
            text = text.replace(prefix, "")
        return re.sub(r"(?<![\w/])case\d+/", "", text)

    def show(self, argv: list[str], *, subprocess_: bool = False) -> str:
        """The command as a person would type it (paths shortened); ``[subprocess]`` marks a real process."""
        return "dreamvideo " + self.short(" ".join(argv)) + ("  [subprocess]" if subprocess_ else "")

    def cli(self, *argv: object, subprocess_: bool = False, timeout: float = 120) -> Result:
        """Run ``dreamvideo ARGV``; in this process unless ``subprocess_`` (or the workspace forces it)."""
        args = [str(a) for a in argv]
        subprocess_ = subprocess_ or self.force_subprocess
        self.commands.append(self.show(args, subprocess_=subprocess_))
        started = time.perf_counter()
        if subprocess_:
            done = subprocess.run(
                [sys.executable, "-m", "dreamvideo", *args], env=child_env(), capture_output=True, text=True,
                timeout=timeout, stdin=subprocess.DEVNULL,
            )
            return Result(args, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)
        from dreamvideo.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        return Result(args, code, out.getvalue(), err.getvalue(), time.perf_counter() - started)

    def popen(self, *argv: object) -> subprocess.Popen:
        """Start ``python -m dreamvideo ARGV`` in its own process group (a terminal's Ctrl-C reaches all of it)."""
        args = [str(a) for a in argv]
        self.commands.append(self.show(args, subprocess_=True))
        return subprocess.Popen(
            [sys.executable, "-m", "dreamvideo", *args], env=child_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True, stdin=subprocess.DEVNULL,
        )


def child_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@dataclass(frozen=True)
class Case:
    """One row of the matrix: where it belongs, what it is, what should happen, and how to check it."""

    area: str
    name: str
    expected: str
    run: Callable[[Workspace], str]

    @property
    def id(self) -> str:
        return f"{self.area}-{self.name}".replace(" ", "_")


CASES: list[Case] = []


def case(area: str, name: str, expected: str) -> Callable[[Callable[[Workspace], str]], Callable[[Workspace], str]]:
    def register(fn: Callable[[Workspace], str]) -> Callable[[Workspace], str]:
        CASES.append(Case(area, name, expected, fn))
        return fn

    return register


def _frames_of(path: Path) -> int:
    return int(ffprobe_stream(path).get("nb_read_frames", 0))


def _decode(path: Path) -> list[np.ndarray]:
    """Every frame as FFmpeg decodes it (autorotated, chroma interpolated), uint8 RGB."""
    stream = ffprobe_stream(path)
    w, h = int(stream["width"]), int(stream["height"])
    rotation = _rotation(stream)
    if rotation % 180:
        w, h = h, w
    raw = subprocess.run(
        # The reader's chroma interpolation (decode._CHROMA), so a frame that passed through unchanged compares so.
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", "scale=flags=bilinear+full_chroma_int+accurate_rnd",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"])
    return int(stream.get("tags", {}).get("rotate", 0))


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Luma-like grey ``float32 (H, W)``: 4:2:0 encoding blurs colour, so geometry is checked on grey."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def _no_partials(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if ".partial" in p.name]
    assert not left, f"temporary files left behind: {left}"


# ---------------------------------------------------------------------------------------------------------
# Inputs


@case("inputs", "missing path", "exit 2: no such file (image, dream, render)")
def _missing(ws: Workspace) -> str:
    out = ws.tmp()
    r = ws.cli("dream", out / "nope.mp4", out / "o.mp4", *VIDEO, subprocess_=True)
    line = r.fails(2, "no such file")
    ws.cli("image", out / "nope.png", out / "o.png", *DREAM).fails(2, "no such file")
    ws.cli("render", out / "nope.mp4", "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "no such file")
    return line


@case("inputs", "a directory", "exit 2: is a folder, not a file")
def _directory(ws: Workspace) -> str:
    out, folder = ws.tmp(), ws.media.path("folder")
    line = ws.cli("dream", folder, out / "o.mp4", *VIDEO).fails(2, "is a folder")
    ws.cli("image", folder, out / "o.png", *DREAM).fails(2, "is a folder")
    ws.cli("render", folder, "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "is a folder")
    return line


@case("inputs", "zero-byte file", "exit 2: it is empty, with a hint")
def _zero(ws: Workspace) -> str:
    out, zero = ws.tmp(), ws.media.path("zero")
    line = ws.cli("dream", zero, out / "o.mp4", *VIDEO).fails(2, "is empty")
    ws.cli("image", zero, out / "o.png", *DREAM).fails(2, "is empty")
    ws.cli("render", zero, "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "is empty")
    assert not (out / "o.mp4").exists() and not (out / "o.png").exists()
    return line


@case("inputs", "text file named .mp4", "exit 2: cannot open it (not a video)")
def _text(ws: Workspace) -> str:
    out, text = ws.tmp(), ws.media.path("text")
    line = ws.cli("dream", text, out / "o.mp4", *VIDEO).fails(2, "cannot open .*Invalid data")
    ws.cli("image", text, out / "o.png", *DREAM).fails(2, "cannot read")
    ws.cli("render", text, "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "cannot open")
    return line


@case("inputs", "MP4 cut at 40% (index at the end)", "exit 2: cannot open (the index is lost, nothing decodes)")
def _cut(ws: Workspace) -> str:
    out, cut = ws.tmp(), ws.media.path("cut")
    assert ffprobe_frames(cut) == []  # FFmpeg cannot decode it either
    line = ws.cli("dream", cut, out / "o.mp4", *VIDEO).fails(2, "cannot open")
    ws.cli("render", cut, "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "cannot open")
    return line


@case("inputs", "MP4 cut at 40% (index first)", "exit 0, one warning; every decodable frame at its time")
def _cut_faststart(ws: Workspace) -> str:
    out, cut = ws.tmp(), ws.media.path("cut_faststart")
    r = ws.cli("dream", cut, out / "o.mp4", *VIDEO)
    r.succeeds()
    assert len(r.warnings()) == 1 and "truncated" in r.warnings()[0], r.err
    source, dreamed = ffprobe_frames(cut), ffprobe_frames(out / "o.mp4")
    assert 0 < len(source) < 30 and dreamed == source, (source, dreamed)
    return f"{len(dreamed)} of 30 frames (all that FFmpeg decodes), same times; {r.warnings()[0][:60]}…"


@case("inputs", "MP4 with a damaged packet", "exit 0, one warning; every decodable frame, in time order, at its time")
def _damaged(ws: Workspace) -> str:
    out, damaged = ws.tmp(), ws.media.path("damaged")
    r = ws.cli("dream", damaged, out / "o.mp4", *VIDEO)
    r.succeeds()
    assert len(r.warnings()) == 1 and "damaged" in r.warnings()[0], r.err
    # FFmpeg's own decode of it gives as many pictures (with a guessed, repeated timestamp where ours
    # has the packet's); each of ours must sit at the time the container gives its packet.
    decodable, packets = ffprobe_frames(damaged), ffprobe_packet_times(damaged)
    dreamed = ffprobe_frames(out / "o.mp4")
    assert all(a < b for a, b in zip(dreamed, dreamed[1:])), f"timestamps not increasing: {dreamed}"
    assert len(dreamed) == len(decodable) < 30, f"FFmpeg decodes {len(decodable)} frames, the dream has {len(dreamed)}"
    assert all(any(abs(t - p) < 1e-3 for p in packets) for t in dreamed), (dreamed, packets)
    return f"{len(dreamed)} of 30 frames (as many as FFmpeg decodes), increasing, at their packets' times"


@case("inputs", "audio-only file", "exit 2: has no video stream")
def _audio(ws: Workspace) -> str:
    out, audio = ws.tmp(), ws.media.path("audio")
    line = ws.cli("dream", audio, out / "o.mp4", *VIDEO).fails(2, "no video stream")
    ws.cli("render", audio, "--out", out / "frames", "--frames", "0-1", *VIDEO).fails(2, "no video stream")
    return line


@case("inputs", "one-frame video", "exit 0: a one-frame video, a PNG with --frames 0, one rendered frame")
def _one_frame(ws: Workspace) -> str:
    out, one = ws.tmp(), ws.media.path("one_frame")
    ws.cli("dream", one, out / "o.mp4", *VIDEO).succeeds()
    assert _frames_of(out / "o.mp4") == 1
    ws.cli("dream", one, out / "o.png", "--frames", "0", *VIDEO).succeeds()
    assert (out / "o.png").stat().st_size > 0
    ws.cli("render", one, "--out", out / "frames", "--frames", "0-0", *VIDEO).succeeds()
    assert sorted(p.name for p in (out / "frames").glob("frame_*.png")) == ["frame_000000.png"]
    return "1 frame each"


@case("inputs", "still image given to dream", "exit 2: a still image, hint: use `dreamvideo image`")
def _still_to_dream(ws: Workspace) -> str:
    out, still = ws.tmp(), ws.media.path("still")
    r = ws.cli("dream", still, out / "o.mp4", *VIDEO)
    line = r.fails(2, "still image")
    assert "dreamvideo image" in r.err
    ws.cli("render", still, "--out", out / "frames", "--frames", "0-0", *VIDEO).fails(2, "still image")
    return line


@case("inputs", "10,000-frame clip, --frames near the end", "seeks: a few hundred frames decoded, not 10,000; the right frames")
def _long_seek(ws: Workspace) -> str:
    from dreamvideo.config import FrameRange
    from dreamvideo.io import open_video

    tenk = ws.media.path("tenk")  # 16x16, each frame one grey level: tenk_level(index)
    wanted = range(9990, 9995)
    with open_video(str(tenk), frames=FrameRange(9990, 9994)) as reader:
        frames = list(reader)
        decoded = reader.frames_decoded
    assert [f.index for f in frames] == list(wanted)
    assert all(abs(f.image.mean() - tenk_level(i)) < 2 for f, i in zip(frames, wanted)), [f.image.mean() for f in frames]
    assert decoded < 300, f"decoded {decoded} frames to reach 9990"
    out = ws.tmp()
    r = ws.cli("dream", tenk, out / "o.mp4", "--frames", "9990-9994", *SAME)
    r.succeeds()
    levels = [f.mean() for f in _decode(out / "o.mp4")]
    assert len(levels) == 5 and all(abs(a - tenk_level(i)) < 3 for a, i in zip(levels, wanted)), levels
    r2 = ws.cli("render", tenk, "--out", out / "frames", "--frames", "9995-9999", "--preroll", "0", *SAME)
    r2.succeeds()
    import cv2

    names = sorted(p.name for p in (out / "frames").glob("frame_*.png"))
    assert names == [f"frame_{i:06d}.png" for i in range(9995, 10000)], names
    pngs = [cv2.imread(str(out / "frames" / name)).mean() for name in names]
    assert all(abs(a - tenk_level(i)) < 3 for a, i in zip(pngs, range(9995, 10000))), pngs
    return f"decoded {decoded} frames for 9990-9994; dream {r.seconds:.1f} s, render {r2.seconds:.1f} s"


@case("inputs", "odd dimensions 321x179", "exit 0: 320x178 (last column and row cropped, not resampled), every frame")
def _odd(ws: Workspace) -> str:
    out, odd = ws.tmp(), ws.media.path("odd")
    ws.cli("dream", odd, out / "o.mp4", *SAME).succeeds()
    stream = ffprobe_stream(out / "o.mp4")
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (320, 178, 5), stream
    import cv2

    source, dreamed = _grey(_decode(odd)[0]), _grey(_decode(out / "o.mp4")[0])
    crop = _mae(source[:178, :320], dreamed)
    resampled = _mae(cv2.resize(source, (320, 178), interpolation=cv2.INTER_AREA), dreamed)
    assert crop < 3 and crop < resampled / 2, f"luma error {crop:.2f} against the crop, {resampled:.2f} resampled"
    ws.cli("render", odd, "--out", out / "frames", "--frames", "0-1", *SAME).succeeds()
    assert cv2.imread(str(out / "frames" / "frame_000000.png")).shape == (178, 320, 3)
    return f"320x178, 5 frames; luma error {crop:.2f} against the cropped source ({resampled:.2f} resampled)"


@case("inputs", "90° display rotation", "exit 0: upright (48x64 from a coded 64x48), no rotation left in the output")
def _rotated(ws: Workspace) -> str:
    out, rotated = ws.tmp(), ws.media.path("rotated")
    assert _rotation(ffprobe_stream(rotated)) in (90, -90, 270)
    ws.cli("dream", rotated, out / "o.mp4", *SAME).succeeds()
    stream = ffprobe_stream(out / "o.mp4")
    assert (stream["width"], stream["height"], _rotation(stream)) == (48, 64, 0), stream
    upright, dreamed = _decode(rotated), _decode(out / "o.mp4")
    assert len(upright) == len(dreamed) == 10
    error = max(_mae(_grey(a), _grey(b)) for a, b in zip(upright, dreamed))
    turned = min(_mae(_grey(a)[::-1, ::-1], _grey(b)) for a, b in zip(upright, dreamed))
    assert error < 3 and error < turned / 3, f"luma error {error:.2f} upright, {turned:.2f} turned over"
    ws.cli("render", rotated, "--out", out / "frames", "--frames", "0-0", *SAME).succeeds()
    import cv2

    assert cv2.imread(str(out / "frames" / "frame_000000.png")).shape == (64, 48, 3)
    return f"48x64 upright: luma error {error:.2f} against FFmpeg's autorotated frames ({turned:.1f} turned over)"


@case("inputs", "variable frame rate", "exit 0: every frame at the source's own timestamps")
def _vfr(ws: Workspace) -> str:
    out, vfr = ws.tmp(), ws.media.path("vfr")
    source = ffprobe_frames(vfr)
    assert len(set(np.round(np.diff(source), 3))) > 1, f"the input is not VFR: {source}"
    ws.cli("dream", vfr, out / "o.mp4", *VIDEO).succeeds()
    dreamed = ffprobe_frames(out / "o.mp4")
    assert np.allclose(dreamed, source, atol=1e-3), (source, dreamed)
    return "times " + ", ".join(f"{t:g}" for t in dreamed[:6]) + ", …"


@case("inputs", "16-bit, grey and alpha PNGs", "exit 0: 16-bit stays 16-bit, grey stays grey, alpha passes through")
def _pngs(ws: Workspace) -> str:
    import cv2

    out = ws.tmp()
    results = []
    for name, dtype, channels in (("png16", np.uint16, 3), ("grey", np.uint8, 1), ("alpha", np.uint8, 4)):
        src = ws.media.path(name)
        ws.cli("image", src, out / f"{name}_dream.png", *DREAM).succeeds()
        before = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
        after = cv2.imread(str(out / f"{name}_dream.png"), cv2.IMREAD_UNCHANGED)
        assert after.dtype == dtype and (after.shape[2] if after.ndim == 3 else 1) == channels, (name, after.shape)
        assert after.shape == before.shape
        if name == "alpha":
            assert np.array_equal(after[..., 3], before[..., 3]), "alpha changed"
        results.append(f"{name}: {after.dtype} x{channels}")
    return "; ".join(results)


@case("inputs", "frame too large for one pass", "tiles: the network never sees more than --tile px, in the dream or in Dreamer.value")
def _tiles(ws: Workspace) -> str:
    import torch

    from dreamvideo.config import DreamSettings
    from dreamvideo.dream import make_dreamer

    dreamer = make_dreamer(DreamSettings(tile=64, base_width=64, octaves=1, steps=1))
    seen: list[tuple[int, int]] = []
    network = dreamer.model.network
    hook = network.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        image = torch.rand(1, 3, 150, 200)
        before = dreamer.value(image)
        value_sizes = list(seen)
        dreamed = dreamer.dream(image)
        after = dreamer.value(dreamed)
    finally:
        hook.remove()
    assert value_sizes and max(max(s) for s in value_sizes) <= 64, f"value saw {max(value_sizes)}"
    assert max(max(s) for s in seen) <= 64, f"the network saw {max(seen)}"
    assert dreamed.shape == image.shape and after > before
    out = ws.tmp()
    import cv2

    cv2.imwrite(str(out / "big.png"), (np.random.default_rng(0).random((150, 200, 3)) * 255).astype(np.uint8))
    ws.cli("image", out / "big.png", out / "o.png", "--tile", "64", *DREAM).succeeds()
    return f"largest input {max(max(s) for s in seen)} px for a 200x150 frame (value: {len(value_sizes)} tiles)"


# ---------------------------------------------------------------------------------------------------------
# Options


@case("options", "reversed --frames", "exit 2: the range is reversed")
def _reversed(ws: Workspace) -> str:
    out, clip = ws.tmp(), ws.media.path("clip")
    line = ws.cli("dream", clip, out / "o.mp4", "--frames", "5-2", *VIDEO).fails(2, "reversed")
    ws.cli("render", clip, "--out", out / "f", "--frames", "5-2", *VIDEO).fails(2, "reversed")
    return line


@case("options", "out-of-range --frames", "exit 2: beyond the end, hint: the valid range")
def _beyond(ws: Workspace) -> str:
    out, clip = ws.tmp(), ws.media.path("clip")
    r = ws.cli("dream", clip, out / "o.mp4", "--frames", "5-200", *VIDEO)
    line = r.fails(2, "beyond the end")
    assert "0-9" in r.err
    ws.cli("render", clip, "--out", out / "f", "--frames", "20-30", *VIDEO).fails(2, "beyond the end")
    ws.cli("dream", clip, out / "o.mp4", "--frames", "-3", *VIDEO).fails(2, "frame")
    assert not (out / "o.mp4").exists()
    return line


@case("options", "unknown model, layer, preset", "exit 2: unknown …, hint: the known names")
def _unknown(ws: Workspace) -> str:
    out, clip, still = ws.tmp(), ws.media.path("clip"), ws.media.path("still")
    lines = [
        ws.cli("dream", clip, out / "o.mp4", "--model", "nope", *VIDEO).fails(2, "unknown model"),
        ws.cli("image", still, out / "o.png", "--layers", "blocks.99", *DREAM).fails(2, "unknown layer"),
        ws.cli("dream", clip, out / "o.mp4", "--preset", "nope", *VIDEO).fails(2, "no preset"),
    ]
    ws.cli("render", clip, "--out", out / "f", "--frames", "0-1", "--model", "nope", *VIDEO).fails(2, "unknown model")
    return " | ".join(lines)


@case("options", "zero or negative steps", "exit 2: --steps must be at least 1 (also --refine-steps, --frame-batch, --octaves)")
def _steps(ws: Workspace) -> str:
    out, clip, still = ws.tmp(), ws.media.path("clip"), ws.media.path("still")
    base = ["--base-width", "64", "--quiet"]
    line = ws.cli("dream", clip, out / "o.mp4", "--steps", "0", *base).fails(2, "--steps must be at least 1")
    ws.cli("image", still, out / "o.png", "--steps", "-3").fails(2, "--steps must be at least 1")
    ws.cli("dream", clip, out / "o.mp4", "--refine-steps", "-1", *base).fails(2, "--refine-steps must not be negative")
    ws.cli("dream", clip, out / "o.mp4", "--frame-batch", "0", *base).fails(2, "--frame-batch must be at least 1")
    ws.cli("dream", clip, out / "o.mp4", "--octaves", "0", *base).fails(2, "--octaves must be at least 1")
    return line


@case("options", "malformed --size", "exit 2: bad size, hint: WxH")
def _size(ws: Workspace) -> str:
    out, clip, still = ws.tmp(), ws.media.path("clip"), ws.media.path("still")
    lines = [ws.cli("dream", clip, out / "o.mp4", "--size", size, *VIDEO).fails(2, "size") for size in ("12x", "axb", "0x10", "64x48x2")]
    ws.cli("image", still, out / "o.png", "--size", "64*48", *DREAM).fails(2, "bad size")
    ws.cli("dream", clip, out / "o.mp4", "--width", "0", *VIDEO).fails(2, "--width")
    return lines[0]


@case("options", "contradictory options", "exit 2 before any work: --width with --size, several frames to an image, prores in .mp4, --crf with prores")
def _contradictory(ws: Workspace) -> str:
    out, clip, still = ws.tmp(), ws.media.path("clip"), ws.media.path("still")
    lines = [
        ws.cli("dream", clip, out / "o.mp4", "--width", "32", "--size", "32x24", *VIDEO).fails(2, "not both"),
        ws.cli("image", still, out / "o.png", "--width", "32", "--size", "32x24", *DREAM).fails(2, "not both"),
        ws.cli("dream", clip, out / "o.png", *VIDEO).fails(2, "takes one frame"),
        ws.cli("dream", clip, out / "o.mp4", "--codec", "prores", *VIDEO).fails(2, "cannot write prores"),
        ws.cli("dream", clip, out / "o.mov", "--codec", "prores", "--crf", "10", *VIDEO).fails(2, "--crf"),
        ws.cli("render", clip, "--out", out / "f", *VIDEO).fails(2, "--frames"),
    ]
    assert not any(out.glob("o.*"))
    return lines[0] + " | " + lines[2]


# ---------------------------------------------------------------------------------------------------------
# Weights


@case("weights", "missing file", "exit 2: does not exist")
def _weights_missing(ws: Workspace) -> str:
    out = ws.tmp()
    return ws.cli("image", ws.media.path("still"), out / "o.png", "--weights", out / "nope.pt", *DREAM).fails(2, "does not exist")


@case("weights", "not a state dict", "exit 2: not a PyTorch file / not a state dict, hint: torch.save(model.state_dict())")
def _weights_junk(ws: Workspace) -> str:
    out, still = ws.tmp(), ws.media.path("still")
    lines = [
        ws.cli("image", still, out / "o.png", "--weights", ws.media.path("weights_text"), *DREAM).fails(2, "not a PyTorch file"),
        ws.cli("image", still, out / "o.png", "--weights", ws.media.path("weights_list"), *DREAM).fails(2, "not a state dict"),
    ]
    return " | ".join(lines)


@case("weights", "another architecture's state dict", "exit 2: do not fit the model (missing/unexpected keys)")
def _weights_other(ws: Workspace) -> str:
    out = ws.tmp()
    return ws.cli(
        "dream", ws.media.path("clip"), out / "o.mp4", "--weights", ws.media.path("weights_resnet18"), *VIDEO
    ).fails(2, "do not fit model")


@case("weights", "pickle that runs code", "exit 2, never loaded: the side effect did not happen; stderr begins with the error line (no torch warning)")
def _weights_evil(ws: Workspace) -> str:
    out, still = ws.tmp(), ws.media.path("still")
    # Control: this pickle really runs code when unpickled the unsafe way.
    control = out / "control"
    control.mkdir()
    pickle.loads(pickle.dumps({"x": _evil(control / SIDE_EFFECT)}))
    assert (control / SIDE_EFFECT).exists(), "the control pickle did not run its code"
    lines = []
    for name in ("weights_evil", "weights_evil2"):
        weights = ws.media.path(name)
        side_effect = weights.parent / SIDE_EFFECT
        r = ws.cli("image", still, out / "o.png", "--weights", weights, *DREAM, subprocess_=True)
        lines.append(r.fails(2, "not a plain state dict"))
        assert not side_effect.exists(), "loading the weights ran the pickle's code"
    assert not (out / "o.png").exists()
    return lines[0]


def _evil(path: Path):
    from .media import _Evil

    return _Evil(os.fspath(path))


# ---------------------------------------------------------------------------------------------------------
# Outputs


@case("outputs", "same path as the input", "exit 2: the output is the input; the input untouched")
def _same(ws: Workspace) -> str:
    out = ws.tmp()
    clip, still = out / "clip.mp4", out / "still.png"
    shutil.copy(ws.media.path("clip"), clip)
    shutil.copy(ws.media.path("still"), still)
    before = clip.read_bytes(), still.read_bytes()
    line = ws.cli("dream", clip, clip, *VIDEO).fails(2, "is the input")
    ws.cli("image", still, still, *DREAM).fails(2, "is the input")
    ws.cli("dream", clip, out / "." / "clip.mp4", *VIDEO).fails(2, "is the input")
    ws.cli("render", clip, "--out", clip, "--frames", "0-1", *VIDEO).fails(2, "is a file, not a folder")
    assert (clip.read_bytes(), still.read_bytes()) == before
    return line


@case("outputs", "folder that does not exist yet", "exit 0: the folders are created (image, dream, render, --json-report)")
def _new_folder(ws: Workspace) -> str:
    out = ws.tmp()
    ws.cli("image", ws.media.path("still"), out / "a" / "b" / "o.png", *DREAM).succeeds()
    ws.cli(
        "dream", ws.media.path("clip"), out / "c" / "d" / "o.mp4", "--json-report", out / "e" / "r.json", *VIDEO
    ).succeeds()
    ws.cli("render", ws.media.path("clip"), "--out", out / "f" / "g", "--frames", "0-1", *VIDEO).succeeds()
    assert (out / "a/b/o.png").is_file() and _frames_of(out / "c/d/o.mp4") == 10
    assert json.loads((out / "e/r.json").read_text())["frames"] == 10
    assert len(list((out / "f/g").glob("frame_*.png"))) == 2
    return "a/b/o.png, c/d/o.mp4, e/r.json, f/g/frame_*.png written"


@case("outputs", "place that cannot be written", "exit 2 at once, before the model loads: one error line, no warning first")
def _unwritable(ws: Workspace) -> str:
    out = ws.tmp()
    r = ws.cli("dream", ws.media.path("clip"), "/proc/x.mp4", *VIDEO, subprocess_=True)
    line = r.fails(2, "cannot write /proc/x.mp4")
    ws.cli("image", ws.media.path("still"), "/proc/x.png", *DREAM).fails(2, "cannot write /proc/x.png")
    ws.cli("render", ws.media.path("clip"), "--out", "/proc/frames", "--frames", "0-1", *VIDEO).fails(2, "cannot")
    (out / "file").write_text("")
    ws.cli("dream", ws.media.path("clip"), out / "file" / "o.mp4", *VIDEO).fails(2, "is a file, not a folder")
    return f"{line} ({r.seconds:.1f} s with start-up)"


@contextlib.contextmanager
def _small_tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` (root only); Skip where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        raise Skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        raise Skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@case("outputs", "full disk", "exit 2: no space left on device; the existing output kept as it was, no temp files")
def _full_disk(ws: Workspace) -> str:
    out = ws.tmp()
    with _small_tmpfs(out / "small", "16k") as small:
        existing = small / "o.mp4"
        shutil.copy(ws.media.path("clip"), existing)  # ~10 KiB of the 16
        before = existing.read_bytes()
        line = ws.cli("dream", ws.media.path("long"), existing, "--frames", "0-99", *VIDEO).fails(2, "No space left")
        assert existing.read_bytes() == before, "the existing output changed"
        _no_partials(small)
        ws.cli("image", ws.media.path("png16"), small / "big.png", *DREAM).fails(2, "No space left|cannot write")
        _no_partials(small)
    return line


@case("outputs", "--json-report to a bad place", "exit 2 before the first frame; the existing output kept")
def _json_report(ws: Workspace) -> str:
    out = ws.tmp()
    existing = out / "o.mp4"
    shutil.copy(ws.media.path("clip"), existing)
    before = existing.read_bytes()
    r = ws.cli("dream", ws.media.path("long"), existing, "--json-report", "/proc/r.json", *VIDEO)
    line = r.fails(2, "cannot write /proc/r.json")
    ws.cli("dream", ws.media.path("long"), existing, "--json-report", existing, *VIDEO).fails(2, "--json-report is the output")
    ws.cli("render", ws.media.path("clip"), "--out", out / "f", "--frames", "0-1", "--json-report", "/proc/r.json", *VIDEO).fails(2, "cannot write")
    assert existing.read_bytes() == before and not (out / "f").exists()
    return f"{line} ({r.seconds:.2f} s: nothing dreamed)"


@case("outputs", "--codec prores to .webm/.mp4", "exit 2 before the first frame")
def _prores(ws: Workspace) -> str:
    out = ws.tmp()
    lines = []
    for suffix in (".webm", ".mp4"):
        r = ws.cli("dream", ws.media.path("long"), out / f"o{suffix}", "--codec", "prores", *VIDEO)
        lines.append(r.fails(2, "cannot write"))
        assert r.seconds < 5, f"{r.seconds:.1f} s: it did work first"
    assert not any(out.iterdir())
    return " | ".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Interruptions


def _wait_for(predicate: Callable[[], bool], timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before it could be interrupted:\n"
                                 + proc.stderr.read())
        assert time.monotonic() < deadline, "timed out waiting for the command to start work"
        time.sleep(0.05)


@case("interruptions", "SIGINT during dream", "exit 130, says nothing was written: no output, no temp file, an existing output kept")
def _sigint(ws: Workspace) -> str:
    out = ws.tmp()
    existing = out / "o.mp4"
    shutil.copy(ws.media.path("clip"), existing)
    before = existing.read_bytes()
    proc = ws.popen("dream", ws.media.path("long"), existing, *VIDEO)
    # Interrupt once the encoder has opened its temporary file (at the first frame) and a few more are done.
    _wait_for(lambda: any(out.glob(".o.*.partial.mp4")), 60, proc)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group, flow workers too
    _, err = proc.communicate(timeout=60)
    r = Result([], proc.returncode, "", err, 0.0)
    line = r.fails(130, "interrupted: nothing written")
    assert existing.read_bytes() == before, "the existing output changed"
    _no_partials(out)
    return line


@case("interruptions", "SIGKILL during render, then again", "the rerun completes every frame; none written twice")
def _sigkill(ws: Workspace) -> str:
    out = ws.tmp()
    frames = out / "frames"
    argv = ["render", ws.media.path("long"), "--out", frames, "--frames", "0-11", "--preroll", "0", *VIDEO]
    proc = ws.popen(*argv)
    _wait_for(lambda: len(list(frames.glob("frame_*.png"))) >= 3, 60, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    first = {p.name: p.stat().st_mtime_ns for p in frames.glob("frame_*.png")}
    assert 3 <= len(first) < 12, f"{len(first)} frames before the kill"
    r = ws.cli("render", *argv[1:])
    r.succeeds()
    after = {p.name: p.stat().st_mtime_ns for p in frames.glob("frame_*.png")}
    assert sorted(after) == [f"frame_{i:06d}.png" for i in range(12)], sorted(after)
    rewritten = [name for name, mtime in first.items() if after[name] != mtime]
    # A frame cut short by the kill would be rendered again; whole ones never are.
    from dreamvideo.io.sequence import is_complete

    assert all(is_complete(frames / name) for name in after)
    assert not rewritten, f"written twice: {rewritten}"
    assert f"({len(first)} already complete)" in r.out, r.out
    return f"killed after {len(first)} frames; rerun: {r.out.strip()}"


# ---------------------------------------------------------------------------------------------------------
# Metrics


@case("metrics", "dream made with --frames", "--frames A-B or --report compares the range; without them exit 2 with a hint")
def _metrics_frames(ws: Workspace) -> str:
    out, long = ws.tmp(), ws.media.path("long")
    ws.cli("dream", long, out / "part.mp4", "--frames", "20-29", "--json-report", out / "part.json", *VIDEO).succeeds()
    r = ws.cli("metrics", long, out / "part.mp4", "--json")
    r.fails(2, "has 10 frames but the source has more")
    assert "--frames" in r.err
    a = ws.cli("metrics", long, out / "part.mp4", "--frames", "20-29", "--json")
    b = ws.cli("metrics", long, out / "part.mp4", "--report", out / "part.json", "--json")
    a.succeeds(), b.succeeds()
    ja, jb = json.loads(a.out), json.loads(b.out)
    assert ja["frames"] == jb["frames"] == 10 and ja["strength"] == jb["strength"]
    wrong = json.loads(ws.cli("metrics", long, out / "part.mp4", "--frames", "0-9", "--json").out)
    assert ja["strength"] < wrong["strength"], (ja["strength"], wrong["strength"])
    return f"strength {ja['strength']:.2f} against frames 20-29 ({wrong['strength']:.2f} against 0-9)"


@case("metrics", "source with odd dimensions", "compares with the source cropped as the dream was, not resampled")
def _metrics_odd(ws: Workspace) -> str:
    odd, cropped = ws.media.path("odd"), ws.media.path("odd_cropped")
    r = ws.cli("metrics", odd, cropped, "--json")
    r.succeeds()
    strength = json.loads(r.out)["strength"]
    assert strength < 0.01, f"an exact crop of the source measures strength {strength}"
    return f"strength {strength:.3f} for the source's own crop (0 = like with like)"


def run_all(folder: Path | None = None, *, force_subprocess: bool = False) -> list[tuple[Case, list[str], str, str]]:
    """Run every case; ``(case, commands, status, outcome)`` each, status ``ok``, ``FAIL`` or ``skip``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="dreamvideo-robustness-") as tmp:
        ws = Workspace(Path(folder or tmp), force_subprocess=force_subprocess)
        for c in CASES:
            ws.commands = []
            try:
                status, outcome = "ok", ws.short(c.run(ws))
            except Skip as e:
                status, outcome = "skip", str(e)
            except AssertionError as e:
                status, outcome = "FAIL", ws.short(" ".join(str(e).split())[:300])
            except Exception as e:  # a check that could not even run: the table still goes on
                status, outcome = "FAIL", f"{type(e).__name__}: " + " ".join(str(e).split())[:300]
            rows.append((c, list(ws.commands), status, outcome))
    return rows
