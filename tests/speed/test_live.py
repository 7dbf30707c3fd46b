"""Live mode: a stream faster than the dream drops input frames, keeps real-time timestamps, reports latency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest

from dreamvideo.cli import main

from ..io.conftest import ffprobe, make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg

# Small and cheap, but still far slower than 30 frames/s on this CPU.
SMALL = ["--width", "160", "--base-width", "96", "--octaves", "1", "--steps", "4", "--refine-steps", "2"]
RATE = Fraction(30000, 1001)


def packet_times(path) -> list[float]:
    packets = ffprobe(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")["packets"]
    return sorted(float(p["pts_time"]) for p in packets)


def check_live(report: dict, out, input_frames: int) -> None:
    live = report["live"]
    assert live["input_frames"] == input_frames
    assert live["dropped_frames"] > 0
    assert report["frames"] + live["dropped_frames"] == input_frames
    lat = live["latency_ms"]
    assert 0 < lat["median"] <= lat["p95"] <= lat["max"] < 30_000
    times = packet_times(out)
    assert len(times) == report["frames"]
    # Real-time timestamps: the source's own (gaps where frames were dropped), increasing, within the clip.
    assert all(b > a for a, b in zip(times, times[1:]))
    for t in times:
        assert abs(t * RATE - round(t * RATE)) < 0.01
    assert times[-1] - times[0] <= (input_frames - 1) / RATE + 1e-3


@pytest.mark.timeout(120)
def test_live_from_stdin_drops_frames_and_reports_latency(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=60)
    out, report = tmp_path / "live.mp4", tmp_path / "live.json"
    feed = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-re", "-i", str(clip), "-c", "copy", "-f", "mpegts", "-"],
        stdout=subprocess.PIPE,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "dreamvideo", "dream", "-", str(out), "--live", *SMALL, "--quiet",
         "--json-report", str(report)],  # fmt: skip
        stdin=feed.stdout, capture_output=True, text=True, timeout=110, env=env,
    )
    feed.stdout.close()
    assert feed.wait(timeout=30) == 0
    assert run.returncode == 0, run.stderr
    data = json.loads(report.read_text())
    check_live(data, out, 60)
    assert data["settings"]["video"]["flow"] == "dis"  # --live takes the live preset
    summary = [line for line in run.stderr.splitlines() if line.startswith("live: ")]
    assert len(summary) == 1 and f"({data['live']['dropped_frames']} dropped)" in summary[0]


@pytest.mark.timeout(60)
def test_live_paces_a_file_at_its_rate(capsys, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=24)
    out, report = tmp_path / "live.mp4", tmp_path / "live.json"
    assert main(["dream", str(clip), str(out), "--live", *SMALL, "--quiet", "--json-report", str(report)]) == 0
    data = json.loads(report.read_text())
    check_live(data, out, 24)
    # Paced at 30 frames/s, 24 frames take 0.77 s at least.
    assert data["wall_time_s"] >= 23 / float(RATE)
    assert "live: dreamed" in capsys.readouterr().err
