"""`dreamvideo view` as an HTTP server: what it serves, what it refuses, where it listens, how it stops."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from dreamvideo.cli import main
from dreamvideo.errors import ConfigError
from dreamvideo.view import ViewKind, describe_media, guess_kind

from .conftest import encode_video, read_rgb, start_viewer


def get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """``(status, headers, body)`` for a raw request path, sent as given (no normalising)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# how a file is shown


@pytest.mark.parametrize(
    "size, projection, stereo",
    [
        ((512, 256), "equirect", "none"),
        ((3840, 1920), "equirect", "none"),
        ((4096, 2050), "equirect", "none"),  # within 1 %
        ((512, 512), "equirect", "top-bottom"),
        ((1024, 256), "equirect", "left-right"),
        ((640, 360), "flat", "none"),
        ((300, 200), "flat", "none"),
    ],
)
def test_kind_from_aspect(size, projection, stereo):
    kind = guess_kind(*size)
    assert (kind.projection, kind.stereo) == (projection, stereo)
    assert kind.reason


@pytest.mark.parametrize(
    "size, flags, projection, stereo",
    [
        ((512, 512), {"projection": "flat"}, "flat", "none"),  # a square flat clip, not a stereo sphere
        ((512, 256), {"projection": "flat"}, "flat", "none"),
        ((640, 360), {"projection": "equirect"}, "equirect", "none"),
        ((512, 512), {"projection": "equirect"}, "equirect", "top-bottom"),
        ((512, 512), {"stereo": "none"}, "flat", "none"),  # mono 1:1 is not 2:1
        ((1280, 360), {"stereo": "left-right"}, "flat", "left-right"),  # side-by-side 3D film: one eye, flat
        ((512, 256), {"stereo": "top-bottom"}, "flat", "top-bottom"),
        ((640, 360), {"projection": "equirect", "stereo": "left-right"}, "equirect", "left-right"),
    ],
)
def test_kind_flags(size, flags, projection, stereo):
    kind = guess_kind(*size, **flags)
    assert (kind.projection, kind.stereo) == (projection, stereo)
    assert "--" in kind.reason


def test_kind_declared_metadata_beats_aspect_flags_beat_it():
    declared = ViewKind("equirect", "top-bottom", "spherical metadata")
    assert guess_kind(1920, 1080, declared=declared) == declared
    kind = guess_kind(1920, 1080, declared=declared, stereo="none")
    assert (kind.projection, kind.stereo) == ("equirect", "none")


def test_kind_bad_names():
    with pytest.raises(ConfigError, match="projection"):
        guess_kind(512, 256, projection="cubemap")
    with pytest.raises(ConfigError, match="stereo"):
        guess_kind(512, 256, stereo="anaglyph")


def test_describe_media(pano_dir, tmp_path):
    info = describe_media(pano_dir / "lab.png")
    assert (info.media, info.mime, info.width, info.height) == ("image", "image/png", 512, 256)
    assert info.kind.projection == "equirect"
    clip = encode_video(tmp_path / "flat.mp4", [read_rgb(pano_dir / "lab.png")[:180, :320]] * 3, "libx264")
    info = describe_media(clip)
    assert (info.media, info.mime, info.width, info.height) == ("video", "video/mp4", 320, 180)
    assert info.kind.projection == "flat"


# ---------------------------------------------------------------------------
# the server


@pytest.fixture(scope="module")
def lab(pano_dir):
    """One server for lab.png shared by the tests that only make requests."""
    v = start_viewer(pano_dir / "lab.png")
    yield v
    v.stop()


