"""What a video stream says about itself: rotation, frame rate, spherical metadata.

One function each, used by both the decoder (``VideoReader``) and ``probe``, so the
two never disagree.
"""

from __future__ import annotations

import struct
import warnings
from fractions import Fraction
from pathlib import Path

import av

from dreamvideo.io._util import is_stream
from dreamvideo.io.spherical import (
    SphericalInfo,
    parse_v1_xml,
    read_spherical,
    stereo_from_matroska,
)

__all__ = ["CFR_TOLERANCE", "frame_rate", "rotation", "spherical"]

# Relative difference under which the average and nominal rates count as one constant rate.
CFR_TOLERANCE = 1e-4

# FFmpeg's AVSphericalProjection and AVStereo3DType values (libavutil, stable ABI).
_AV_PROJECTIONS = {0: "equirectangular", 1: "cubemap", 2: "equirectangular"}
_AV_STEREO = {0: "none", 1: "left-right", 2: "top-bottom"}


def rotation(first: av.VideoFrame | None, stream: av.video.stream.VideoStream) -> int:
    """Counter-clockwise degrees (0, 90, 180, 270) that make the picture upright.

    From the first decoded frame's display matrix, else the stream's old ``rotate``
    tag (which is clockwise).
    """
    degrees = first.rotation if first is not None else 0
    if not degrees and "rotate" in stream.metadata:
        try:
            degrees = -float(stream.metadata["rotate"])
        except ValueError:
            degrees = 0
    return round(degrees / 90) % 4 * 90


def frame_rate(stream: av.video.stream.VideoStream) -> tuple[Fraction, bool]:
    """``(rate, constant)``: the exact rate (30000/1001 stays so) and whether it is constant.

    A stream is constant-rate when its average rate matches its nominal (base) rate;
    then the nominal rate is exact. Otherwise (variable rate, or a container such
    as Matroska claiming a rate the timestamps do not keep) the average rate is the
    honest figure. 25 when the stream says nothing.
    """
    average, nominal = stream.average_rate, stream.base_rate
    constant = bool(average and nominal and abs(average / nominal - 1) < CFR_TOLERANCE)
    rate = nominal if constant else average or nominal or stream.guessed_rate or Fraction(25)
    return Fraction(rate), constant


def spherical(
    source: str, container: av.container.InputContainer, first: av.VideoFrame | None
) -> SphericalInfo | None:
    """Spherical/stereo metadata of the first video stream, or None.

    MP4/MOV files are read with the project's own box reader
    (``io.spherical``; V2 before V1; damaged boxes warn and count as absent,
    whatever FFmpeg makes of them). Other containers (Matroska/WebM, streams) go by
    what FFmpeg reports: the V1 ``spherical-video`` tag, the ``stereo_mode`` tag and
    the spherical/stereo side data of the first frame.
    """
    name = container.format.name
    if not is_stream(source) and ("mp4" in name.split(",") or "mov" in name.split(",")):
        return read_spherical(source)
    if not is_stream(source) and name in ("png_pipe", "jpeg_pipe", "image2"):
        return read_spherical(source)
    stream = container.streams.video[0]
    tags = {k.lower(): v for k, v in stream.metadata.items()}
    info = None
    if "spherical-video" in tags:
        try:
            info = parse_v1_xml(tags["spherical-video"])
        except ValueError:
            warnings.warn(f"{Path(source).name}: damaged spherical metadata (V1 tag); it is ignored", stacklevel=2)
    projection, stereo = (info.projection, info.stereo) if info else (None, None)
    cropped = info.cropped if info else False
    for data in first.side_data if first is not None else ():
        raw = bytes(data)
        if data.type == av.sidedata.sidedata.Type.SPHERICAL and len(raw) >= 4:
            (code,) = struct.unpack_from("=I", raw)
            projection = _AV_PROJECTIONS.get(code, f"unknown ({code})")
            cropped = cropped or code == 2
        elif data.type == av.sidedata.sidedata.Type.STEREO3D and len(raw) >= 4:
            (code,) = struct.unpack_from("=i", raw)
            stereo = _AV_STEREO.get(code, f"unknown ({code})")
    if stereo is None and "stereo_mode" in tags:
        stereo = stereo_from_matroska(tags["stereo_mode"])
    if projection is None:
        return None
    return SphericalInfo(projection, stereo or "none", "ffmpeg" if info is None else "v1", cropped)
