"""Stopping is part of running: a live dream is written as it goes and kept when stopped,
SIGTERM is handled like Ctrl-C, and nothing crashes on the way out.

Real processes: ``ffmpeg`` sends a clip over UDP on 127.0.0.1 at its own rate, ``python -m
dreamvideo`` dreams it, the test sends the signals, ``ffprobe`` counts the frames kept.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import pytest

from .io.conftest import ffprobe, make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg

TINY = ["--width", "96", "--base-width", "96", "--octaves", "1", "--steps", "2", "--refine-steps", "1"]
RATE = Fraction(25)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _default_sigint() -> None:
    # A child of a background job inherits an ignored SIGINT; the tests send it on purpose.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> subprocess.Popen:
    """``python -m dreamvideo ARGS`` with its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "dreamvideo", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=_default_sigint,
    )  # fmt: skip


def finish(proc: subprocess.Popen, seconds: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=seconds)
    assert proc.returncode != -signal.SIGSEGV, err
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_bound(port: int, proc: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until the dream listens on the UDP port: packets sent before are lost."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
        if any(row.split()[1] == wanted for row in rows):
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    pytest.fail(f"nothing listens on udp port {port} after {seconds} s")


def send(clip: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-re", "-i", str(clip), "-c", "copy", "-f", "mpegts",
         f"udp://127.0.0.1:{port}?pkt_size=1316"]  # fmt: skip
    )


