"""Video encoding with PyAV, with the source's audio copied in unchanged."""

from __future__ import annotations

import contextlib
import struct
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io._util import (
    SWS_ACCURATE_RND,
    SWS_BICUBIC,
    SWS_FULL_CHR_H_INP,
    av_reason,
    check_input_file,
    is_stream,
    is_url,
)
from dreamvideo.io.atomic import AtomicFile
from dreamvideo.io.spherical import SphericalInfo, SphericalMetadataError, inject_spherical, v1_xml

__all__ = ["Codec", "CODECS", "CONTAINERS", "VideoWriter", "check_video_output", "open_writer"]


# RGB -> subsampled chroma: a bicubic filter over full-resolution input, accurately rounded.
# swscale's default aliases a dream's fine colour detail, which then crawls as it moves. With the
# decoder's chroma interpolation (``decode._CHROMA``), dreams of the test clips encoded at crf 18
# (PSNR against the clean RGB frames; warp error ratio, flow-guided over independent dream): the
# camera path's source 33.69 -> 33.82 dB, its dream 27.55 -> 27.63 dB, warp ratio 0.402 -> 0.363
# (the sample pan's first shot 0.281 -> 0.247). A Gaussian filter was steadier still (0.353) but
# blurred: 33.23 / 26.85 dB.
_CHROMA = SWS_BICUBIC | SWS_FULL_CHR_H_INP | SWS_ACCURATE_RND


@dataclass(frozen=True)
class Codec:
    """How one ``--codec`` choice is encoded.

    Attributes:
        encoder: FFmpeg encoder name.
        pix_fmts: pixel formats in order of preference; the first the build supports is used.
        crf: default constant rate factor, or None for codecs without one.
        options: encoder options.
        tag: codec tag for MP4/MOV (``hvc1`` so Apple players accept HEVC).
        containers: extensions that can hold it, or None for any.
        live_options: encoder options for a live output, where each frame must come out as it
            goes in (no look-ahead, no reordering).
    """

    encoder: str
    pix_fmts: tuple[str, ...]
    crf: int | None
    options: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    containers: tuple[str, ...] | None = None
    live_options: dict[str, str] = field(default_factory=dict)


CODECS: dict[str, Codec] = {
    # x264 and x265 hold back tens of frames (look-ahead, B-frames) unless tuned for zero latency.
    "h264": Codec("libx264", ("yuv420p",), crf=18, live_options={"tune": "zerolatency"}),
    "h265": Codec(
        "libx265",
        ("yuv420p10le", "yuv420p"),
        crf=20,
        options={"x265-params": "log-level=error"},
        tag="hvc1",
        live_options={"tune": "zerolatency"},
    ),
    "prores": Codec("prores_ks", ("yuv422p10le",), crf=None, options={"profile": "3"}, containers=(".mov",)),
}

#: Extension → FFmpeg muxer: the containers the writer produces correctly (rate, timestamps,
#: frame count; tested with ffprobe). Others are refused before any work: AVI, for one,
#: stores the stream time base as its rate and counts frames wrongly.
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts"}

# Container metadata that the muxer writes itself; copying it would describe the source file.
_MUXER_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder", "creation_time"}
# Stream tags worth copying to the audio streams of the output.
_STREAM_KEYS = {"language", "title", "handler_name"}
# Matroska's StereoMode names (FFmpeg's ``stereo_mode`` stream tag) for the layouts.
_MATROSKA_STEREO = {"none": "mono", "top-bottom": "top_bottom", "left-right": "left_right"}
# A live output is written as it goes: every packet flushed to the file or stream, Matroska in a
# cluster per frame, MP4/MOV fragmented (a fragment per frame), so another program can follow it
# and a stopped run leaves a playable file.
_LIVE_MUXER_OPTIONS = {
    "matroska": {"cluster_size_limit": "0"},
    "mp4": {"movflags": "frag_every_frame+empty_moov+default_base_moof"},
    "mov": {"movflags": "frag_every_frame+empty_moov+default_base_moof"},
}
# Muxer for URL schemes whose address says nothing about the format.
_URL_FORMATS = {
    "udp": "mpegts",
    "tcp": "mpegts",
    "srt": "mpegts",
    "rist": "mpegts",
    "rtp": "rtp_mpegts",
    "rtmp": "flv",
    "rtmps": "flv",
    "rtsp": "rtsp",
}


