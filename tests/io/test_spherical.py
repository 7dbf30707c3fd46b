"""Spherical metadata written and read back: MP4/MOV boxes (V1, V2), Matroska tags, GPano XMP.

Files are real: encoded with PyAV or the project's writer, checked with the
project's reader and with the ffprobe program.
"""

from __future__ import annotations

import shutil

import struct
import warnings
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from dreamvideo.config import DreamSettings
from dreamvideo.io import open_video, open_writer, read_image, write_image
from dreamvideo.io.probe import format_probe, probe
from dreamvideo.io import spherical as sm
from dreamvideo.io.spherical import SphericalInfo
from dreamvideo.layout import resolve_layout

from .conftest import ffprobe, needs_ffmpeg, texture

W, H = 64, 32
FRAMES = 3
STEREO_3D = {"top-bottom": "top and bottom", "left-right": "side by side", "none": "2D"}


def pyav_clip(path: Path, *, faststart: bool = False, audio: bool = False, width: int = W, height: int = H) -> Path:
    """``FRAMES`` frames of ``texture`` as H.264, moov first with ``faststart``, plus AAC with ``audio``."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = c.add_stream("aac", rate=48000) if audio else None
        for i in range(FRAMES):
            c.mux(v.encode(av.VideoFrame.from_ndarray(texture(i, width, height), format="rgb24")))
            if a is not None:
                for k in range(2):
                    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                    frame.sample_rate, frame.pts = 48000, (2 * i + k) * 1024
                    c.mux(a.encode(frame))
        c.mux(v.encode())
        if a is not None:
            c.mux(a.encode())
    return path


def writer_clip(
    path: Path, spherical: SphericalInfo | None, *, width: int = W, height: int = H, codec: str = "h264"
) -> Path:
    """``FRAMES`` frames of ``texture`` through the project's VideoWriter."""
    with open_writer(str(path), width=width, height=height, rate=Fraction(25), time_base=Fraction(1, 25),
                     codec=codec, spherical=spherical) as w:
        for i in range(FRAMES):
            w.write(texture(i, width, height))
    return path


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def side_data(path: Path) -> dict[str, dict]:
    """ffprobe's side data of the first video stream, by type; also checks the frame count."""
    stream = ffprobe(path, "-count_frames", "-select_streams", "v:0", "-show_streams")["streams"][0]
    assert int(stream["nb_read_frames"]) == FRAMES
    return {d["side_data_type"]: d for d in stream.get("side_data_list", [])}


