"""Spherical metadata: read and write it in MP4/MOV boxes and in JPEG/PNG XMP.

Standard library only (media formats, no run decisions: what a run makes of the
metadata is ``dreamvideo.layout``).

Written from Google's spatial-media RFCs (``docs/spherical-video-rfc.md``, V1, and
``docs/spherical-video-v2-rfc.md``, V2, in github.com/google/spatial-media):

- **V2** (MP4/MOV): ``st3d`` (a FullBox with one ``stereo_mode`` byte: 0 mono,
  1 top-bottom, 2 left-right) and ``sv3d`` holding ``svhd`` (the writing tool's
  name) and ``proj`` with ``prhd`` (pose, 16.16 degrees) and ``equi`` (four 0.32
  crop bounds), inside the video sample entry (``avc1``, ``hvc1``, ``apcn``…,
  under ``stsd``), before the optional trailing ``clap``/``pasp``/``btrt``.
- **V1** (MP4/MOV): a ``uuid`` box ``ffcc8263-f855-4a93-8814-587a02521fdd`` in the
  video ``trak`` holding ``rdf:SphericalVideo`` XML (``GSpherical:`` elements).
  When a file has both and they differ, V2 wins (as the V2 RFC says).
- **GPano XMP** (JPEG APP1 ``http://ns.adobe.com/xap/1.0/``, PNG ``iTXt``
  ``XML:com.adobe.xmp``): ``GPano:ProjectionType=equirectangular``,
  ``UsePanoramaViewer=True``, cropped-area and full-pano sizes. GPano has no
  stereo property, so for a stereo still the sizes describe the whole frame
  (self-consistent with the pixels, so a mono viewer still opens it) and the
  layout is carried by ``GSpherical:StereoMode`` (``top-bottom``/``left-right``,
  the V1 RFC's vocabulary) in the same XMP packet, and by the ``_TB``/``_LR``
  name suffix that headset photo viewers go by (``dreamvideo.layout.vr_name``).

Damaged metadata in an input is ignored with one ``warnings.warn`` and treated as
absent: it never stops a run and, since outputs get freshly built boxes (any old
``st3d``/``sv3d``/V1 box is dropped first), it is never copied into an output.

Conventions: stereo layouts use the settings' names (``none``, ``top-bottom``:
left eye on top, ``left-right``: left eye on the left).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import warnings
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

from .atomic import AtomicFile

__all__ = [
    "METADATA_SOURCE",
    "SPHERICAL_UUID",
    "SphericalInfo",
    "SphericalMetadataError",
    "gpano_xmp",
    "inject_spherical",
    "parse_gpano_xmp",
    "parse_v1_xml",
    "read_spherical",
    "read_spherical_image",
    "read_spherical_mp4",
    "spherical_for",
    "stereo_from_matroska",
    "v1_xml",
    "with_image_xmp",
]

SPHERICAL_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
METADATA_SOURCE = "dreamvideo"

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_GSPHERICAL = "http://ns.google.com/videos/1.0/spherical/"
_GPANO = "http://ns.google.com/photos/1.0/panorama/"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_PNG_KEY = b"XML:com.adobe.xmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# V2 st3d stereo_mode byte <-> layout name.
_ST3D = {0: "none", 1: "top-bottom", 2: "left-right", 3: "custom", 4: "right-left"}
_ST3D_CODE = {"none": 0, "top-bottom": 1, "left-right": 2}
# V1 StereoMode text <-> layout name.
_V1_STEREO = {"mono": "none", "top-bottom": "top-bottom", "left-right": "left-right"}
_V1_STEREO_TEXT = {v: k for k, v in _V1_STEREO.items()}
# V2 projection boxes -> projection names.
_PROJECTIONS = {b"equi": "equirectangular", b"cbmp": "cubemap", b"mshp": "mesh"}


class SphericalMetadataError(Exception):
    """The boxes of a file cannot be parsed or rewritten (damaged or unsupported structure)."""


@dataclass(frozen=True)
class SphericalInfo:
    """Spherical metadata of a picture or video track.

    Attributes:
        projection: ``equirectangular`` (the one this project dreams), or as read
            from an input: ``cubemap``, ``mesh``, or another V1 ``ProjectionType``.
        stereo: ``none``, ``top-bottom`` (left eye on top) or ``left-right``
            (left eye on the left); from inputs also ``right-left`` or ``custom``.
        source: where it was read: ``v2`` (sv3d/st3d), ``v1`` (the uuid XML),
            ``gpano`` (XMP of a still), ``ffmpeg`` (Matroska elements and side data
            as FFmpeg reports them, ``dreamvideo.io.streaminfo``); ``dreamvideo`` for
            what this project is about to write.
        cropped: True when the picture covers only part of the sphere
            (non-zero ``equi`` bounds, or GPano cropped area smaller than the full pano).
    """

    projection: str = "equirectangular"
    stereo: str = "none"
    source: str = METADATA_SOURCE
    cropped: bool = False

    @property
    def is_equirect(self) -> bool:
        return self.projection == "equirectangular"

    def to_dict(self) -> dict[str, object]:
        return {"projection": self.projection, "stereo": self.stereo, "source": self.source, "cropped": self.cropped}


def _damaged(name: str, what: str) -> None:
    warnings.warn(f"{name}: damaged spherical metadata ({what}); it is ignored", stacklevel=3)


# ---------------------------------------------------------------------------
# ISO BMFF boxes


@dataclass
class _Box:
    """One box. A leaf keeps its bytes (``raw``, header included); a container its parts.

    Containers are only the boxes on the way to what this module reads or edits;
    everything else stays a leaf and is written back byte for byte.
    """

    type: bytes
    offset: int = 0  # in the file, for messages
    raw: bytes | None = None
    hlen: int = 8
    prefix: bytes = b""  # container: the fields between the header and the first child
    children: list[_Box] | None = None
    tail: bytes = b""  # container: bytes after the last child (QuickTime's 4-byte terminators)

    @property
    def payload(self) -> bytes:
        assert self.raw is not None
        return self.raw[self.hlen :]

    def find(self, *path: bytes) -> list[_Box]:
        """Children (then grandchildren…) along ``path`` types."""
        found = [self]
        for kind in path:
            found = [c for b in found for c in (b.children or []) if c.type == kind]
        return found

    def serialize(self) -> bytes:
        if self.children is None:
            assert self.raw is not None
            return self.raw
        body = self.prefix + b"".join(c.serialize() for c in self.children) + self.tail
        return _header(self.type, len(body)) + body


def _header(kind: bytes, body_len: int) -> bytes:
    if body_len + 8 <= 0xFFFFFFFF:
        return struct.pack(">I4s", body_len + 8, kind)
    return struct.pack(">I4sQ", 1, kind, body_len + 16)


def _leaf(kind: bytes, payload: bytes) -> _Box:
    return _Box(kind, raw=_header(kind, len(payload)) + payload)


def _container(kind: bytes, children: list[_Box], prefix: bytes = b"") -> _Box:
    return _Box(kind, prefix=prefix, children=children)


# Containers descended into, with the length of the fields before their first child.
_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"stsd": 8, b"sv3d": 0, b"proj": 0}
_VISUAL_SAMPLE_ENTRY = 78  # SampleEntry (8) + VisualSampleEntry fields (70), QuickTime's the same


def _parse(data: bytes, start: int, end: int, base: int) -> tuple[list[_Box], bytes]:
    """Parse the boxes in ``data[start:end]`` (``base``: file offset of ``data[0]``).

    Returns the boxes and any trailing bytes too short to be a box.

    Raises:
        SphericalMetadataError: a box claims more bytes than its parent holds.
    """
    boxes: list[_Box] = []
    pos = start
    while end - pos >= 8:
        size, kind = struct.unpack_from(">I4s", data, pos)
        hlen = 8
        if size == 1:
            if end - pos < 16:
                raise SphericalMetadataError(f"truncated box header at byte {base + pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            hlen = 16
        elif size == 0:
            size = end - pos
        if size < hlen or pos + size > end:
            raise SphericalMetadataError(
                f"box {kind.decode('latin-1')!r} at byte {base + pos} claims {size} bytes, "
                f"{end - pos} left in its parent"
            )
        box = _Box(kind, offset=base + pos, raw=data[pos : pos + size], hlen=hlen)
        if kind in _CONTAINERS:
            _descend(box, _CONTAINERS[kind])
        boxes.append(box)
        pos += size
    return boxes, data[pos:end]


def _descend(box: _Box, prefix: int) -> None:
    """Turn a parsed leaf into a container whose children start ``prefix`` bytes into its payload."""
    raw = box.raw
    assert raw is not None
    first = box.hlen + prefix
    if len(raw) < first:
        raise SphericalMetadataError(f"box {box.type.decode('latin-1')!r} at byte {box.offset} is too short")
    box.children, box.tail = _parse(raw, first, len(raw), box.offset)
    box.prefix = raw[box.hlen : first]
    box.raw = None


def _handler(trak: _Box) -> bytes | None:
    """The ``mdia/hdlr`` handler type (``vide``, ``soun``…) of a track."""
    for hdlr in trak.find(b"mdia", b"hdlr"):
        payload = hdlr.payload
        if len(payload) >= 12:
            return payload[8:12]
    return None


def _video_entries(trak: _Box) -> list[_Box]:
    """The sample entries of a video track, parsed as containers (their children: avcC, st3d, sv3d…)."""
    entries = []
    for stsd in trak.find(b"mdia", b"minf", b"stbl", b"stsd"):
        for entry in stsd.children or []:
            if entry.children is None:
                _descend(entry, _VISUAL_SAMPLE_ENTRY)
            entries.append(entry)
    return entries


@dataclass
class _TopBox:
    type: bytes
    offset: int
    size: int
    hlen: int


def _top_level(f: io.BufferedReader, length: int) -> list[_TopBox]:
    """The top-level boxes of an open file; stops quietly at anything that is not a box."""
    boxes: list[_TopBox] = []
    pos = 0
    while length - pos >= 8:
        f.seek(pos)
        head = f.read(16)
        size, kind = struct.unpack_from(">I4s", head)
        hlen = 8
        if size == 1 and len(head) == 16:
            (size,) = struct.unpack_from(">Q", head, 8)
            hlen = 16
        elif size == 0:
            size = length - pos
        if size < hlen or not re.fullmatch(rb"[\x20-\x7e\xa9]{4}", kind):
            break
        boxes.append(_TopBox(kind, pos, size, hlen))  # size may run past a truncated end
        pos += size
    return boxes


_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp", b"sidx", b"moof"}


def _looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _MP4_TOP


def _read_moov(path: Path) -> tuple[_Box | None, list[_TopBox], int]:
    """The parsed ``moov`` (None if there is none), the top-level boxes and the file length."""
    length = path.stat().st_size
    with open(path, "rb") as f:
        top = _top_level(f, length)
        moovs = [b for b in top if b.type == b"moov"]
        if not moovs:
            return None, top, length
        if len(moovs) > 1:
            raise SphericalMetadataError("more than one moov box")
        moov = moovs[0]
        if moov.offset + moov.size > length:
            raise SphericalMetadataError("the moov box runs past the end of the file")
        f.seek(moov.offset)
        data = f.read(moov.size)
    box = _Box(b"moov", offset=moov.offset, raw=data, hlen=moov.hlen)
    _descend(box, 0)
    return box, top, length


# -- reading MP4/MOV ---------------------------------------------------------


def read_spherical_mp4(path: str | os.PathLike) -> SphericalInfo | None:
    """Spherical metadata of the first video track of an MP4/MOV, or None.

    V2 (``st3d``/``sv3d``) is preferred to V1 (the ``uuid`` XML). Damaged boxes give
    one warning and count as absent; a file that is not MP4/MOV gives None.
    """
    path = Path(path)
    name = path.name
    try:
        moov, _, _ = _read_moov(path)
    except SphericalMetadataError as e:
        _damaged(name, str(e))
        return None
    except OSError:
        return None
    if moov is None:
        return None
    for trak in moov.find(b"trak"):
        if _handler(trak) != b"vide":
            continue
        v2 = v1 = None
        try:
            entries = _video_entries(trak)
        except SphericalMetadataError as e:
            _damaged(name, f"video sample entry: {e}")
            entries = []
        for entry in entries[:1]:
            v2 = _read_v2(entry, name)
        for uuid in trak.find(b"uuid"):
            payload = uuid.payload
            if payload[:16] == SPHERICAL_UUID:
                try:
                    v1 = parse_v1_xml(payload[16:].decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    _damaged(name, f"V1 uuid box: {e}")
        return v2 or v1
    return None


def _read_v2(entry: _Box, name: str) -> SphericalInfo | None:
    """Read ``st3d``/``sv3d`` from a video sample entry; warn on damage."""
    stereo = "none"
    st3d = [c for c in entry.children or [] if c.type == b"st3d"]
    sv3d = [c for c in entry.children or [] if c.type == b"sv3d"]
    if st3d:
        payload = st3d[0].payload
        if len(payload) < 5 or payload[0] != 0:
            _damaged(name, "st3d box is too short or of an unknown version")
            return None  # the layout is unknown: V2 as a whole cannot be trusted
        stereo = _ST3D.get(payload[4], f"unknown ({payload[4]})")
    if not sv3d:
        return None
    box = sv3d[0]
    if box.children is None:  # could not be parsed as a container
        _damaged(name, "sv3d box")
        return None
    projs = box.find(b"proj")
    if not projs or not box.find(b"svhd"):
        _damaged(name, "sv3d box without svhd or proj")
        return None
    kinds = [c for c in projs[0].children or [] if c.type in _PROJECTIONS]
    if len(kinds) != 1 or not projs[0].find(b"prhd"):
        _damaged(name, "proj box needs one prhd and exactly one projection box")
        return None
    data = kinds[0]
    cropped = False
    if data.type == b"equi":
        payload = data.payload
        if len(payload) < 20 or payload[0] != 0:
            _damaged(name, "equi box is too short or of an unknown version")
            return None
        cropped = any(struct.unpack_from(">4I", payload, 4))
    return SphericalInfo(_PROJECTIONS[data.type], stereo, "v2", cropped)


# -- V1 XML --------------------------------------------------------------------


def v1_xml(stereo: str = "none", *, width: int | None = None, height: int | None = None) -> str:
    """The V1 ``rdf:SphericalVideo`` XML for an equirectangular video of ``width`` x ``height``.

    The cropped-area and full-pano sizes are per eye, as the V1 RFC's stereo table says.
    """
    if stereo not in _V1_STEREO_TEXT:
        raise ValueError(f"stereo layout {stereo!r} cannot be written")
    fields = [
        ("Spherical", "true"),
        ("Stitched", "true"),
        ("StitchingSoftware", METADATA_SOURCE),
        ("ProjectionType", "equirectangular"),
        ("StereoMode", _V1_STEREO_TEXT[stereo]),
    ]
    if width and height:
        w = width // 2 if stereo == "left-right" else width
        h = height // 2 if stereo == "top-bottom" else height
        fields += [
            ("CroppedAreaImageWidthPixels", w),
            ("CroppedAreaImageHeightPixels", h),
            ("FullPanoWidthPixels", w),
            ("FullPanoHeightPixels", h),
            ("CroppedAreaLeftPixels", 0),
            ("CroppedAreaTopPixels", 0),
        ]
    body = "".join(f"<GSpherical:{k}>{v}</GSpherical:{k}>" for k, v in fields)
    return (
        '<?xml version="1.0"?>'
        f'<rdf:SphericalVideo xmlns:rdf="{_RDF}" xmlns:GSpherical="{_GSPHERICAL}">{body}</rdf:SphericalVideo>'
    )


def parse_v1_xml(text: str) -> SphericalInfo | None:
    """Parse V1 XML; None unless ``Spherical`` is true.

    Raises:
        ValueError: not well-formed XML.
    """
    root = _xml(text.strip().strip("\x00"))
    values = {
        el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter() if el.tag.startswith("{" + _GSPHERICAL)
    }
    if values.get("Spherical", "").lower() != "true":
        return None
    stereo_text = values.get("StereoMode", "mono").lower()
    stereo = _V1_STEREO.get(stereo_text, f"unknown ({stereo_text})")
    projection = values.get("ProjectionType", "equirectangular").lower() or "equirectangular"
    return SphericalInfo(projection, stereo, "v1", _v1_cropped(values))


def _xml(text: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:  # a SyntaxError, not a ValueError
        raise ValueError(f"not well-formed XML: {e}") from None


def _v1_cropped(values: dict[str, str]) -> bool:
    try:
        crop = [int(values[k]) for k in ("CroppedAreaImageWidthPixels", "CroppedAreaImageHeightPixels")]
        full = [int(values[k]) for k in ("FullPanoWidthPixels", "FullPanoHeightPixels")]
    except (KeyError, ValueError):
        return False
    return crop[0] < full[0] or crop[1] < full[1]


def stereo_from_matroska(value: str | None) -> str:
    """Layout name for FFmpeg's Matroska ``stereo_mode`` tag (``top_bottom``, ``1``…)."""
    if not value:
        return "none"
    text = value.strip().lower()
    names = {"mono": "none", "0": "none", "left_right": "left-right", "1": "left-right"}
    names |= {"top_bottom": "top-bottom", "3": "top-bottom", "right_left": "right-left", "11": "right-left"}
    return names.get(text, f"unknown ({value})")