def open_writer(
    output: str,
    *,
    width: int,
    height: int,
    rate: Fraction,
    time_base: Fraction,
    codec: str = "h264",
    crf: int | None = None,
    audio_from: str | None = None,
    audio_span: tuple[float, float | None] | None = None,
    metadata: dict[str, str] | None = None,
    spherical: SphericalInfo | None = None,
    live: bool = False,
) -> VideoWriter:
    """Open a video for writing ``uint8 (H, W, 3)`` RGB frames.

    Args:
        output: a path, ``-`` for MPEG-TS on stdout, or a URL (MPEG-TS for udp/tcp/srt).
        width, height: frame size; even for the 4:2:0 codecs.
        rate: exact frame rate written as the stream's rate (30000/1001 stays so).
        time_base: unit of the pts given to ``write``.
        codec: a key of ``CODECS``.
        crf: quality (lower is better); the codec's default when None.
        audio_from: copy every audio stream of this file, packets unchanged. Only a
            regular file: from ``-`` or a URL the audio is skipped with a warning, since
            the stream cannot be read a second time.
        audio_span: ``[start, end)`` in source seconds to cut the audio to (``end``
            None: to the end); ``start`` becomes output time 0. Given here, audio is
            interleaved with the video as it is written; otherwise it is held back
            until ``set_audio_span`` or ``close`` (default: from the source's first
            video frame to its end).
        metadata: container metadata, on top of what is copied from ``audio_from``;
            keys the muxer writes itself (encoder, brands, creation_time) are dropped.
        spherical: mark the output as a 360° equirectangular video (None: flat).
            MP4/MOV get Spherical Video V2 (``st3d``, ``sv3d``) and V1 (the ``uuid``
            XML), written by ``io.spherical`` after the encoder closes and before
            the rename; Matroska/WebM get the ``StereoMode`` element and the V1
            ``spherical-video`` tag (what FFmpeg writes from tags; it cannot be given
            the V2 ``Projection`` element here). Other outputs (MPEG-TS, streams) warn
            that they carry none. A failure to add it warns and keeps the video.
        live: write as it goes (a live run): each frame reaches the file or stream as it is
            encoded (MP4/MOV fragmented), and a file takes the output's name at the first
            frame, replacing an existing one then; ``abort`` keeps what was written. A live
            MP4/MOV carries no spherical boxes (they are added to a finished file).

    Raises:
        MediaError: the output cannot be created or the codec is missing.
        ConfigError: an unknown codec, or crf for a codec without one.
    """
    return VideoWriter(
        output,
        width=width,
        height=height,
        rate=rate,
        time_base=time_base,
        codec=codec,
        crf=crf,
        audio_from=audio_from,
        audio_span=audio_span,
        metadata=metadata,
        spherical=spherical,
        live=live,
    )


