"""The `dreamvideo dream` and `dreamvideo metrics` commands: streams, errors, failed runs.

What a user sees: MPEG-TS through stdin/stdout with messages only on stderr, a
live TCP stream on loopback, one ``error:`` line and exit 2 for bad input with
any existing output left as it was, and no partial or temporary file after a
failed or interrupted run. Most runs call ``dreamvideo.cli.main`` in this
process; the pipe and the plain error output run ``python -m dreamvideo``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.pipeline import TemporalDreamer

from .io.conftest import ffmpeg, ffprobe, make_clip, needs_ffmpeg
from .test_pipeline import FAST, PROGRESS, dream, video_stream

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli_dream")


@pytest.fixture(scope="module")
def clip(media) -> Path:
    """12 frames, 96x64 at 30000/1001, H.264 in MP4 (the container records the frame count)."""
    return make_clip(media / "clip.mp4", frames=12, gop=12)


# Subprocesses share 2 cores with their flow worker: one intra-op thread, as tests/conftest.py sets here.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_cli(*argv) -> subprocess.CompletedProcess:
    """``python -m dreamvideo ARGV`` as a user runs it (bytes out and err)."""
    return subprocess.run(
        [sys.executable, "-m", "dreamvideo", *map(str, argv)], capture_output=True, timeout=120, env=ENV
    )


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


class Untouched:
    """An existing OUTPUT file and its folder, to check that a failed run changed neither."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(b"an earlier, good output")
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        self.listing = sorted(p.name for p in path.parent.iterdir())

    def check(self) -> None:
        assert self.path.read_bytes() == b"an earlier, good output"
        assert self.path.stat().st_mtime_ns == 1_000_000_000
        assert sorted(p.name for p in self.path.parent.iterdir()) == self.listing, "a temp file was left"


# ---------------------------------------------------------------------------
# stdin / stdout


