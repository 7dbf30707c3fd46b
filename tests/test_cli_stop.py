"""A signal in the middle of a dream with flow: the process ends promptly with 130 (SIGINT) or
143 (SIGTERM) and one ``error:`` line, no crash on the way out, no temporary file, and the
existing output untouched.

A thread still inside OpenCV's flow (a second or more at 2560 px) while the interpreter
finalised aborted the process (``terminate called without an active exception``, exit 134).
On the CPU the flow runs inline in the decode thread (no worker processes). Real process,
real encoder, real signal.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from .io.conftest import make_clip, needs_ffmpeg
from .test_cli_live import RATE, TINY, finish, hidden, start

pytestmark = needs_ffmpeg


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize(("signal_number", "code", "what"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_mid_dream_with_flow_ends_promptly_and_cleanly(tmp_path, signal_number, code, what):
    clip = make_clip(tmp_path / "clip.mp4", frames=200, rate=RATE)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the earlier output")
    proc = start("dream", str(clip), str(out), *TINY, "--flow", "farneback", "--blend", "0.5", "--flow-scale", "1")
    deadline = time.monotonic() + 90
    while not [p for p in hidden(tmp_path) if ".partial" in p]:  # frames are dreamed and encoded
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # a few frames on, the flow of the frames ahead being computed
    proc.send_signal(signal_number)
    sent = time.monotonic()
    returncode, _, err = finish(proc)
    took = time.monotonic() - sent
    assert returncode == code, err
    assert "terminate called" not in err and "Fatal Python error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {what}: nothing written to {out} (the file already there is kept as it was)"], err
    assert out.read_bytes() == b"the earlier output"
    assert hidden(tmp_path) == []
    assert took < 20, f"{took:.1f} s from the signal to the exit"  # 1-2 s unloaded; a step of slack


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ctrl_c_while_the_flow_of_the_frames_ahead_is_computed_does_not_abort(tmp_path):
    """The run that aborted: at 2560 px a flow pair takes a second or more, and during the first
    frame the decode thread computes the pairs of the frames ahead (exit 134 before the fix)."""
    clip = make_clip(tmp_path / "clip.mp4", frames=30, rate=RATE)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the earlier output")
    big = ["--width", "2560", "--base-width", "96", "--octaves", "1", "--steps", "2", "--refine-steps", "1"]
    proc = start("dream", str(clip), str(out), *big, "--flow", "farneback", "--flow-scale", "1", "--frames", "0-9")
    lines: list[str] = []
    reading = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reading.start()
    deadline = time.monotonic() + 120
    while not any("upscales" in line for line in lines):  # the arguments are checked
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        time.sleep(0.05)
    time.sleep(4)  # the model loads, the first frame's dream starts, its flows ahead are computed
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    proc.wait(timeout=60)
    took = time.monotonic() - sent
    reading.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "terminate called" not in err and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: interrupted: nothing written to {out} (the file already there is kept as it was)"
    ], err
    assert out.read_bytes() == b"the earlier output"
    assert hidden(tmp_path) == []
    assert took < 20, f"{took:.1f} s from the signal to the exit"
