"""What a media file holds, for ``dreamvideo probe FILE [--json]``."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from dreamvideo.errors import MediaError
from dreamvideo.io import streaminfo
from dreamvideo.io._util import av_reason, check_input_file, is_stream

__all__ = ["probe", "format_probe"]


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """Describe a media file as a JSON-serialisable dict.

    Keys: ``path``, ``kind`` (``image`` for a still picture, else ``video``), ``format``,
    ``format_name``, ``duration`` (s), ``size`` (bytes),
    ``bit_rate``, ``metadata`` and ``streams``, a list of dicts with ``index``,
    ``type``, ``codec``, ``codec_name``, ``decoder``, ``profile``, ``bit_rate``, ``language``,
    ``metadata``; video streams add ``width`` and ``height`` (upright, after
    ``rotation``), ``pix_fmt``, ``rate`` (exact, e.g. ``"30000/1001"``; the rate the
    decoder uses, see ``streaminfo.frame_rate``), ``constant_rate``, ``average_rate``,
    ``time_base``, ``frame_count``, ``rotation``, ``spherical`` (None, or a dict with
    ``projection``, ``stereo``, ``source``, ``cropped``; the first video stream only);
    audio streams add ``sample_rate``, ``channels``, ``layout``, ``sample_fmt``.

    Raises:
        MediaError: the file is missing or FFmpeg cannot read it.
    """
    path = str(path)
    if not is_stream(path):
        check_input_file(path)
    try:
        container = av.open(path, mode="r")
    except av.FFmpegError as e:
        raise MediaError(f"cannot read {path}: {av_reason(e)}") from e
    with container:
        streams = [_stream(path, container, s) for s in container.streams]
        still = _is_still(container, streams)
        return {
            "path": path,
            "kind": "image" if still else "video",
            "format": container.format.name,
            # FFmpeg calls a picture a "piped png sequence" at 25 fps: it is one still.
            "format_name": f"{_still_codec(streams)} image" if still else container.format.long_name,
            "duration": container.duration / av.time_base if container.duration else None,
            "size": container.size if container.size and container.size > 0 else None,
            "bit_rate": container.bit_rate or None,
            "metadata": dict(container.metadata),
            "streams": streams,
        }


# FFmpeg's demuxers of single pictures (a still image read as a one-frame "sequence").
_STILL_DEMUXERS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "tiff_pipe", "bmp_pipe", "jpegls_pipe", "qoi_pipe")


def _is_still(container: av.container.InputContainer, streams: list[dict[str, Any]]) -> bool:
    """A picture file: one of FFmpeg's image demuxers, one video stream of at most one frame."""
    video = [s for s in streams if s["type"] == "video"]
    return container.format.name in _STILL_DEMUXERS and len(streams) == 1 and len(video) == 1


def _still_codec(streams: list[dict[str, Any]]) -> str:
    codec = streams[0]["codec"] or "unknown"
    return {"mjpeg": "JPEG"}.get(codec, codec.upper())


def _ratio(value: Fraction | None) -> str | None:
    """``"30000/1001"`` style, or None."""
    return None if not value else f"{value.numerator}/{value.denominator}"


def _stream(path: str, container: av.container.InputContainer, stream: av.stream.Stream) -> dict[str, Any]:
    ctx = stream.codec_context
    info: dict[str, Any] = {
        "index": stream.index,
        "type": stream.type,
        "codec": ctx.codec.canonical_name if ctx is not None else None,
        "codec_name": ctx.codec.long_name if ctx is not None else None,
        "decoder": ctx.name if ctx is not None else None,
        "profile": stream.profile,
        "bit_rate": (ctx.bit_rate if ctx is not None else None) or None,
        "language": stream.language,
        "duration": float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None,
        "metadata": dict(stream.metadata),
    }
    if stream.type == "video":
        first = _first_frame(container, stream)
        rotation = streaminfo.rotation(first, stream)
        rate, constant = streaminfo.frame_rate(stream)
        width, height = (ctx.height, ctx.width) if rotation % 180 else (ctx.width, ctx.height)
        sphere = None
        if stream is container.streams.video[0]:
            sphere = streaminfo.spherical(path, container, first)
        info |= {
            "width": width,
            "height": height,
            "pix_fmt": ctx.pix_fmt,
            "rate": _ratio(rate),
            "constant_rate": constant,
            "average_rate": _ratio(stream.average_rate),
            "time_base": _ratio(stream.time_base),
            "frame_count": stream.frames or None,
            "rotation": rotation,
            "spherical": sphere.to_dict() if sphere is not None else None,
        }
    elif stream.type == "audio":
        info |= {
            "sample_rate": ctx.sample_rate,
            "channels": ctx.channels,
            "layout": ctx.layout.name if ctx.layout else None,
            "sample_fmt": ctx.format.name if ctx.format else None,
        }
    return info


