"""Video decoding with PyAV: files, stdin (``-``) and URLs, frame ranges, resize, rotation."""

from __future__ import annotations

import heapq
import threading
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from dreamvideo.config import FrameRange
from dreamvideo.errors import ConfigError, Interrupted, MediaError
from dreamvideo.io._util import (
    SWS_ACCURATE_RND,
    SWS_BICUBIC,
    SWS_BILINEAR,
    SWS_FULL_CHR_H_INT,
    av_reason,
    check_input_file,
    even,
    is_stream,
    is_url,
)
from dreamvideo.io import streaminfo
from dreamvideo.io.images import IMAGE_FORMATS
from dreamvideo.io.spherical import SphericalInfo

__all__ = ["VideoInfo", "Frame", "VideoReader", "check_video_input", "open_video"]

# Frame threading loses the pictures it holds when a packet fails to decode (a cut-off MP4 gave 3
# of its 5 decodable frames); slice threading keeps every one, and decoding is never the slow stage.
_THREADING = "SLICE"
# Pictures held back to put them in timestamp order: a damaged packet can confuse the decoder's
# reordering, so it hands out a later picture before an earlier one.
_REORDER = 4
# swscale's default YUV -> RGB path repeats each chroma sample instead of interpolating it, which
# makes moving, colourful detail (a dream) flicker; see ``encode._CHROMA`` for the figures. About
# 6 ms more per 1080p frame on one thread, on the decode thread, which runs ahead of the dream.
_CHROMA = SWS_FULL_CHR_H_INT | SWS_ACCURATE_RND

# Seconds to wait for a URL to open, then by default for each read (a stream that stops sending).
_URL_TIMEOUT = (15.0, 60.0)