def wait_growing(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until ``path`` has been seen with content and then larger: written as the run goes."""
    seen = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if seen and size > seen:
            return
        seen = seen or size
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    pytest.fail(f"{path.name} did not grow while the run went on (last size {seen})")


def frames_in(path: Path) -> int:
    stream = ffprobe(path, "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames")
    return int(stream["streams"][0]["nb_read_frames"])


def hidden(folder: Path) -> list[str]:
    """Temporary files left behind (the writers' are hidden ``.NAME.*.partial.EXT``)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """4 s at 25 frames/s, 96x64."""
    return make_clip(tmp_path_factory.mktemp("live") / "in.mp4", frames=100, rate=RATE)


def live_run(tmp_path: Path, output: str, *extra: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_udp_port()
    report = tmp_path / "live.json"
    proc = start("dream", f"udp://127.0.0.1:{port}", str(tmp_path / output), "--live", *TINY,
                 "--json-report", str(report), *extra)  # fmt: skip
    wait_bound(port, proc)
    return proc, port, report


def check_kept(tmp_path: Path, output: str, report_path: Path, *, stopped: bool) -> dict:
    """The output is playable and holds as many frames as the report says; nothing else is left."""
    report = json.loads(report_path.read_text())
    assert report["live"]["stopped"] is stopped
    assert report["frames"] > 0
    assert frames_in(tmp_path / output) == report["frames"]
    assert hidden(tmp_path) == []
    return report


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ctrl_c_keeps_the_live_dream_written_as_it_went(tmp_path, clip):
    proc, port, report = live_run(tmp_path, "live.ts")
    sender = send(clip, port)
    try:
        wait_growing(tmp_path / "live.ts", proc)
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc)
    finally:
        sender.kill()
        sender.wait()
    assert code == 0, err
    kept = check_kept(tmp_path, "live.ts", report, stopped=True)
    assert out.strip() == f"stopped (SIGINT): kept the {kept['frames']} frames dreamed -> {tmp_path / 'live.ts'}"
    assert "error" not in err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_on_a_quiet_stream_ends_at_once_and_keeps_a_fragmented_mp4(tmp_path, clip):
    # --live-timeout 0: the decoder waits on the network for ever, as it did when the process
    # died of SIGSEGV (the input was freed under that read).
    proc, port, report = live_run(tmp_path, "live.mp4", "--live-timeout", "0")
    sender = send(clip, port)
    wait_growing(tmp_path / "live.mp4", proc)
    assert sender.wait(timeout=60) == 0
    time.sleep(1.0)  # the stream has ended: the decoder is blocked in its read
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    # The stop itself takes about a second; the rest is the interpreter unloading torch (~2-3 s loaded).
    assert time.monotonic() - sent < 15
    assert code == 0, err
    kept = check_kept(tmp_path, "live.mp4", report, stopped=True)
    assert out.startswith(f"stopped (SIGTERM): kept the {kept['frames']} frames dreamed")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_stream_quiet_for_the_live_timeout_has_ended(tmp_path, clip):
    proc, port, report = live_run(tmp_path, "live.mkv", "--live-timeout", "1")
    sender = send(clip, port)
    code, out, err = finish(proc, seconds=120)  # no signal: the run ends by itself
    sender.wait()
    assert code == 0, err
    kept = check_kept(tmp_path, "live.mkv", report, stopped=False)
    assert out.strip() == f"dreamed {kept['frames']} frames -> {tmp_path / 'live.mkv'}"
    assert "warning" not in err  # a quiet stream is its end, not damage


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_stop_while_waiting_for_the_stream_to_start_is_prompt(tmp_path):
    # FFmpeg waits 15 s for a stream to start; the stop does not wait with it.
    proc, port, report = live_run(tmp_path, "live.ts")
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert time.monotonic() - sent < 10  # a second or two, and the interpreter unloading torch
    assert code == 130
    assert err.strip() == f"error: stopped while waiting for udp://127.0.0.1:{port} to start sending"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_leaves_no_partial_dream_and_keeps_the_existing_output(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=200, rate=RATE)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the earlier output")
    proc = start("dream", str(clip), str(out), *TINY)
    deadline = time.monotonic() + 90
    while not [p for p in hidden(tmp_path) if ".partial" in p]:  # the encoder has opened its temp file
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == (
        f"error: terminated: nothing written to {out} (the file already there is kept as it was)"
    )
    assert out.read_bytes() == b"the earlier output"
    assert hidden(tmp_path) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_keeps_the_frames_render_finished(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=200, rate=RATE)
    folder = tmp_path / "frames"
    proc = start("render", str(clip), "--frames", "0-199", "--out", str(folder), "--preroll", "0", *TINY)
    deadline = time.monotonic() + 90
    while not list(folder.glob("frame_*.png")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 143, err
    assert err.strip().splitlines()[-2].startswith(f"error: terminated: the frames finished so far are in {folder}")
    frames = sorted(folder.glob("frame_*.png"))
    assert 0 < len(frames) < 200
    import cv2

    assert all(cv2.imread(str(p)) is not None for p in frames)  # each one whole
    assert hidden(folder) == []


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env=ENV, preexec_fn=_default_sigint,
    )  # fmt: skip


@pytest.mark.timeout(90)
def test_closing_a_reader_while_another_thread_waits_on_the_network_does_not_crash(tmp_path, clip):
    """The cause of the SIGSEGV: the input was freed while the decode thread was blocked in
    FFmpeg's read of a quiet UDP stream. Now the reading thread frees it when its read returns."""
    port = free_udp_port()
    done = run_python(f"""
        import subprocess, threading, time
        from dreamvideo.io import open_video
        sender = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-re", "-t", "1", "-i", {str(clip)!r},
                                   "-c", "copy", "-f", "mpegts", "udp://127.0.0.1:{port}?pkt_size=1316"])
        reader = open_video("udp://127.0.0.1:{port}", read_timeout=2.0)
        count = []
        thread = threading.Thread(target=lambda: count.extend(reader), daemon=True)
        thread.start()
        sender.wait()
        time.sleep(0.5)  # the stream is quiet: the thread waits in FFmpeg's read
        reader.interrupt()
        reader.close()
        thread.join(timeout=10)
        print(thread.is_alive(), len(count) > 0)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_sigterm_is_ctrl_c_and_a_second_signal_ends_at_once():
    from dreamvideo.cli.signals import STOP

    STOP.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in this thread before this ends
        assert (STOP.exit_code, STOP.what) == (143, "terminated")
    finally:
        STOP.restore()
    # In a live run the first signal only asks it to stop; the second ends the process at once.
    done = run_python("""
        import os, signal, time
        from dreamvideo.cli.signals import STOP
        STOP.install()
        with STOP.gracefully() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            print("asked to stop:", stop.is_set(), flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        print("not reached")
    """)
    assert done.returncode == 130
    assert done.stdout == "asked to stop: True\n"
    assert done.stderr == "error: SIGINT again: stopped at once\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--live-timeout", "2"], "error: --live-timeout goes with --live"),
        (["--live", "--live-timeout", "-1"], "error: --live-timeout must not be negative"),
    ],
)
def test_live_timeout_mistakes_are_one_error_line(capsys, tmp_path, clip, extra, message):
    from dreamvideo.cli import main

    assert main(["dream", str(clip), str(tmp_path / "out.ts"), *extra]) == 2
    assert capsys.readouterr().err.splitlines()[0] == message
    assert list(tmp_path.iterdir()) == []