def test_serves_page_info_and_file(viewer, pano_dir):
    v = viewer(pano_dir / "lab.png")
    assert v.url == f"http://127.0.0.1:{v.port}/"
    assert "equirect" in v.line
    status, headers, body = get(v.port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<canvas" in body
    status, headers, body = get(v.port, "/viewer.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and b"WebGL" in body
    status, _, body = get(v.port, "/info")
    info = json.loads(body)
    assert status == 200
    assert info == {
        "name": "lab.png",
        "url": "/media/lab.png",
        "media": "image",
        "mime": "image/png",
        "width": 512,
        "height": 256,
        "projection": "equirect",
        "stereo": "none",
        "reason": "aspect 2:1 (512x256)",
    }
    status, headers, body = get(v.port, "/media/lab.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and headers["Accept-Ranges"] == "bytes"
    assert body == (pano_dir / "lab.png").read_bytes()
    status, headers, body = get(v.port, "/media/lab.png", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len((pano_dir / "lab.png").read_bytes())
    # the page address with a view in the query is still the page
    assert get(v.port, "/?yaw=90")[0] == 200


def test_byte_ranges(viewer, pano_dir):
    data = (pano_dir / "workshop.png").read_bytes()
    size = len(data)
    v = viewer(pano_dir / "workshop.png")
    url = "/media/workshop.png"
    for header, first, last in [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=-5", size - 5, size - 1),
        (f"bytes={size - 3}-", size - 3, size - 1),
        (f"bytes=100-{size + 1000}", 100, size - 1),
    ]:
        status, headers, body = get(v.port, url, {"Range": header})
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert body == data[first : last + 1]
    status, headers, _ = get(v.port, url, {"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    # several ranges or nonsense: the whole file, as HTTP allows
    for header in ("bytes=0-1,5-6", "pages=1-2", "bytes=9-3"):
        status, _, body = get(v.port, url, {"Range": header})
        assert status == 200 and body == data, header


@pytest.mark.parametrize(
    "path",
    [
        "/..",
        "/../",
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/media/../secret.txt",
        "/media/..%2fsecret.txt",
        "/media/%2e%2e%2fsecret.txt",
        "/media/%2E%2E/secret.txt",
        "/media/..%5csecret.txt",
        "/media/secret.txt",
        "/media/lab.png/",
        "/media/lab.png/..",
        "/media//lab.png",
        "//media/lab.png",
        "/media/LAB.png",
        "/media/lab.png%00",
        "/media/lab%2epng",
        "/media/workshop.png",
        "/media/",
        "/lab.png",
        "/index.html",
        "/page/index.html",
        "/favicon.ico",
        "/info/",
        "/viewer.js/..",
        "/./viewer.js",
        "http://127.0.0.1:{port}/etc/passwd",
        "http://127.0.0.1:{port}/media/lab.png",
    ],
)
def test_everything_else_is_404(lab, path):
    v = lab
    status, _, body = get(v.port, path.format(port=v.port))
    assert status == 404, path
    assert b"not for the browser" not in body and b"PNG" not in body


def test_other_hosts_are_refused(lab):
    """A page from elsewhere that rebinds its DNS name to 127.0.0.1 must not read the file."""
    v = lab
    assert get(v.port, "/media/lab.png", {"Host": "evil.example:%d" % v.port})[0] == 403
    assert get(v.port, "/info", {"Host": f"localhost:{v.port}"})[0] == 200


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} write them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def _other_address() -> str | None:
    """A non-loopback IPv4 address of this machine, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing interface
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_listens_on_loopback_only(lab):
    v = lab
    if Path("/proc/net/tcp").exists():
        assert _listening(v.port) == ["0100007F"]  # 127.0.0.1, and nothing else on that port
    other = _other_address()
    if other is not None:
        with pytest.raises(OSError):
            socket.create_connection((other, v.port), timeout=3).close()
    socket.create_connection(("127.0.0.1", v.port), timeout=3).close()


def test_ctrl_c_stops_cleanly(viewer, pano_dir):
    v = viewer(pano_dir / "lab.png")
    assert get(v.port, "/info")[0] == 200
    code, out, err = v.stop()
    assert code == 0, err
    assert "stopped" in out
    assert "Traceback" not in err and "error" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", v.port), timeout=3).close()


def test_port_in_use_is_one_error_line(lab, pano_dir, capsys):
    v = lab
    code = main(["view", str(pano_dir / "lab.png"), "--port", str(v.port), "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: cannot listen on 127.0.0.1:") and "hint: try --port 0" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png"], "no such file"),
        (["secret.txt"], "cannot read"),
        (["lab.tif"], "browsers cannot show .tif"),
        (["lab.png", "--projection", "cubemap"], "invalid choice"),
        (["lab.png", "--port", "70000"], "--port must be in 0..65535"),
    ],
)
def test_bad_input_is_one_error_line(pano_dir, capsys, args, message):
    (pano_dir / "lab.tif").write_bytes(b"II*\x00")
    args = [str(pano_dir / args[0]), *args[1:]]
    code = main(["view", *args, "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err, err


def test_file_name_with_spaces_and_accents(viewer, pano_dir, tmp_path):
    odd = tmp_path / "vue d'été (1).png"
    odd.write_bytes((pano_dir / "lab.png").read_bytes())
    v = viewer(odd)
    info = json.loads(get(v.port, "/info")[2])
    assert info["name"] == odd.name
    assert info["url"] == "/media/vue%20d%27%C3%A9t%C3%A9%20%281%29.png"
    status, _, body = get(v.port, info["url"])
    assert status == 200 and body == odd.read_bytes()
    assert get(v.port, "/media/vue%20d'%C3%A9t%C3%A9%20(1).png")[0] == 404  # only the one spelling is the file


def test_spherical_metadata_beats_the_aspect(tmp_path, pano_dir):
    """A 16:9 MP4 that declares a mono sphere, a 2:1 one that declares top-bottom, a PNG with GPano XMP."""
    from dreamvideo.io.spherical import SphericalInfo, gpano_xmp, inject_spherical, with_image_xmp

    frames = [read_rgb(pano_dir / "lab.png")[:180, :320]] * 3
    wide = encode_video(tmp_path / "wide.mp4", frames, "libx264")
    assert describe_media(wide).kind.projection == "flat"
    inject_spherical(wide, SphericalInfo(stereo="none"))
    kind = describe_media(wide).kind
    assert (kind.projection, kind.stereo) == ("equirect", "none") and "spherical metadata" in kind.reason

    tb = encode_video(tmp_path / "tb.mp4", [read_rgb(pano_dir / "lab.png")] * 3, "libx264")
    inject_spherical(tb, SphericalInfo(stereo="top-bottom"))
    kind = describe_media(tb).kind
    assert (kind.projection, kind.stereo) == ("equirect", "top-bottom")
    assert describe_media(tb, projection="flat").kind.projection == "flat"  # the flag still wins

    photo = tmp_path / "photo.png"
    data = (pano_dir / "lab.png").read_bytes()
    photo.write_bytes(with_image_xmp(data, gpano_xmp(512, 256), "PNG"))
    assert describe_media(photo).kind.reason.startswith("spherical metadata")