def top_level(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        return [b.type for b in sm._top_level(f, path.stat().st_size)]


# ---------------------------------------------------------------------------
# MP4 / MOV


@needs_ffmpeg
@pytest.mark.parametrize("ext", [".mp4", ".mov"])
@pytest.mark.parametrize("stereo", ["none", "top-bottom", "left-right"])
def test_writer_marks_mp4_and_mov(tmp_path, ext, stereo):
    path = writer_clip(tmp_path / f"pano{ext}", SphericalInfo(stereo=stereo))
    assert not list(tmp_path.glob(".*"))  # no temp files left
    assert sm.read_spherical(path) == SphericalInfo("equirectangular", stereo, "v2")
    found = side_data(path)
    assert found["Spherical Mapping"]["projection"] == "equirectangular"
    assert found["Stereo 3D"]["type"] == STEREO_3D[stereo]
    # The media is untouched: the same encode, marked after the fact, decodes to the same frames.
    # (Two separate encodes need not be bit-identical: x264's threads on a busy machine.)
    flat = writer_clip(tmp_path / f"flat{ext}", None)
    marked = tmp_path / f"marked{ext}"
    shutil.copyfile(flat, marked)
    sm.inject_spherical(marked, SphericalInfo(stereo=stereo), width=W, height=H)
    assert sm.read_spherical(marked) == SphericalInfo("equirectangular", stereo, "v2")
    assert all((a == b).all() for a, b in zip(decoded(marked), decoded(flat), strict=True))
    # V1 is there too, with the per-eye sizes of the V1 RFC
    with open_video(str(path)) as reader:
        assert reader.info.spherical == SphericalInfo("equirectangular", stereo, "v2")
    data = path.read_bytes()
    xml = data[data.index(sm.SPHERICAL_UUID) + 16 :]
    xml = xml[: xml.index(b"</rdf:SphericalVideo>") + len(b"</rdf:SphericalVideo>")]
    assert sm.parse_v1_xml(xml.decode()) == SphericalInfo("equirectangular", stereo, "v1")
    height = H // 2 if stereo == "top-bottom" else H
    assert f"<GSpherical:FullPanoHeightPixels>{height}<".encode() in xml


@needs_ffmpeg
@pytest.mark.parametrize("codec, ext, entry", [("h265", ".mp4", b"hvc1"), ("prores", ".mov", b"apch")])
def test_other_sample_entries(tmp_path, codec, ext, entry):
    """The boxes go into whatever the video sample entry is (found by the track's handler)."""
    path = writer_clip(tmp_path / f"pano{ext}", SphericalInfo(stereo="top-bottom"), codec=codec)
    data = path.read_bytes()
    assert data.index(entry) < data.index(b"st3d") < data.index(b"sv3d")
    assert sm.read_spherical(path) == SphericalInfo("equirectangular", "top-bottom", "v2")
    found = side_data(path)
    assert found["Spherical Mapping"]["projection"] == "equirectangular"
    assert found["Stereo 3D"]["type"] == "top and bottom"


@needs_ffmpeg
@pytest.mark.parametrize("ext", [".mp4", ".mov"])
@pytest.mark.parametrize("which", ["v1", "v2", "both"])
def test_faststart_offsets_are_moved(tmp_path, ext, which):
    """moov before mdat: the boxes grow moov, every chunk offset (video and audio) follows."""
    path = pyav_clip(tmp_path / f"fast{ext}", faststart=True, audio=True)
    assert top_level(path).index(b"moov") < top_level(path).index(b"mdat")
    before = decoded(path)
    with av.open(str(path)) as c:
        audio_before = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    sm.inject_spherical(path, SphericalInfo(stereo="top-bottom"), width=W, height=H,
                        v1=which != "v2", v2=which != "v1")
    assert sm.read_spherical(path).source == ("v1" if which == "v1" else "v2")
    found = side_data(path)  # FFmpeg reads V1 as well as V2
    assert found["Spherical Mapping"]["projection"] == "equirectangular"
    assert found["Stereo 3D"]["type"] == "top and bottom"
    after = decoded(path)
    assert len(after) == FRAMES and all((a == b).all() for a, b in zip(after, before))
    with av.open(str(path)) as c:
        assert [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] == audio_before


def test_injecting_twice_replaces(tmp_path):
    path = pyav_clip(tmp_path / "twice.mp4", faststart=True)
    sm.inject_spherical(path, SphericalInfo(stereo="top-bottom"))
    size = path.stat().st_size
    sm.inject_spherical(path, SphericalInfo(stereo="left-right"))
    assert path.stat().st_size == size
    assert path.read_bytes().count(b"sv3d") == 1 and path.read_bytes().count(sm.SPHERICAL_UUID) == 1
    assert sm.read_spherical(path).stereo == "left-right"
    assert len(decoded(path)) == FRAMES


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _synthetic_mp4(offsets: list[int]) -> tuple[bytes, int]:
    """ftyp, a small mdat, moov (one video trak with ``offsets`` in stco), a second mdat."""
    entry = _box(b"avc1", bytes(78) + _box(b"avcC", b"\x01" * 7) + _box(b"pasp", struct.pack(">II", 1, 1)))
    stsd = _box(b"stsd", struct.pack(">II", 0, 1) + entry)
    stco = _box(b"stco", struct.pack(">II%dI" % len(offsets), 0, len(offsets), *offsets))
    hdlr = _box(b"hdlr", struct.pack(">I4s4s12s", 0, b"\0\0\0\0", b"vide", bytes(12)) + b"v\0")
    trak = _box(b"trak", _box(b"mdia", hdlr + _box(b"minf", _box(b"stbl", stsd + stco))))
    head = _box(b"ftyp", b"isom\0\0\0\0isom") + _box(b"mdat", b"x" * 16)
    return head + _box(b"moov", trak) + _box(b"mdat", b"y" * 32), len(head)


def test_offsets_past_4_gib_become_co64(tmp_path):
    """A synthetic tree: offsets behind moov move by its growth; near 4 GiB stco turns into co64."""
    offsets = [20, 0xFFFFFF00, 0xFFFFFFF0]  # the first points into the mdat before moov
    data, moov_at = _synthetic_mp4(offsets)
    path = tmp_path / "big.mp4"
    path.write_bytes(data)
    old_moov = struct.unpack_from(">I", data, moov_at)[0]
    sm.inject_spherical(path, SphericalInfo())
    new = path.read_bytes()
    new_moov = struct.unpack_from(">I", new, moov_at)[0]
    assert new[-40:] == data[-40:] and new[:moov_at] == data[:moov_at]  # the media data is untouched
    at = new.index(b"co64")
    count = struct.unpack_from(">I", new, at + 8)[0]
    moved = list(struct.unpack_from(">%dQ" % count, new, at + 12))
    growth = new_moov - old_moov
    assert b"stco" not in new and growth > 0
    assert moved == [20, 0xFFFFFF00 + growth, 0xFFFFFFF0 + growth]
    # st3d/sv3d sit after avcC and before pasp, as the V2 RFC asks
    assert new.index(b"avcC") < new.index(b"st3d") < new.index(b"sv3d") < new.index(b"pasp")
    assert sm.read_spherical(path) == SphericalInfo("equirectangular", "none", "v2")


def test_small_offsets_stay_stco(tmp_path):
    data, moov_at = _synthetic_mp4([20, 4000])
    path = tmp_path / "small.mp4"
    path.write_bytes(data)
    sm.inject_spherical(path, SphericalInfo(), v1=False)
    new = path.read_bytes()
    growth = len(new) - len(data)
    at = new.index(b"stco")
    assert struct.unpack_from(">III", new, at + 8) == (2, 20, 4000 + growth)


def test_injection_refuses_what_it_cannot_do(tmp_path):
    path = tmp_path / "frag.mp4"
    with av.open(str(path), "w", options={"movflags": "frag_keyframe+empty_moov"}) as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            c.mux(v.encode(av.VideoFrame.from_ndarray(texture(i, W, H), format="rgb24")))
        c.mux(v.encode())
    data = path.read_bytes()
    with pytest.raises(sm.SphericalMetadataError, match="fragmented"):
        sm.inject_spherical(path, SphericalInfo())
    assert path.read_bytes() == data
    with pytest.raises(sm.SphericalMetadataError):
        sm.inject_spherical(path, SphericalInfo(projection="cubemap"))


# ---------------------------------------------------------------------------
# Damaged metadata in the input


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "sv3d-size":  # sv3d claims far more bytes than its sample entry holds
        at = data.index(b"sv3d") - 4
        data[at : at + 4] = struct.pack(">I", 0x7FFFFFF0)
    elif how == "equi-short":  # equi cut to 8 bytes: its size says so, the parent keeps the rest as junk
        at = data.index(b"equi") - 4
        data[at : at + 4] = struct.pack(">I", 8)
    elif how == "st3d-version":
        at = data.index(b"st3d") + 4
        data[at] = 7
    elif how == "v1-xml":
        at = data.index(b"<rdf:SphericalVideo")
        data[at : at + 5] = b"<<<<<"
    path.write_bytes(bytes(data))


@needs_ffmpeg
@pytest.mark.parametrize("how", ["sv3d-size", "equi-short", "st3d-version", "v1-xml"])
def test_damaged_boxes_warn_and_count_as_absent(tmp_path, how):
    path = pyav_clip(tmp_path / "damaged.mp4")
    sm.inject_spherical(path, SphericalInfo(stereo="top-bottom"), v1=how == "v1-xml", v2=how != "v1-xml")
    _damage(path, how)
    with pytest.warns(UserWarning, match="damaged spherical metadata"):
        assert sm.read_spherical(path) is None
    with pytest.warns(UserWarning, match="damaged spherical metadata"):
        info = probe(path)
    assert info["streams"][0]["spherical"] is None
    with pytest.warns(UserWarning, match="damaged spherical metadata"):
        reader = open_video(str(path))
    with reader:
        assert reader.info.spherical is None
        frames = [f.image for f in reader]
    assert len(frames) == FRAMES
    # what a run does with it: `auto` gives a flat layout, and the output carries no spherical boxes
    layout = resolve_layout(DreamSettings(), reader.info.spherical)
    assert layout == ("flat", "none") and sm.spherical_for(*layout) is None
    out = tmp_path / "out.mp4"
    with open_writer(str(out), width=W, height=H, rate=Fraction(25), time_base=Fraction(1, 25),
                     spherical=sm.spherical_for(*layout)) as w:
        for image in frames:
            w.write(image)
    data = out.read_bytes()
    assert b"sv3d" not in data and b"st3d" not in data and sm.SPHERICAL_UUID not in data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sm.read_spherical(out) is None


def test_damaged_v2_falls_back_to_v1(tmp_path):
    path = pyav_clip(tmp_path / "both.mp4")
    sm.inject_spherical(path, SphericalInfo(stereo="left-right"))
    _damage(path, "sv3d-size")
    with pytest.warns(UserWarning, match="damaged"):
        assert sm.read_spherical(path) == SphericalInfo("equirectangular", "left-right", "v1")


def test_damaged_moov_and_junk_are_not_fatal(tmp_path):
    path = pyav_clip(tmp_path / "cut.mp4")
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # moov last: cut short
    with pytest.warns(UserWarning, match="damaged"):
        assert sm.read_spherical(path) is None
    (tmp_path / "junk.mp4").write_bytes(b"\0\0\0\x20ftypisom" + b"\xff" * 40)
    assert sm.read_spherical(tmp_path / "junk.mp4") is None
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert sm.read_spherical(tmp_path / "empty.mp4") is None


# ---------------------------------------------------------------------------
# Matroska and other containers


@needs_ffmpeg
def test_matroska_gets_stereo_mode_and_the_v1_tag(tmp_path):
    path = writer_clip(tmp_path / "pano.mkv", SphericalInfo(stereo="top-bottom"))
    assert side_data(path)["Stereo 3D"]["type"] == "top and bottom"
    tags = {k.lower(): v for k, v in ffprobe(path, "-show_streams")["streams"][0]["tags"].items()}
    assert sm.parse_v1_xml(tags["spherical-video"]).stereo == "top-bottom"
    with open_video(str(path)) as reader:
        assert reader.info.spherical == SphericalInfo("equirectangular", "top-bottom", "v1")
    assert probe(path)["streams"][0]["spherical"]["stereo"] == "top-bottom"


@needs_ffmpeg
def test_matroska_projection_element_is_read_through_ffmpeg(tmp_path):
    """An MKV whose Projection element FFmpeg wrote (remuxed from a V2 MP4) reads as equirect."""
    from .conftest import ffmpeg

    mp4 = writer_clip(tmp_path / "pano.mp4", SphericalInfo(stereo="left-right"))
    mkv = tmp_path / "remux.mkv"
    ffmpeg("-i", str(mp4), "-c", "copy", str(mkv))
    with open_video(str(mkv)) as reader:
        assert reader.info.spherical == SphericalInfo("equirectangular", "left-right", "ffmpeg")


def test_mpegts_output_warns_and_still_writes(tmp_path):
    path = tmp_path / "pano.ts"
    with pytest.warns(UserWarning, match="carries no spherical metadata"):
        writer_clip(path, SphericalInfo())
    assert len(decoded(path)) == FRAMES


# ---------------------------------------------------------------------------
# Stills: GPano XMP


def _xmp_of_jpeg(data: bytes) -> ET.Element:
    """The XMP packet of the APP1 segment, parsed with xml.etree (independent of the project's reader)."""
    marker = b"\xff\xe1"
    at = data.index(b"http://ns.adobe.com/xap/1.0/\x00")
    assert data[at - 4 : at - 2] == marker
    length = struct.unpack_from(">H", data, at - 2)[0]
    packet = data[at + 29 : at - 2 + length].decode("utf-8")
    return ET.fromstring(packet[packet.index("<x:xmpmeta") : packet.index("</x:xmpmeta>") + 12])


@pytest.mark.parametrize("stereo", ["none", "top-bottom"])
def test_jpeg_gets_gpano_xmp(tmp_path, stereo):
    rgb = texture(0, 128, 64)
    path = tmp_path / "pano.jpg"
    write_image(path, rgb, spherical=SphericalInfo(stereo=stereo))
    plain = tmp_path / "plain.jpg"
    write_image(plain, rgb)
    np.testing.assert_array_equal(cv2.imread(str(path)), cv2.imread(str(plain)))  # pixels unchanged
    root = _xmp_of_jpeg(path.read_bytes())
    gpano = "{http://ns.google.com/photos/1.0/panorama/}"
    desc = next(root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"))
    values = {k[len(gpano) :]: v for k, v in desc.attrib.items() if k.startswith(gpano)}
    assert values == {
        "ProjectionType": "equirectangular",
        "UsePanoramaViewer": "True",
        "CroppedAreaImageWidthPixels": "128",
        "CroppedAreaImageHeightPixels": "64",
        "FullPanoWidthPixels": "128",
        "FullPanoHeightPixels": "64",
        "CroppedAreaLeftPixels": "0",
        "CroppedAreaTopPixels": "0",
    }
    assert sm.read_spherical(path) == SphericalInfo("equirectangular", stereo, "gpano")
    assert read_image(path).size == (128, 64)
    # written again over an XMP-carrying file: one packet, not two
    data = sm.with_image_xmp(path.read_bytes(), sm.gpano_xmp(128, 64), "JPEG")
    assert data.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1


def test_png_gets_gpano_itxt(tmp_path):
    rgb = texture(1, 128, 64)
    path = tmp_path / "pano.png"
    write_image(path, rgb, spherical=SphericalInfo(stereo="left-right"))
    assert b"iTXtXML:com.adobe.xmp" in path.read_bytes()
    assert sm.read_spherical(path) == SphericalInfo("equirectangular", "left-right", "gpano")
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), rgb)  # CRCs fine