# -- writing MP4/MOV -------------------------------------------------------------


def _v2_boxes(stereo: str) -> list[_Box]:
    st3d = _leaf(b"st3d", struct.pack(">IB", 0, _ST3D_CODE[stereo]))
    svhd = _leaf(b"svhd", b"\x00\x00\x00\x00" + METADATA_SOURCE.encode() + b"\x00")
    prhd = _leaf(b"prhd", struct.pack(">I3i", 0, 0, 0, 0))
    equi = _leaf(b"equi", struct.pack(">I4I", 0, 0, 0, 0, 0))
    return [st3d, _container(b"sv3d", [svhd, _container(b"proj", [prhd, equi])])]


# Optional boxes that end a VisualSampleEntry: st3d/sv3d go before them (V2 RFC).
_TRAILING = {b"clap", b"pasp", b"btrt"}


def inject_spherical(
    path: str | os.PathLike,
    info: SphericalInfo,
    *,
    width: int | None = None,
    height: int | None = None,
    v1: bool = True,
    v2: bool = True,
) -> None:
    """Write spherical metadata into the first video track of the MP4/MOV at ``path``.

    Any spherical boxes already there are replaced. When ``moov`` comes before the
    media data (faststart), every ``stco``/``co64`` chunk offset behind it is moved
    by the growth (``stco`` becomes ``co64`` when an offset passes 4 GiB). A file
    whose ``moov`` is last is rewritten in place from the ``moov`` on; otherwise a
    copy is written beside it and renamed over it. On failure the file is as it was.

    Args:
        width, height: frame size, for the V1 XML's per-eye sizes (optional).

    Raises:
        SphericalMetadataError: no ``moov`` or no video track, fragmented MP4, boxes
            that cannot be parsed; or ``info`` is not an equirectangular layout.
        OSError: the file cannot be read or written.
    """
    if not info.is_equirect or info.stereo not in _ST3D_CODE:
        raise SphericalMetadataError(f"cannot write {info.projection} {info.stereo} metadata")
    path = Path(path)
    moov, top, _ = _read_moov(path)
    if moov is None:
        raise SphericalMetadataError("no moov box")
    if any(b.type == b"moof" for b in top):
        raise SphericalMetadataError("fragmented MP4 is not supported")
    old = next(b for b in top if b.type == b"moov")
    old_offset, old_size = old.offset, old.size

    traks = [t for t in moov.find(b"trak") if _handler(t) == b"vide"]
    if not traks:
        raise SphericalMetadataError("no video track")
    trak = traks[0]
    for entry in _video_entries(trak):
        entry.children = [c for c in entry.children or [] if c.type not in (b"st3d", b"sv3d")]
        if v2:
            at = next((i for i, c in enumerate(entry.children) if c.type in _TRAILING), len(entry.children))
            entry.children[at:at] = _v2_boxes(info.stereo)
    trak.children = [c for c in trak.children or [] if not _is_v1(c)]
    if v1:
        xml = v1_xml(info.stereo, width=width, height=height).encode()
        trak.children.append(_leaf(b"uuid", SPHERICAL_UUID + xml))

    moov_is_last = all(b.offset < old_offset for b in top if b.type != b"moov")
    new = _shift_chunk_offsets(moov, old_offset + old_size, old_size, shift=not moov_is_last)
    if moov_is_last:
        _rewrite_tail(path, old_offset, new)
    else:
        _rewrite_copy(path, old_offset, old_size, new)


