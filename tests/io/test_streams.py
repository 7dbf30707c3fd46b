"""stdin, stdout and network streams, through subprocesses and loopback sockets."""

import functools
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dreamvideo
from dreamvideo.config import FrameRange
from dreamvideo.errors import MediaError
from dreamvideo.io import open_video, open_writer

from .conftest import NTSC, ffprobe, make_clip, needs_ffmpeg, texture

ENV = {"PYTHONPATH": str(Path(dreamvideo.__file__).resolve().parents[1])}

READ_STDIN = """
import json, sys
from dreamvideo.config import FrameRange
from dreamvideo.io import open_video
frames = FrameRange(int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else None
with open_video("-", frames=frames) as reader:
    seen = [[f.index, f.pts, int(f.image.sum())] for f in reader]
    print(json.dumps({"rate": str(reader.info.rate), "size": reader.output_size, "frames": seen}))
"""

WRITE_STDOUT = """
import sys
from dreamvideo.io import open_video, open_writer
with open_video(sys.argv[1]) as reader:
    info = reader.info
    span = (0.0, None)
    with open_writer(
        "-", width=96, height=64, rate=info.rate, time_base=info.time_base, audio_from=sys.argv[1], audio_span=span
    ) as w:
        for f in reader:
            w.write(f.image, f.pts)
"""


def _checksums(path, **kw):
    with open_video(str(path), **kw) as reader:
        return [[f.index, f.pts, int(f.image.sum())] for f in reader]


@pytest.fixture(scope="module")
def clip_ts(media):
    return make_clip(media / "clip48.ts", frames=48, gop=12)


def _run(script: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], env=ENV, capture_output=True, timeout=60, **kw)


@pytest.mark.parametrize("frames", [None, (20, 29)])
def test_read_mpegts_from_stdin(clip_ts, frames):
    with open(clip_ts, "rb") as stdin:
        done = _run(READ_STDIN, *map(str, frames or ()), stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["rate"] == "30000/1001" and result["size"] == [96, 64]
    expected = _checksums(clip_ts)
    if frames:
        expected = expected[frames[0] : frames[1] + 1]
    assert result["frames"] == expected


@needs_ffmpeg
def test_write_mpegts_to_stdout_with_audio(tmp_path, clip_audio):
    done = _run(WRITE_STDOUT, str(clip_audio))
    assert done.returncode == 0, done.stderr.decode()
    out = tmp_path / "piped.ts"
    out.write_bytes(done.stdout)
    probe = ffprobe(out, "-count_frames", "-show_streams", "-show_format")
    assert probe["format"]["format_name"] == "mpegts"
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert (video["nb_read_frames"], video["r_frame_rate"]) == ("48", "30000/1001")
    assert audio["codec_name"] in ("aac", "mp3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _retry(make, seconds: float = 10.0):
    """Call ``make`` until the other end is listening."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return make()
        except MediaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@needs_ffmpeg
def test_read_a_tcp_stream(clip_ts):
    url = f"tcp://127.0.0.1:{_free_port()}"
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(clip_ts), "-c", "copy", "-f", "mpegts", url + "?listen=1"]
    )
    try:
        with _retry(lambda: open_video(url)) as reader:
            assert reader.info.frame_count is None and reader.info.rate == NTSC
            seen = [[f.index, int(f.image.sum())] for f in reader]  # ffmpeg -c copy shifts the pts
        assert seen == [[index, total] for index, _, total in _checksums(clip_ts)]
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
        server.wait()


@needs_ffmpeg
def test_write_a_tcp_stream(tmp_path):
    url = f"tcp://127.0.0.1:{_free_port()}"
    received = tmp_path / "received.ts"
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", url + "?listen=1", "-c", "copy", str(received)]
    )
    try:
        writer = _retry(lambda: open_writer(url, width=64, height=48, rate=NTSC, time_base=1 / NTSC))
        with writer:
            for i in range(24):
                writer.write(texture(i, 64, 48), None)
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
        server.wait()
    video = ffprobe(received, "-count_frames", "-show_streams")["streams"][0]
    assert (video["nb_read_frames"], video["r_frame_rate"]) == ("24", "30000/1001")


def test_read_over_http(clip_ts):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip_ts.parent))
    handler.log_message = lambda *a: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{clip_ts.name}"
            with open_video(url, frames=FrameRange(30, 33)) as reader:
                assert not reader.is_file
                seen = [[f.index, f.pts, int(f.image.sum())] for f in reader]
        finally:
            server.shutdown()
    assert seen == _checksums(clip_ts)[30:34]