def _first_frame(container: av.container.InputContainer, stream: av.stream.Stream) -> av.VideoFrame | None:
    """The first decodable frame of ``stream`` (None if none decodes)."""
    try:
        container.seek(0)
    except av.FFmpegError:
        pass
    try:
        return next(container.decode(stream), None)
    except av.FFmpegError:
        return None


def format_probe(info: dict[str, Any]) -> str:
    """Human-readable lines for a ``probe`` result."""
    if info.get("kind") == "image":
        return _format_still(info)
    head = [Path(info["path"]).name + ":", info["format_name"] or info["format"]]
    if info["duration"] is not None:
        head.append(f"{info['duration']:.3f} s")
    if info["size"]:
        head.append(_bytes(info["size"]))
    lines = [" ".join(head[:1]) + " " + ", ".join(head[1:])]
    for s in info["streams"]:
        parts = [s["codec"] or "unknown"]
        if s["profile"]:
            parts[0] += f" ({s['profile']})"
        if s["type"] == "video":
            parts.append(f"{s['width']}x{s['height']}")
            if s["pix_fmt"]:
                parts.append(s["pix_fmt"])
            if s["rate"]:
                num, den = (int(x) for x in s["rate"].split("/"))
                parts.append(f"{s['rate']} fps ({num / den:.3f})")
            if s["average_rate"] and s["average_rate"] != s["rate"]:
                parts.append(f"average {s['average_rate']}")
            if not s["constant_rate"]:
                parts.append("variable rate")
            if s["frame_count"]:
                parts.append(f"{s['frame_count']} frames")
            if s["rotation"]:
                parts.append(f"rotated {s['rotation']}° (size shown upright)")
            if s.get("spherical"):
                parts.append(_describe_spherical(s["spherical"]))
        elif s["type"] == "audio":
            parts.append(f"{s['sample_rate']} Hz")
            layout = s["layout"] if s["layout"] and "channel" not in s["layout"] else None
            parts.append(
                f"{s['channels']} channel{'s' if s['channels'] != 1 else ''}" + (f" ({layout})" if layout else "")
            )
        if s["bit_rate"]:
            parts.append(f"{s['bit_rate'] // 1000} kb/s")
        if s["language"] and s["language"] != "und":
            parts.append(s["language"])
        lines.append(f"  #{s['index']} {s['type']}: " + ", ".join(parts))
    for key, value in info["metadata"].items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _format_still(info: dict[str, Any]) -> str:
    """A still picture: its size and pixel format, and whether a dream treats it as 360°."""
    s = info["streams"][0]
    parts = [info["format_name"], f"{s['width']}x{s['height']}"]
    if s["pix_fmt"]:
        parts.append(s["pix_fmt"])
    if info["size"]:
        parts.append(_bytes(info["size"]))
    lines = [f"{Path(info['path']).name}: " + ", ".join(parts)]
    sphere = s.get("spherical")
    if sphere and sphere["projection"] == "equirectangular" and not sphere["cropped"]:
        lines.append(f"  360°: yes, {_describe_spherical(sphere)[5:]}: `image` dreams it as a panorama")
    elif sphere:
        lines.append(f"  360°: {_describe_spherical(sphere)[5:]}, which is dreamed as a flat picture")
    else:
        shape = "; it is 2:1, as an equirect panorama is" if s["width"] == 2 * s["height"] else ""
        lines.append(
            "  360°: no (no GPano XMP): dreamed as a flat picture unless --projection equirect is given" + shape
        )
    for key, value in info["metadata"].items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _describe_spherical(sphere: dict[str, Any]) -> str:
    """``360° equirectangular, stereo top-bottom (spherical V2)`` style."""
    text = f"360° {sphere['projection']}"
    if sphere["cropped"]:
        text += " (cropped)"
    text += ", mono" if sphere["stereo"] == "none" else f", stereo {sphere['stereo']}"
    source = {"v2": "spherical V2", "v1": "spherical V1", "gpano": "GPano XMP", "ffmpeg": "container"}.get(sphere["source"], sphere["source"])
    return f"{text} ({source})"


def _bytes(n: float) -> str:
    units = ("B", "KB", "MB", "GB", "TB")
    for unit in units:
        if n < 1000 or unit == units[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