def _is_v1(box: _Box) -> bool:
    return box.type == b"uuid" and box.payload[:16] == SPHERICAL_UUID


def _shift_chunk_offsets(moov: _Box, data_after: int, old_size: int, *, shift: bool) -> bytes:
    """Serialise ``moov``, moving chunk offsets ``>= data_after`` by its growth when ``shift``.

    The growth depends on whether some ``stco`` must become ``co64``, so repeat until stable.
    """
    tables = []  # [stbl, index of the offset box, offsets, 64-bit]
    for stbl in moov.find(b"trak", b"mdia", b"minf", b"stbl"):
        for i, box in enumerate(stbl.children or []):
            if box.type in (b"stco", b"co64"):
                payload = box.payload
                if len(payload) < 8:
                    raise SphericalMetadataError(f"{box.type.decode()} box is too short")
                (count,) = struct.unpack_from(">I", payload, 4)
                fmt = ">%d%s" % (count, "I" if box.type == b"stco" else "Q")
                if len(payload) < 8 + struct.calcsize(fmt):
                    raise SphericalMetadataError(f"{box.type.decode()} box is shorter than its entry count")
                tables.append([stbl, i, list(struct.unpack_from(fmt, payload, 8)), box.type == b"co64"])
    while True:
        delta = len(moov.serialize()) - old_size if shift else 0
        for table in tables:
            stbl, i, offsets, wide = table
            moved = [o + delta if o >= data_after else o for o in offsets]
            if max(moved, default=0) > 0xFFFFFFFF:
                table[3] = wide = True
            kind, code = (b"co64", "Q") if wide else (b"stco", "I")
            stbl.children[i] = _leaf(kind, struct.pack(">II%d%s" % (len(moved), code), 0, len(moved), *moved))
        data = moov.serialize()
        if not shift or len(data) - old_size == delta:
            return data