def test_mpegts_through_stdin_and_stdout(tmp_path, clip):
    # With audio, which cannot be copied from a pipe: only video comes out, and nothing but MPEG-TS on stdout.
    src, out = tmp_path / "in.ts", tmp_path / "out.ts"
    ffmpeg("-i", str(clip), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.4",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-f", "mpegts", str(src))  # fmt: skip
    command = f"cat '{src}' | '{sys.executable}' -m dreamvideo dream - - {' '.join(FAST)} > '{out}'"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""

    data = out.read_bytes()
    assert data and len(data) % 188 == 0 and data[::188] == b"\x47" * (len(data) // 188), "stdout is not pure MPEG-TS"
    assert ffprobe(out, "-show_format")["format"]["format_name"] == "mpegts"
    video = video_stream(out)
    assert (video["nb_read_frames"], video["r_frame_rate"], video["width"]) == ("12", "30000/1001", 96)

    lines = done.stderr.splitlines()
    assert any(PROGRESS.fullmatch(line) for line in lines), done.stderr  # progress goes to stderr
    assert all(PROGRESS.fullmatch(line) or line.startswith(("warning:", "scene cut at frame ")) for line in lines), done.stderr


# ---------------------------------------------------------------------------
# a live stream on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, server: subprocess.Popen, seconds: float = 15.0) -> None:
    """Wait until something listens on 127.0.0.1:port without connecting (a connection would be served)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        time.sleep(2.0)
        return
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for row in table.read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
                return
        assert server.poll() is None, "ffmpeg stopped before listening"
        time.sleep(0.05)
    pytest.fail(f"ffmpeg is not listening on port {port} after {seconds} s")


@pytest.mark.timeout(120)
def test_dream_a_live_tcp_stream(capsys, tmp_path, clip):
    port = _free_port()
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-re", "-i", str(clip), "-c", "copy", "-f", "mpegts",
         f"tcp://127.0.0.1:{port}?listen=1&listen_timeout=30000"]  # fmt: skip
    )
    try:
        _wait_listening(port, server)
        out = tmp_path / "live.mp4"
        code, _, err = dream(capsys, f"tcp://127.0.0.1:{port}", out, *FAST, "--quiet")
        assert code == 0, err
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
        server.wait()
    video = video_stream(out)
    assert (video["nb_read_frames"], video["r_frame_rate"]) == ("12", "30000/1001")


# ---------------------------------------------------------------------------
# bad input: one error line, exit 2, the existing output untouched


@pytest.fixture(scope="module")
def audio_only(media) -> Path:
    path = media / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.5", "-c:a", "aac", str(path))
    return path


@pytest.fixture(scope="module")
def clip_ts(media) -> Path:
    """12 frames in MPEG-TS, which records no frame count: a range is found beyond the end only by decoding."""
    return make_clip(media / "clip.ts", frames=12, gop=6)


@pytest.fixture(scope="module")
def garbage(media) -> Path:
    path = media / "garbage.mp4"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def _bad_run(case: str, tmp_path: Path, request) -> tuple[Path, Path, list[str]]:
    """(INPUT, OUTPUT, options) of one case; OUTPUT is ``tmp_path/out.mp4`` unless the case is about it."""
    clip, out = request.getfixturevalue("clip"), tmp_path / "out.mp4"
    if case == "missing":
        return tmp_path / "nosuch.mp4", out, []
    if case in ("audio_only", "garbage"):
        return request.getfixturevalue(case), out, []
    if case == "reversed":
        return clip, out, ["--frames", "9-3"]
    if case == "beyond":
        return clip, out, ["--frames", "5-40"]
    if case == "beyond_ts":  # found at the end of the clip, while the output is being written
        return request.getfixturevalue("clip_ts"), out, ["--frames", "5-40"]
    if case == "bad_layer":  # found once the input is open and the model loads
        return clip, out, ["--layers", "nosuch"]
    if case == "same_as_input":  # named another way
        (tmp_path / "sub").mkdir()
        source = tmp_path / "copy.mp4"
        source.write_bytes(clip.read_bytes())
        return source, tmp_path / "sub" / ".." / "copy.mp4", []
    if case == "output_folder_is_a_file":  # a missing folder is created; a file in its place cannot be
        (tmp_path / "nosuch").write_text("")
        return clip, tmp_path / "nosuch" / "out.mp4", []
    raise AssertionError(case)


BAD_INPUT = {  # case: what its error line says
    "missing": "no such file",
    "audio_only": "has no video stream",
    "reversed": "reversed",
    "beyond": "it has 12 frames",
    "beyond_ts": "it has 12 frames",
    "same_as_input": "is the input",
    "garbage": "cannot open",
    "bad_layer": "nosuch",
    "output_folder_is_a_file": "is a file, not a folder",
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_error_line(capsys, tmp_path, request, case):
    source, output, options = _bad_run(case, tmp_path, request)
    existing = Untouched(tmp_path / "out.mp4")
    source_bytes = source.read_bytes() if source.exists() else None
    code, stdout, err = dream(capsys, source, output, *FAST, *options)
    assert code == 2, err
    assert stdout == ""
    assert len(error_lines(err)) == 1 and BAD_INPUT[case] in error_lines(err)[0], err
    assert "Traceback" not in err
    # Besides the error: its hint, warnings, and progress lines (and scene cuts) of the frames dreamed before it.
    others = [line for line in err.splitlines() if not PROGRESS.fullmatch(line) and not line.startswith("scene cut at frame ")]
    assert all(line.startswith(("error:", "hint:", "warning:")) for line in others), err
    existing.check()
    if source_bytes is not None:
        assert source.read_bytes() == source_bytes


def test_error_output_of_the_real_command(tmp_path, clip):
    out = tmp_path / "out.mp4"
    existing = Untouched(out)
    done = run_cli("dream", clip, out, "--frames", "5-40", *FAST)
    err = done.stderr.decode()
    assert done.returncode == 2 and done.stdout == b""
    first, *rest = err.splitlines()
    assert first.startswith("error: frame range 5-40 is beyond the end of clip.mp4") and "it has 12 frames" in first
    assert rest == ["hint: use frames within 0-11"]  # and no traceback
    existing.check()


def test_truncated_input_keeps_the_frames_that_decode(capsys, tmp_path, media):
    whole = make_clip(tmp_path / "whole.mp4", frames=24, gop=6)
    faststart = tmp_path / "faststart.mp4"  # the index first, so a cut file still opens
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(faststart))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(faststart.read_bytes()[: faststart.stat().st_size * 6 // 10])

    out = tmp_path / "out.mp4"
    code, _, err = dream(capsys, truncated, out, *FAST, "--quiet")
    assert code == 0, err
    warnings_ = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings_) == 1 and "truncated" in warnings_[0], err
    assert not error_lines(err) and "Traceback" not in err
    kept = int(video_stream(out)["nb_read_frames"])
    assert 0 < kept < 24

    # Only the header left: nothing decodes, which is an error.
    header_only = tmp_path / "header_only.mp4"
    header_only.write_bytes(faststart.read_bytes()[:1500])
    out = tmp_path / "none.mp4"
    code, _, err = dream(capsys, header_only, out, *FAST, "--quiet")
    assert code == 2 and len(error_lines(err)) == 1 and "no frames" in error_lines(err)[0], err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir() if "none" in p.name) == []


# ---------------------------------------------------------------------------
# failed and interrupted runs leave nothing behind


def _fail_on_third_frame(monkeypatch, exc: BaseException) -> list[int]:
    calls: list[int] = []
    original = TemporalDreamer.__call__

    def failing(self, frame, flows):
        calls.append(frame.index)
        if len(calls) == 3:
            raise exc
        return original(self, frame, flows)

    monkeypatch.setattr(TemporalDreamer, "__call__", failing)
    return calls


@pytest.mark.parametrize("existing", [True, False], ids=["over_existing", "fresh"])
def test_interrupted_run_leaves_no_partial_file(capsys, tmp_path, clip, monkeypatch, existing):
    out = tmp_path / "out.mp4"
    before = Untouched(out) if existing else None
    calls = _fail_on_third_frame(monkeypatch, KeyboardInterrupt())
    code, stdout, err = dream(capsys, clip, out, *FAST)
    assert len(calls) == 3  # frames were being encoded when it stopped
    assert code == 130 and stdout == ""
    assert error_lines(err) == [f"error: interrupted: nothing written to {out}" + (
        " (the file already there is kept as it was)" if existing else ""
    )] and "Traceback" not in err
    if before is not None:
        before.check()
    else:
        assert list(tmp_path.iterdir()) == []


def test_internal_failure_is_one_line_and_leaves_no_partial_file(capsys, tmp_path, clip, monkeypatch):
    out = tmp_path / "out.mp4"
    before = Untouched(out)
    _fail_on_third_frame(monkeypatch, RuntimeError("boom"))
    code, stdout, err = dream(capsys, clip, out, *FAST)
    assert code == 1 and stdout == ""
    assert error_lines(err) == ["error: internal failure: RuntimeError: boom"] and "Traceback" not in err
    assert "--debug" in err
    before.check()


# ---------------------------------------------------------------------------
# dreamvideo metrics


@pytest.fixture(scope="module")
def dreamed(clip) -> Path:
    out = clip.with_name("dreamed.mp4")
    assert main(["dream", str(clip), str(out), *FAST, "--quiet"]) == 0
    return out


def test_metrics_json_and_plot(capsys, tmp_path, clip, dreamed):
    plot = tmp_path / "warp.png"
    code = main(["metrics", str(clip), str(dreamed), "--json", "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["frames"] == 12 and len(report["per_frame"]) == 11
    assert [row["t"] for row in report["per_frame"]] == list(range(1, 12))
    assert report["warp_error"] > 0 and report["source_warp_error"] >= 0 and report["strength"] > 0
    assert len(report["sharpness_per_frame"]) == 12 and all(v > 0 for v in report["sharpness_per_frame"])
    assert report["sharpness"] == pytest.approx(np.mean(report["sharpness_per_frame"][10:]))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(plot))
    assert image is not None and image.shape == (480, 960, 3) and image.std() > 10


def test_metrics_text_and_mismatched_clips(capsys, tmp_path, clip, dreamed):
    assert main(["metrics", str(clip), str(dreamed)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["frames", "12"] and "warp error" in out and "strength" in out
    assert "higher is crisper" in next(line for line in out.splitlines() if line.startswith("sharpness"))

    shorter = tmp_path / "shorter.mp4"
    assert main(["dream", str(clip), str(shorter), *FAST, "--quiet", "--frames", "0-5"]) == 0
    code = main(["metrics", str(clip), str(shorter)])
    err = capsys.readouterr().err
    assert code == 2 and len(error_lines(err)) == 1 and "Traceback" not in err


# ---------------------------------------------------------------------------
# one frame to a still image: the same runner with an image sink


def test_one_frame_to_an_image(capsys, tmp_path, clip):
    out = tmp_path / "frame5.png"
    code, stdout, err = dream(capsys, clip, out, *FAST, "--frames", "5", "--quiet")
    assert code == 0, err
    image = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert image.shape == (64, 96, 3) and image.dtype.name == "uint8"
    assert "dreamed 1 frames" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame5.png"]


def test_several_frames_to_an_image_is_refused(capsys, tmp_path, clip):
    out = tmp_path / "frames.png"
    code, stdout, err = dream(capsys, clip, out, *FAST, "--frames", "2-4")
    assert code == 2 and len(error_lines(err)) == 1 and "one frame" in error_lines(err)[0], err
    assert list(tmp_path.iterdir()) == []