class VideoWriter:
    """Encodes frames to a file (written beside it, renamed when complete), stdout or a URL.

    Use as a context manager: a normal exit finishes the file; an exception aborts,
    leaving any existing output untouched (a ``live`` writer keeps what it wrote: see ``open_writer``).
    """

    def __init__(
        self,
        output: str,
        *,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        codec: str = "h264",
        crf: int | None = None,
        audio_from: str | None = None,
        audio_span: tuple[float, float | None] | None = None,
        metadata: dict[str, str] | None = None,
        spherical: SphericalInfo | None = None,
        live: bool = False,
    ) -> None:
        spec = _codec_spec(codec, crf, output)
        self.output = output
        self.spherical = spherical
        self.live = live
        self.frames_written = 0
        self._rate = Fraction(rate)
        self._time_base = Fraction(time_base)
        self._last_pts: int | None = None
        self._reformatter = VideoReformatter()  # one for all frames: it caches the scaler
        self._warned_pts = False
        self._done = False
        self._audio: _AudioCopy | None = None
        self._tmp: AtomicFile | None = None
        self._container: av.container.OutputContainer | None = None
        try:
            self._start(spec, codec, width, height, crf, audio_from, audio_span, dict(metadata or {}))
        except BaseException:
            self.abort()
            raise

    def _start(self, spec, codec, width, height, crf, audio_from, audio_span, metadata, *, audio=True) -> None:
        """Open the output, add the streams and write the header."""
        self._container = self._open_output(self.output)
        self._stream = self._add_video(spec, codec, width, height, crf)
        if self.spherical is not None:
            self._tag_spherical(width, height)
        if audio and audio_from is not None:
            self._audio = _AudioCopy.attach(audio_from, audio_span, self._container)
            metadata = {**self._audio.metadata, **metadata} if self._audio else metadata
        self._container.metadata.update({k: str(v) for k, v in metadata.items() if k.lower() not in _MUXER_KEYS})
        try:
            self._container.start_encoding()
        except av.FFmpegError as e:
            if self._audio is None or self._tmp is None:
                raise MediaError(f"cannot write {self.output}: {av_reason(e)}") from e
            # The muxer refused a copied audio codec: write the video alone.
            warnings.warn(
                f"the audio of {audio_from} cannot go into {Path(self.output).name} ({av_reason(e)}); "
                "it is left out",
                stacklevel=5,
            )
            self._audio.close()
            self._audio = None
            with contextlib.suppress(av.FFmpegError):
                self._container.close()
            self._remove_tmp()
            self._start(spec, codec, width, height, crf, audio_from, audio_span, metadata, audio=False)

    def _open_output(self, output: str) -> av.container.OutputContainer:
        try:
            if output == "-":
                return av.open(sys.stdout.buffer, mode="w", format="mpegts", options=self._muxer_options("mpegts"))
            if is_url(output):
                scheme = output.split("://", 1)[0].lower()
                muxer = _URL_FORMATS.get(scheme)
                return av.open(output, mode="w", format=muxer, options=self._muxer_options(muxer))
            final = Path(output)
            if not final.parent.is_dir():
                raise MediaError(f"cannot write {output}: the folder {final.parent} does not exist")
            self._tmp = AtomicFile(final)
            muxer = _format_for(final)
            return av.open(str(self._tmp.path), mode="w", format=muxer, options=self._muxer_options(muxer))
        except av.FFmpegError as e:
            raise MediaError(f"cannot write {output}: {av_reason(e)}") from e
        except ValueError as e:  # PyAV's "could not determine output format"
            raise MediaError(f"cannot write {output}: {e}", hint="use .mp4, .mov or .mkv") from e

    def _muxer_options(self, muxer: str | None) -> dict[str, str]:
        """Options for the muxer: none, or for a live output those that write each frame as it comes."""
        return {"flush_packets": "1", **_LIVE_MUXER_OPTIONS.get(muxer, {})} if self.live else {}

    def _add_video(self, spec: Codec, codec: str, width: int, height: int, crf: int | None):
        pix_fmt = _pick_pix_fmt(spec)
        if pix_fmt.startswith(("yuv420", "yuv422")) and (
            width % 2 or (pix_fmt.startswith("yuv420") and height % 2)
        ):
            raise MediaError(f"cannot encode {width}x{height} with {codec}: width and height must be even")
        try:
            stream = self._container.add_stream(spec.encoder, rate=self._rate)
        except ValueError as e:  # PyAV: the format does not support the codec
            raise MediaError(f"cannot write {self.output}: {e}", hint="use .mp4, .mov or .mkv") from e
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = self._time_base  # a hint: the muxer may pick a finer one
        ctx = stream.codec_context
        ctx.time_base = self._time_base
        ctx.framerate = self._rate
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 1, 1, 1, 1  # BT.709, limited range
        options = {**spec.options, **(spec.live_options if self.live else {})}
        quality = crf if crf is not None else spec.crf
        if quality is not None:
            options["crf"] = str(quality)
        ctx.options = options
        if spec.tag and self._container.format.name in ("mp4", "mov"):
            ctx.codec_tag = spec.tag
        return stream

    def _tag_spherical(self, width: int, height: int) -> None:
        """Matroska: spherical tags on the stream; MP4/MOV: nothing yet (boxes after closing)."""
        name = self._container.format.name
        if name in ("mp4", "mov") and not self.live:
            return
        stereo = self.spherical.stereo
        if name in ("matroska", "webm") and stereo in _MATROSKA_STEREO:
            self._stream.metadata["stereo_mode"] = _MATROSKA_STEREO[stereo]
            self._stream.metadata["spherical-video"] = v1_xml(stereo, width=width, height=height)
            return
        kind = f"a live {name}" if self.live else name
        warnings.warn(
            f"{kind} output carries no spherical metadata: headset players will not see "
            f"{Path(self.output).name if not is_stream(self.output) else self.output} as 360°; "
            f"use {'.mkv' if self.live else '.mp4, .mov or .mkv'}",
            stacklevel=6,
        )
        self.spherical = None

    def _inject_spherical(self) -> None:
        """Write the spherical boxes into the finished MP4/MOV temp file; warn and go on if that fails."""
        if self.spherical is None or self._tmp is None or self._container.format.name not in ("mp4", "mov"):
            return
        stream = self._stream
        try:
            inject_spherical(self._tmp.path, self.spherical, width=stream.width, height=stream.height)
        except (SphericalMetadataError, MediaError, OSError, struct.error) as e:
            warnings.warn(
                f"spherical metadata could not be added to {Path(self.output).name} ({e}); "
                "the video is kept without it",
                stacklevel=4,
            )

    # -- public -------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        """Encode one ``uint8 (H, W, 3)`` RGB frame at ``pts`` in ``time_base`` (None: frame n at n / rate)."""
        if self._done:
            raise RuntimeError("the writer is closed")
        stream = self._stream
        if image.shape != (stream.height, stream.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 ({stream.height}, {stream.width}, 3) RGB image, got {image.dtype} {image.shape}"
            )
        if pts is None:
            pts = round(self.frames_written / (self._rate * self._time_base))
        if self._last_pts is not None and pts <= self._last_pts:
            if not self._warned_pts:
                self._warned_pts = True
                warnings.warn(
                    f"timestamps are not increasing at frame {self.frames_written}; nudged forward", stacklevel=2
                )
            pts = self._last_pts + 1
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame = self._reformatter.reformat(
            frame, format=stream.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG", interpolation=_CHROMA
        )
        frame.pts = pts
        frame.time_base = self._time_base
        frame.duration = max(1, round(1 / (self._rate * self._time_base)))
        try:
            packets = stream.encode(frame)
            if self._audio is not None:
                self._audio.mux_until(float(pts * self._time_base))
            self._container.mux(packets)
        except av.FFmpegError as e:
            raise MediaError(f"cannot write {self.output}: {av_reason(e)}") from e
        self._last_pts = pts
        self.frames_written += 1
        if self.live:
            if self.output == "-":
                sys.stdout.buffer.flush()
            if self._tmp is not None and self.frames_written == 1:
                self._tmp.commit()  # the file takes its name now and grows there

    def set_audio_span(self, start: float, end: float | None) -> None:
        """Cut the copied audio to ``[start, end)`` source seconds (see ``open_writer``).

        Call before ``close``. The start may only change while no audio has been
        written, which is the case when no span was given to ``open_writer``.
        """
        if self._audio is not None:
            self._audio.set_span((start, end))

    def close(self) -> None:
        """Flush the encoder, mux the remaining audio and move the file into place."""
        if self._done:
            return
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.mux_until(None)
                self._audio.close()
            self._container.close()
            if self.output == "-":
                sys.stdout.buffer.flush()
        except av.FFmpegError as e:
            self.abort()
            raise MediaError(f"cannot write {self.output}: {av_reason(e)}") from e
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._inject_spherical()
        if self._tmp is not None:
            self._tmp.commit()

    def abort(self) -> None:
        """Stop without finishing: remove the temporary file; an existing output stays as it was.

        A live file that has taken the output's name stays, closed where it was cut.
        """
        if self._done:
            return
        self._done = True
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.discard()