def test_other_still_formats_warn(tmp_path):
    with pytest.warns(UserWarning, match="carries no spherical metadata"):
        write_image(tmp_path / "pano.webp", texture(0, 64, 32), spherical=SphericalInfo())
    assert (tmp_path / "pano.webp").exists()


def test_damaged_xmp_warns(tmp_path):
    path = tmp_path / "pano.jpg"
    write_image(path, texture(0, 64, 32), spherical=SphericalInfo())
    data = path.read_bytes().replace(b"<x:xmpmeta", b"<x:xmpmeta <<")
    path.write_bytes(data)
    with pytest.warns(UserWarning, match="damaged spherical metadata"):
        assert sm.read_spherical(path) is None
    assert read_image(path).size == (64, 32)


def test_gpano_as_elements_and_cropped():
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:GPano="http://ns.google.com/photos/1.0/panorama/">'
        "<GPano:ProjectionType>equirectangular</GPano:ProjectionType>"
        "<GPano:CroppedAreaImageWidthPixels>4000</GPano:CroppedAreaImageWidthPixels>"
        "<GPano:CroppedAreaImageHeightPixels>1000</GPano:CroppedAreaImageHeightPixels>"
        "<GPano:FullPanoWidthPixels>4000</GPano:FullPanoWidthPixels>"
        "<GPano:FullPanoHeightPixels>2000</GPano:FullPanoHeightPixels>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert sm.parse_gpano_xmp(xmp) == SphericalInfo("equirectangular", "none", "gpano", cropped=True)


# ---------------------------------------------------------------------------
# probe


def test_probe_shows_spherical(tmp_path):
    path = writer_clip(tmp_path / "pano.mov", SphericalInfo(stereo="top-bottom"))
    info = probe(path)
    assert info["streams"][0]["spherical"] == {
        "projection": "equirectangular",
        "stereo": "top-bottom",
        "source": "v2",
        "cropped": False,
    }
    assert "360° equirectangular, stereo top-bottom (spherical V2)" in format_probe(info)
    flat = probe(writer_clip(tmp_path / "flat.mp4", None))
    assert flat["streams"][0]["spherical"] is None and "360" not in format_probe(flat)


def test_probe_shows_gpano_of_stills(tmp_path):
    for name, stereo in (("pano.jpg", "top-bottom"), ("pano.png", "none")):
        write_image(tmp_path / name, texture(0, 128, 64), spherical=SphericalInfo(stereo=stereo))
        info = probe(tmp_path / name)
        assert info["streams"][0]["spherical"] == {
            "projection": "equirectangular", "stereo": stereo, "source": "gpano", "cropped": False
        }
        assert "(GPano XMP)" in format_probe(info)