@dataclass
class VideoInfo:
    """What the container says about the first video stream.

    Attributes:
        width, height: upright size (after rotation), before any resize.
        rate: exact frame rate (30000/1001 stays so); the average rate for VFR streams.
        time_base: unit of ``Frame.pts``.
        frame_count: frames in the stream when the container records it, else None.
        duration: seconds, or None when unknown (pipes, live streams).
        rotation: degrees counter-clockwise the coded picture is turned to be upright
            (0, 90, 180 or 270).
        codec: FFmpeg's decoder name, e.g. ``h264``.
        audio_streams: number of audio streams in the container.
        metadata: container metadata (title, …).
        spherical: 360° metadata of the stream (projection, stereo layout), or None.
        constant_rate: True when the average rate matches the nominal one.
    """

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frame_count: int | None
    duration: float | None
    rotation: int
    codec: str
    audio_streams: int
    metadata: dict[str, str] = field(default_factory=dict)
    spherical: SphericalInfo | None = None
    constant_rate: bool = True


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based decode index.
        pts: presentation timestamp in ``VideoInfo.time_base``, or None if the stream has none.
        time: seconds on the source clock (``pts * time_base``).
        image: ``uint8 (H, W, 3)`` RGB at the reader's output size.
    """

    index: int
    pts: int | None
    time: float
    image: np.ndarray


def open_video(
    source: str,
    *,
    frames: FrameRange | None = None,
    size: tuple[int, int] | None = None,
    width: int | None = None,
    read_timeout: float | None = _URL_TIMEOUT[1],
    cancel: threading.Event | None = None,
) -> VideoReader:
    """Open a video file, ``-`` (stdin) or a URL for decoding.

    Args:
        source: a path, ``-`` for stdin (MPEG-TS or anything FFmpeg probes), or a URL.
        frames: only decode this inclusive range of decode indices.
        size: output ``(width, height)``, rounded to even.
        width: output width with the aspect kept, rounded to even.
        read_timeout: seconds a URL may send nothing before its stream is taken as ended
            (None: wait for ever). Opening waits 15 s for the first data.
        cancel: set while a URL is being opened, the wait is given up (Ctrl-C is as prompt).

    Raises:
        MediaError: missing or unreadable input, no video stream, nothing decodes,
            or ``frames`` beyond a clip whose frame count the container records.
        ConfigError: both ``size`` and ``width``.
        Interrupted: ``cancel`` was set while waiting for a URL.
    """
    return VideoReader(source, frames=frames, size=size, width=width, read_timeout=read_timeout, cancel=cancel)


class VideoReader:
    """Streams ``Frame`` objects (``uint8 (H, W, 3)`` RGB) from a video; iterate once.

    Use as a context manager. ``info`` describes the source, ``output_size`` is the
    ``(width, height)`` of every ``Frame.image``, ``expected_frames`` how many frames
    to expect (None if unknown), and ``frames_decoded`` counts the pictures the
    decoder produced (including the ones skipped to reach a range).

    Damaged or truncated input yields the frames that decode, with one warning.
    Another thread may :meth:`interrupt` the iteration and :meth:`close` the reader
    while it waits on a read: the container is freed when that read returns.
    """

    def __init__(
        self,
        source: str,
        *,
        frames: FrameRange | None = None,
        size: tuple[int, int] | None = None,
        width: int | None = None,
        read_timeout: float | None = _URL_TIMEOUT[1],
        cancel: threading.Event | None = None,
    ) -> None:
        if size is not None and width is not None:
            raise ConfigError("give either a size or a width, not both")
        self.source = source
        self._read_timeout = read_timeout
        # A container freed while another thread waits inside it crashes the process (SIGSEGV):
        # close() from another thread defers to the reading thread (see _decoded_pictures).
        self._lock = threading.Lock()
        self._reading = self._close_pending = self._closed = self._interrupted = False
        self.frames_decoded = 0
        self._range = frames
        self._name = "stdin" if source == "-" else source if is_url(source) else Path(source).name
        self._warned = False
        self._used = False
        self._reformatter = VideoReformatter()  # one for all frames: it caches the scaler
        self._container = _open_input(source, read_timeout, cancel)
        try:
            self._start(size, width)
        except BaseException:
            self._container.close()
            raise

    def _start(self, size: tuple[int, int] | None, width: int | None) -> None:
        container = self._container
        if not container.streams.video:
            raise MediaError(f"{self._name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = _THREADING
        self._stream = stream
        self._decoded = self._av_frames()
        first = next(self._decoded, None)
        if first is None:
            raise MediaError(f"no frames could be decoded from {self._name}")
        self._first = first
        self._first_pts = first.pts

        self._turns = streaminfo.rotation(first, stream) // 90
        coded_w, coded_h = first.width, first.height
        upright_w, upright_h = (coded_h, coded_w) if self._turns % 2 else (coded_w, coded_h)

        rate, constant = streaminfo.frame_rate(stream)
        time_base = stream.time_base or 1 / rate
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        self.info = VideoInfo(
            width=upright_w,
            height=upright_h,
            rate=Fraction(rate),
            time_base=Fraction(time_base),
            frame_count=stream.frames or None,
            duration=duration,
            rotation=self._turns * 90,
            codec=stream.codec_context.codec.canonical_name,
            audio_streams=len(container.streams.audio),
            metadata=dict(container.metadata),
            spherical=streaminfo.spherical(self.source, container, first),
            constant_rate=constant,
        )
        # Seeking maps pts to indices through the rate, so only constant-rate files with timestamps.
        self._can_seek = constant and self.is_file and first.pts is not None

        if size is not None:
            out_w, out_h = even(size[0]), even(size[1])
            self._crop = False
        elif width is not None:
            out_w = even(width)
            out_h = even(out_w * upright_h / upright_w)
            self._crop = False
        else:
            # An odd source loses its last column/row rather than being resampled by one pixel.
            out_w, out_h = max(2, upright_w // 2 * 2), max(2, upright_h // 2 * 2)
            self._crop = (out_w, out_h) != (upright_w, upright_h)
        self.output_size = (out_w, out_h)
        if out_w > upright_w or out_h > upright_h:
            what = "--size" if size else "--width"
            warnings.warn(f"{what} {out_w}x{out_h} upscales the {upright_w}x{upright_h} source", stacklevel=3)

        count = self.info.frame_count
        if self._range is not None and count is not None and self._range.end >= count:
            raise self._beyond(count)

    # -- public -------------------------------------------------------------------

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the input; if another thread is reading, that thread releases it when its read returns."""
        with self._lock:
            if self._closed:
                return
            if self._reading:
                self._close_pending = True
                return
            self._closed = True
        self._container.close()

    def interrupt(self) -> None:
        """Stop decoding from any thread: iteration ends after the packet being read. A read
        waiting on a URL or pipe cannot be cut short (PyAV offers no way); it returns with data
        or after the read timeout, and :meth:`close` meanwhile leaves the container to it."""
        with self._lock:
            self._interrupted = True

    @property
    def is_file(self) -> bool:
        """True for a regular file; False for ``-`` and URLs (no seeking, no second read)."""
        return not is_stream(self.source)

    @property
    def expected_frames(self) -> int | None:
        """Frames the iteration yields when known: the range's length, else the container's count."""
        return len(self._range) if self._range is not None else self.info.frame_count

    def __iter__(self) -> Iterator[Frame]:
        if self._used:
            raise RuntimeError("a VideoReader can be iterated only once; open the video again")
        self._used = True
        return self._frames()

    # -- decoding -----------------------------------------------------------------

    def _frames(self) -> Iterator[Frame]:
        first_wanted = self._range.start if self._range else 0
        last_wanted = self._range.end if self._range else None
        if first_wanted > 0 and self._can_seek:
            numbered = self._seek_and_number(first_wanted)
        else:
            numbered = self._count(self._first, self._decoded)
        self._first = None  # the frame now lives only in `numbered`
        last = -1
        for index, av_frame in numbered:
            if index < first_wanted:
                continue
            if last_wanted is not None and index > last_wanted:
                return
            yield self._to_frame(index, av_frame)
            last = index
        if self._interrupted:
            return
        total = self._total
        if self._range is not None and last < self._range.end:
            if last < first_wanted or not self._warned:
                raise self._beyond(total)
        elif self._range is None and self.info.frame_count and total < self.info.frame_count:
            self._warn(f"{self._name} ended after {total} of {self.info.frame_count} frames; it looks truncated")

    def _count(
        self, first: av.VideoFrame | None, rest: Iterator[av.VideoFrame]
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Number frames by counting from the start of the stream."""
        index = 0
        if first is not None:
            yield 0, first
            index = 1
        for av_frame in rest:
            yield index, av_frame
            index += 1
        self._total = index

    def _seek_and_number(self, target: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Seek to the keyframe before ``target`` and number frames by their pts."""
        stream, rate, base = self._stream, self.info.rate, self._first_pts
        time_base = Fraction(stream.time_base)

        def index_of(f: av.VideoFrame) -> int | None:
            return None if f.pts is None else round((f.pts - base) * time_base * rate)

        aim = target
        for attempt in range(4):
            self._container.seek(base + int(aim / rate / time_base), stream=stream, backward=True)
            decoded = self._av_frames()
            first = next(decoded, None)
            landed = None if first is None else index_of(first)
            if landed is not None and landed <= target:
                break
            # Some demuxers (MPEG-TS) land after the aim: step further back, then to the start.
            step = max(landed - aim if landed is not None else 0, int(rate))
            aim = 0 if attempt == 2 else max(0, aim - 2 * step)
        else:
            yield from self._restart()
            return

        previous = landed
        yield landed, first
        for av_frame in decoded:
            index = index_of(av_frame)
            if index is not None and index <= previous and previous < target:
                continue  # a leading picture of an open GOP: it belongs before the keyframe
            if index != previous + 1:
                if previous < target:
                    # Timestamps are not regular after all: number by counting from the start.
                    yield from self._restart()
                    return
                self._warn(
                    f"{self._name} has irregular timestamps after frame {previous}; frame numbers may be off"
                )
                index = previous + 1
            yield index, av_frame
            previous = index
        self._total = previous + 1

    def _restart(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Reopen the file and number frames by counting from its start."""
        self._container.close()
        self._container = _open_input(self.source, self._read_timeout)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = _THREADING
        yield from self._count(None, self._av_frames())

    def _av_frames(self) -> Iterator[av.VideoFrame]:
        """Decoded pictures of the stream in timestamp order, skipping packets that fail to decode."""
        held: list[tuple[int, int, av.VideoFrame]] = []  # a heap by pts (then arrival) of pictures held back
        arrival = 0
        emitted = None
        for picture in self._decoded_pictures():
            if picture.pts is None:
                yield picture
                continue
            heapq.heappush(held, (picture.pts, arrival, picture))
            arrival += 1
            if len(held) > _REORDER:
                emitted = yield from self._emit(heapq.heappop(held)[2], emitted)
        while held:
            emitted = yield from self._emit(heapq.heappop(held)[2], emitted)

    def _emit(self, picture: av.VideoFrame, emitted: int | None) -> Iterator[av.VideoFrame]:
        """Yield ``picture`` unless its pts repeats or goes back (returns the last pts yielded)."""
        if emitted is not None and picture.pts <= emitted:
            self._warn(f"{self._name} has a picture out of order after pts {emitted}; it is left out")
            return emitted
        yield picture
        return picture.pts

    def _decoded_pictures(self) -> Iterator[av.VideoFrame]:
        """Pictures as the decoder hands them out, skipping packets that fail to decode."""
        packets = self._container.demux(self._stream)
        while True:
            with self._lock:
                if self._interrupted or self._close_pending or self._closed:
                    return
                self._reading = True
            try:
                packet, pictures = self._read(packets)
            finally:
                with self._lock:
                    self._reading = False
                    close_now = self._close_pending and not self._closed
                    self._closed = self._closed or close_now
                if close_now:
                    self._container.close()
            for picture in pictures:
                self.frames_decoded += 1
                yield picture
            if packet is None:
                return

    def _read(self, packets: Iterator[av.Packet]) -> tuple[av.Packet | None, list[av.VideoFrame]]:
        """The next packet (None at the end) and the pictures it completes."""
        try:
            packet = next(packets)
        except StopIteration:
            return None, []
        except av.ExitError:
            # The interrupt callback: a URL sent nothing for the read timeout (a live stream's
            # end) or interrupt() was called. Not damage: the pictures held are drained.
            packet = None
        except av.FFmpegError as e:
            self._warn_damaged(e)
            packet = None  # drain the pictures the decoder still holds
        try:
            return packet, self._stream.decode(packet)
        except av.FFmpegError as e:
            self._warn_damaged(e)
            return packet, []

    def _to_frame(self, index: int, av_frame: av.VideoFrame) -> Frame:
        """Convert to an upright ``uint8 (H, W, 3)`` RGB image at the output size."""
        out_w, out_h = self.output_size
        if self._crop:
            scaled_w, scaled_h = av_frame.width, av_frame.height
        elif self._turns % 2:
            scaled_w, scaled_h = out_h, out_w
        else:
            scaled_w, scaled_h = out_w, out_h
        resized = (scaled_w, scaled_h) != (av_frame.width, av_frame.height)  # else only chroma is resampled
        rgb = self._reformatter.reformat(
            av_frame,
            width=scaled_w,
            height=scaled_h,
            format="rgb24",
            interpolation=(SWS_BICUBIC if resized else SWS_BILINEAR) | _CHROMA,
            src_color_range=av_frame.color_range,
        ).to_ndarray()
        if self._turns:
            rgb = np.rot90(rgb, self._turns)
        if self._crop:
            rgb = rgb[:out_h, :out_w]
        if not rgb.flags.c_contiguous:
            rgb = np.ascontiguousarray(rgb)
        pts = av_frame.pts
        time = float(pts * self.info.time_base) if pts is not None else index / float(self.info.rate)
        return Frame(index=index, pts=pts, time=time, image=rgb)

    # -- errors -------------------------------------------------------------------

    def _beyond(self, count: int) -> MediaError:
        return MediaError(
            f"frame range {self._range} is beyond the end of {self._name}: it has {count} frames",
            hint=f"use frames within 0-{count - 1}" if count else None,
        )

    def _warn_damaged(self, error: BaseException) -> None:
        self._warn(
            f"{self._name} is damaged, truncated or interrupted ({av_reason(error)}); "
            f"keeping the frames that decode"
        )

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(message, stacklevel=3)

    _total = 0


def _open_input(
    source: str, read_timeout: float | None, cancel: threading.Event | None = None
) -> av.container.InputContainer:
    """Open ``source`` with FFmpeg, turning its errors into MediaError."""
    name = "stdin" if source == "-" else source
    try:
        if source == "-":
            return av.open("pipe:0", mode="r")
        if is_url(source):
            return _open_url(source, read_timeout, cancel)
        check_input_file(source)
        return av.open(source, mode="r")
    except av.FFmpegError as e:
        raise MediaError(
            f"cannot open {name}: {av_reason(e)}",
            hint="is it a video FFmpeg can read? try `dreamvideo probe` or `ffprobe` on it",
        ) from e


def _open_url(source: str, read_timeout: float | None, cancel: threading.Event | None) -> av.container.InputContainer:
    """Open a URL in a thread: FFmpeg waits up to the open timeout for a stream to start, and
    Python handles signals only between its own instructions, so Ctrl-C (or ``cancel``) would
    wait that long. A container opened after this gave up is freed by that thread alone."""
    opened: dict = {}

    def run() -> None:
        try:
            opened["container"] = av.open(source, mode="r", timeout=(_URL_TIMEOUT[0], read_timeout))
        except BaseException as e:  # raised in the caller's thread
            opened["error"] = e

    thread = threading.Thread(target=run, name="open", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
        if cancel is not None and cancel.is_set() and thread.is_alive():
            raise Interrupted(f"stopped while waiting for {source} to start sending")
    if "error" in opened:
        raise opened["error"]
    return opened["container"]


def check_video_input(source: str | os.PathLike) -> None:
    """Raise MediaError, before any work, unless ``source`` may be a video: a stream, or a
    readable file that is not named as a still image (a ``%d`` pattern is an image sequence)."""
    source = str(source)
    if is_stream(source):
        return
    check_input_file(source)
    if Path(source).suffix.lower() in IMAGE_FORMATS and "%" not in source:
        raise MediaError(f"{Path(source).name} is a still image, not a video", hint="dream it with `dreamvideo image`")