def _rewrite_tail(path: Path, offset: int, moov: bytes) -> None:
    """Replace the last box (``moov``) of the file in place; restore it if writing fails."""
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read()
        try:
            f.seek(offset)
            f.write(moov)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.seek(offset)
            f.truncate()
            f.write(old)
            f.flush()
            raise


def _rewrite_copy(path: Path, offset: int, old_size: int, moov: bytes) -> None:
    """Write the file with a new ``moov`` beside it, then rename it over the original (``io.atomic``)."""
    with AtomicFile(path) as tmp, open(path, "rb") as src, open(tmp, "xb") as dst:
        _copy(src, dst, offset)
        dst.write(moov)
        src.seek(offset + old_size)
        shutil.copyfileobj(src, dst, 1 << 20)


def _copy(src, dst, count: int) -> None:
    while count > 0:
        chunk = src.read(min(count, 1 << 20))
        if not chunk:
            raise SphericalMetadataError("the file ended early")
        dst.write(chunk)
        count -= len(chunk)


# ---------------------------------------------------------------------------
# Stills: GPano XMP in JPEG and PNG


def gpano_xmp(width: int, height: int, stereo: str = "none") -> str:
    """An XMP packet marking a ``width`` x ``height`` image as a full equirectangular panorama.

    The sizes describe the whole image; a stereo layout goes in ``GSpherical:StereoMode``
    (see the module docstring).
    """
    if stereo not in _V1_STEREO_TEXT:
        raise ValueError(f"stereo layout {stereo!r} cannot be written")
    attrs = {
        "GPano:ProjectionType": "equirectangular",
        "GPano:UsePanoramaViewer": "True",
        "GPano:CroppedAreaImageWidthPixels": width,
        "GPano:CroppedAreaImageHeightPixels": height,
        "GPano:FullPanoWidthPixels": width,
        "GPano:FullPanoHeightPixels": height,
        "GPano:CroppedAreaLeftPixels": 0,
        "GPano:CroppedAreaTopPixels": 0,
    }
    if stereo != "none":
        attrs["GSpherical:StereoMode"] = _V1_STEREO_TEXT[stereo]
    text = "\n    ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{_RDF}">\n'
        f'  <rdf:Description rdf:about="" xmlns:GPano="{_GPANO}" xmlns:GSpherical="{_GSPHERICAL}"\n'
        f"    {text}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def parse_gpano_xmp(text: str) -> SphericalInfo | None:
    """Read GPano (and ``GSpherical:StereoMode``) from an XMP packet; None without GPano.

    Properties may be attributes of ``rdf:Description`` or child elements.

    Raises:
        ValueError: the packet is not well-formed XML.
    """
    start = text.find("<x:xmpmeta")
    end = text.rfind("</x:xmpmeta>")
    if start >= 0 and end > start:
        text = text[start : end + len("</x:xmpmeta>")]
    root = _xml(text)
    values: dict[str, str] = {}
    for el in root.iter():
        for key, value in el.attrib.items():
            values[key] = value
        if el.text and el.text.strip():
            values[el.tag] = el.text.strip()

    def get(ns: str, name: str) -> str | None:
        return values.get(f"{{{ns}}}{name}")

    projection = get(_GPANO, "ProjectionType")
    if projection is None:
        return None
    stereo_text = (get(_GSPHERICAL, "StereoMode") or "mono").lower()
    stereo = _V1_STEREO.get(stereo_text, f"unknown ({stereo_text})")
    cropped = _v1_cropped(
        {
            k: get(_GPANO, k) or ""
            for k in (
                "CroppedAreaImageWidthPixels",
                "CroppedAreaImageHeightPixels",
                "FullPanoWidthPixels",
                "FullPanoHeightPixels",
            )
        }
    )
    return SphericalInfo(projection.lower(), stereo, "gpano", cropped)