def check_video_output(output: str, codec: str = "h264", crf: int | None = None) -> None:
    """Raise before any work unless ``output`` can hold ``codec`` (see ``CONTAINERS``).

    Raises:
        ConfigError: an unknown codec, or crf for a codec without one.
        MediaError: a container the writer cannot write correctly, or one that cannot hold the codec.
    """
    _codec_spec(codec, crf, output)


def _codec_spec(codec: str, crf: int | None, output: str) -> Codec:
    """Look up and check a codec choice for this output."""
    if codec not in CODECS:
        raise ConfigError(f"unknown codec {codec!r}", hint=f"use one of {', '.join(CODECS)}")
    spec = CODECS[codec]
    if crf is not None and spec.crf is None:
        raise ConfigError(f"--crf does not apply to {codec}")
    if spec.encoder not in av.codecs_available:
        raise MediaError(f"this FFmpeg build has no {spec.encoder} encoder for {codec}")
    if is_stream(output):
        if spec.containers:
            raise MediaError(f"{codec} cannot be streamed as MPEG-TS", hint="use --codec h264 or h265")
        return spec
    suffix = Path(output).suffix.lower()
    if suffix not in CONTAINERS:
        raise MediaError(
            f"cannot write video to a {suffix or 'file without extension'}",
            hint=f"use one of {', '.join(CONTAINERS)}",
        )
    if spec.containers and suffix not in spec.containers:
        raise MediaError(
            f"cannot write {codec} to a {suffix}",
            hint=f"use {' or '.join(spec.containers)}",
        )
    return spec


def _pick_pix_fmt(spec: Codec) -> str:
    """The first of the codec's preferred pixel formats that this build's encoder takes."""
    formats = av.codec.Codec(spec.encoder, "w").video_formats or ()
    names = {f.name for f in formats}
    return next((p for p in spec.pix_fmts if p in names), spec.pix_fmts[-1])