def with_image_xmp(data: bytes, xmp: str, kind: str) -> bytes:
    """Encoded image bytes with an XMP packet added (any earlier XMP removed).

    ``kind`` is ``JPEG`` (an APP1 segment after SOI and JFIF/EXIF) or ``PNG`` (an
    uncompressed ``iTXt`` chunk before the first ``IDAT``).
    """
    packet = xmp.encode("utf-8")
    if kind == "JPEG":
        segments, rest = _jpeg_segments(data)
        kept = [s for s in segments if not (s[0] == 0xE1 and s[1].startswith(_XMP_JPEG))]
        body = _XMP_JPEG + packet
        if len(body) + 2 > 0xFFFF:
            raise ValueError("XMP packet too large for one JPEG segment")
        at = 0
        while at < len(kept) and kept[at][0] in (0xE0, 0xE1):  # after JFIF / EXIF
            at += 1
        kept.insert(at, (0xE1, body))
        out = [b"\xff\xd8"] + [struct.pack(">BBH", 0xFF, m, len(p) + 2) + p for m, p in kept]
        return b"".join(out) + rest
    if kind == "PNG":
        chunks = [c for c in _png_chunks(data) if not (c[0] == b"iTXt" and c[1].startswith(_XMP_PNG_KEY + b"\x00"))]
        itxt = (b"iTXt", _XMP_PNG_KEY + b"\x00\x00\x00" + b"\x00" + b"\x00" + packet)
        at = next((i for i, c in enumerate(chunks) if c[0] == b"IDAT"), None)
        if at is None:
            raise ValueError("PNG without image data")
        chunks.insert(at, itxt)
        out = [_PNG_SIGNATURE]
        for kind_, body in chunks:
            out.append(struct.pack(">I", len(body)) + kind_ + body + struct.pack(">I", zlib.crc32(kind_ + body)))
        return b"".join(out)
    raise ValueError(f"no XMP support for {kind}")


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments before the scan ``(marker, payload)``, and the bytes from SOS on.

    Raises:
        ValueError: not a JPEG, or a segment runs past the end.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos, segments = 2, []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: the rest is entropy-coded data
            return segments, data[pos:]
        (size,) = struct.unpack_from(">H", data, pos + 2)
        if size < 2 or pos + 2 + size > len(data):
            raise ValueError(f"JPEG segment at byte {pos} runs past the end")
        segments.append((marker, data[pos + 4 : pos + 2 + size]))
        pos += 2 + size
    raise ValueError("JPEG ends before its image data")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, data)`` of every PNG chunk (CRC checked).

    Raises:
        ValueError: not a PNG, a chunk past the end, or a bad CRC.
    """
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG")
    pos, chunks = 8, []
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"PNG chunk {kind!r} runs past the end")
        body = data[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, pos + 8 + length)[0]:
            raise ValueError(f"PNG chunk {kind!r} has a bad CRC")
        chunks.append((kind, body))
        pos = end
        if kind == b"IEND":
            break
    return chunks


def _xmp_of_png(chunks: list[tuple[bytes, bytes]]) -> str | None:
    for kind, body in chunks:
        if kind == b"iTXt" and body.startswith(_XMP_PNG_KEY + b"\x00"):
            rest = body[len(_XMP_PNG_KEY) + 1 :]
            compressed, text = rest[0], rest[2:]
            text = text.split(b"\x00", 2)[-1]  # skip language tag and translated keyword
            return (zlib.decompress(text) if compressed else text).decode("utf-8")
    return None


def read_spherical_image(path: str | os.PathLike) -> SphericalInfo | None:
    """GPano metadata of a JPEG or PNG, or None; damaged metadata warns and counts as absent."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        if data[:2] == b"\xff\xd8":
            segments, _ = _jpeg_segments(data)
            xmps = [p[len(_XMP_JPEG) :] for m, p in segments if m == 0xE1 and p.startswith(_XMP_JPEG)]
            text = xmps[0].decode("utf-8") if xmps else None
        elif data[:8] == _PNG_SIGNATURE:
            text = _xmp_of_png(_png_chunks(data))
        else:
            return None
        return parse_gpano_xmp(text) if text else None
    except (ValueError, UnicodeDecodeError, zlib.error, IndexError) as e:
        _damaged(path.name, f"XMP: {e}")
        return None


def read_spherical(path: str | os.PathLike) -> SphericalInfo | None:
    """Spherical metadata of an MP4/MOV (V2, else V1), JPEG or PNG (GPano) file, else None.

    Never raises for damaged metadata (a warning, then None); other containers give None
    (``dreamvideo.io`` reads Matroska's tags through FFmpeg).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:2] == b"\xff\xd8" or head[:8] == _PNG_SIGNATURE:
        return read_spherical_image(path)
    if _looks_like_mp4(head):
        return read_spherical_mp4(path)
    return None


def spherical_for(projection: str, stereo: str) -> SphericalInfo | None:
    """The metadata an output of a run's layout carries (``spherical_for(*layout)``): None for flat."""
    if projection != "equirect":
        return None
    return SphericalInfo("equirectangular", stereo, METADATA_SOURCE)