def _format_for(path: Path) -> str | None:
    """FFmpeg's muxer for ``path`` by its extension."""
    return CONTAINERS.get(path.suffix.lower())


class _AudioCopy:
    """Remuxes the audio streams of a source file into an output, packets unchanged.

    Audio is muxed as the video advances, once the span's start is known; until then
    (no span given yet) it is held back and muxed when the span is set or at the end.
    """

    def __init__(
        self,
        source: av.container.InputContainer,
        output: av.container.OutputContainer,
        pairs: dict[int, av.stream.Stream],
        span: tuple[float, float | None] | None,
        *,
        priming: bool,
    ) -> None:
        self._source, self._output = source, output
        self._pairs = pairs  # input stream index -> output stream
        self._span = span
        self._priming = priming
        self._packets: Iterator[av.Packet] | None = None
        self._started = False  # the first packet went out: the start can no longer move
        self._finished = not pairs
        self._held: av.Packet | None = None

    @classmethod
    def attach(
        cls, audio_from: str, span: tuple[float, float | None] | None, output: av.container.OutputContainer
    ):
        """Open ``audio_from`` and add an output stream per audio stream; None for a pipe or URL."""
        if is_stream(audio_from):
            warnings.warn(
                f"audio cannot be copied from a pipe or URL ({audio_from}); the output has no audio", stacklevel=5
            )
            return None
        check_input_file(audio_from)
        try:
            source = av.open(audio_from, mode="r")
        except av.FFmpegError as e:
            raise MediaError(f"cannot read audio from {audio_from}: {av_reason(e)}") from e
        pairs = {}
        for stream in source.streams.audio:
            try:
                out = output.add_stream_from_template(stream)
            except ValueError as e:  # PyAV: the format does not support the codec
                warnings.warn(f"audio stream #{stream.index} of {audio_from} is left out: {e}", stacklevel=5)
                continue
            # Only descriptive tags: statistics tags (DURATION, BPS…) would describe the uncut source.
            out.metadata.update({k: v for k, v in stream.metadata.items() if k.lower() in _STREAM_KEYS})
            pairs[stream.index] = out
        # Only MP4/MOV edit lists hide a priming packet that starts before zero.
        priming = output.format.name in ("mp4", "mov")
        return cls(source, output, pairs, span, priming=priming)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._source.metadata)

    def set_span(self, span: tuple[float, float | None]) -> None:
        """Set ``[start, end)`` in source seconds; the start only before any audio went out."""
        if self._started and self._span is not None and abs(span[0] - self._span[0]) > 1e-6:
            raise ValueError("the audio start cannot move once audio has been written")
        self._span = span

    def _default_span(self) -> tuple[float, float | None]:
        """From the source's first video frame (or its start) to the end."""
        video = self._source.streams.video[0] if self._source.streams.video else None
        if video is not None and video.start_time is not None:
            return float(video.start_time * video.time_base), None
        return (self._source.start_time or 0) / av.time_base, None

    def mux_until(self, until: float | None) -> None:
        """Mux the audio that starts before ``until`` output seconds (None: all of it, to the end)."""
        if self._finished:
            return
        if self._span is None:
            if until is not None:
                return  # hold back until the span is known
            self._span = self._default_span()
        start, end = self._span
        if self._packets is None:
            if start > 1.0:
                self._source.seek(int(start * av.time_base), backward=True)
            self._packets = self._source.demux([s for s in self._source.streams if s.index in self._pairs])
        while True:
            packet = self._held or next(self._packets, None)
            self._held = None
            if packet is None:
                self._finished = True
                return
            if packet.dts is None or packet.size == 0:
                continue  # skip the empty packets demux yields at the end to flush decoders
            time_base = packet.time_base
            begin = float(packet.pts * time_base) if packet.pts is not None else float(packet.dts * time_base)
            length = float((packet.duration or 0) * time_base)
            # Where an edit list can hide them, a packet straddling the start and one before it
            # (to prime AAC/MP3 decoders) are kept; elsewhere they would push the video off zero.
            first_kept = start - 2 * length if self._priming else start - 1e-6
            if begin <= first_kept:
                continue
            if end is not None and begin >= end:
                if begin >= end + 1.0:
                    self._finished = True  # every stream is past the end
                    return
                continue
            if until is not None and begin - start >= until:
                self._held = packet
                return
            shift = round(start / time_base)
            if packet.pts is not None:
                packet.pts -= shift
            packet.dts -= shift
            packet.stream = self._pairs[packet.stream.index]
            self._output.mux(packet)
            self._started = True

    def close(self) -> None:
        self._finished = True
        self._source.close()
