"""Where dreamed frames go: the sinks of the staged runner (``pipeline.run_frames``).

A sink is a context manager with ``dtype`` (the host sample type ``put`` takes:
``uint8`` or ``float32`` in [0, 1]) and ``put(frame, image)``. Leaving the
``with`` block normally finishes the output; leaving it with an exception
abandons it, and nothing that was there before is replaced by a partial result.

- :class:`EncodeSink`: a video (file, ``-`` or URL) with the source's audio cut to
  the frames written, and its metadata; encoded in a thread. A live run's video is
  written as it goes and is kept, cut where it was, even when abandoned.
- :class:`ImageSink`: one frame as a still image (``dream clip.mp4 out.png --frames N``).
- :class:`PngSequenceSink`: ``DIR/frame_%06d.png``, one file per frame, each written atomically.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import VideoSettings
from .errors import ConfigError
from .io import Frame, open_writer, write_image
from .io.sequence import write_frame

__all__ = ["EncodeSink", "ImageSink", "PngSequenceSink", "Sink", "QUEUE_DEPTH"]

QUEUE_DEPTH = 8  # frames in flight between stages: bounds memory, keeps the flow workers ahead


class Sink(Protocol):
    """Takes dreamed frames; a context manager that finishes on success and abandons on failure."""

    dtype: type

    def __enter__(self) -> Sink: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...

    def put(self, frame: Frame, image: np.ndarray) -> None:
        """Take the dream of ``frame``: ``(H, W, 3)`` RGB in ``dtype``."""


class EncodeSink:
    """Encodes dreamed frames in a thread; the output appears only if the run completes (live: as it goes).

    Args:
        reader: the source (its rate, time base, metadata, and the file its audio is copied from).
        output: a path, ``-`` or a URL.
        video: codec and crf.
        times: stage timings; ``encode`` is added to.
    """

    dtype = np.uint8
    _FINISH, _ABANDON = object(), object()

    def __init__(self, reader, output: str, video: VideoSettings, times: dict, *, spherical=None) -> None:
        self.reader, self.output, self.video, self.times = reader, output, video, times
        self.spherical = spherical  # io.spherical.SphericalInfo for a 360° output, else None
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="encode", daemon=True)

    def __enter__(self) -> EncodeSink:
        self._thread.start()
        return self

    def put(self, frame: Frame, image: np.ndarray) -> None:
        if not self._offer((frame, image)):
            raise self.error or RuntimeError("the encoder stopped")

    def _offer(self, item: object, *, drop_waiting: bool = False) -> bool:
        """Queue ``item`` for the encode thread; False if that thread has stopped.

        ``drop_waiting`` discards frames still waiting when the queue is full (abandoning).
        """
        while self._thread.is_alive():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if drop_waiting:
                    self._drain()
        return False

    def _run(self) -> None:
        writer = first = last = None
        try:
            while (item := self.queue.get()) not in (self._FINISH, self._ABANDON):
                frame, image = item
                t = time.perf_counter()
                if writer is None:
                    first, writer = frame, self._open(frame, image)
                pts = None if frame.pts is None or first.pts is None else frame.pts - first.pts
                writer.write(image, pts)
                last = frame
                self.times["encode"] += time.perf_counter() - t
            if writer is None:
                return
            if item is self._ABANDON:
                writer.abort()  # drops the temp file; an existing output stays as it was
                return
            t = time.perf_counter()
            writer.set_audio_span(self._audio_time(first), self._audio_time(last) + 1 / float(self.reader.info.rate))
            writer.close()
            self.times["encode"] += time.perf_counter() - t
        except BaseException as exc:
            self.error = exc
            if writer is not None:
                writer.abort()

    def _open(self, frame: Frame, image: np.ndarray):
        info = self.reader.info
        audio = self.video.audio or (self.reader.source if self.reader.is_file else None)
        if audio is None and info.audio_streams:
            warnings.warn(f"audio is not copied from {self.reader.source}: a pipe or URL cannot be read twice")
        h, w = image.shape[:2]
        return open_writer(
            self.output,
            width=w,
            height=h,
            rate=info.rate,
            time_base=info.time_base,
            codec=self.video.codec,
            crf=self.video.crf,
            audio_from=audio,
            audio_span=(self._audio_time(frame), None),
            metadata=info.metadata,
            spherical=self.spherical,
            live=self.video.live,
        )

    def _audio_time(self, frame: Frame) -> float:
        """Where ``frame`` is on the soundtrack's clock: the source's own, or for ``--audio``
        (a file unrelated to the input's clock) the time since the input's frame 0."""
        return frame.index / float(self.reader.info.rate) if self.video.audio else frame.time

    def __exit__(self, exc_type, exc, tb) -> None:
        abandon = exc_type is not None
        if abandon:
            self._drain()
        self._offer(self._ABANDON if abandon else self._FINISH, drop_waiting=abandon)
        self._thread.join()
        if exc_type is None and self.error is not None:
            raise self.error

    def _drain(self) -> None:
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return


class ImageSink:
    """Writes the one dreamed frame as a still image (format from the extension, 8-bit)."""

    dtype = np.uint8

    def __init__(self, output: str | Path, *, spherical=None) -> None:
        self.output = Path(output)
        self.spherical = spherical  # a 360° frame gets GPano XMP (JPEG, PNG)
        self.written = 0

    def __enter__(self) -> ImageSink:
        return self

    def put(self, frame: Frame, image: np.ndarray) -> None:
        if self.written:
            raise ConfigError(f"{self.output.name} is an image: it takes one frame", hint="use --frames N")
        write_image(self.output, image, spherical=self.spherical)  # atomic: an old file stays until it is whole
        self.written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        pass


class PngSequenceSink:
    """Writes ``folder/frame_%06d.png`` per frame, each atomically, with its source timestamp.

    Args:
        folder: an existing folder.
        bit_depth: 8 or 16.
        times: stage timings; ``write`` is added to.
    """

    dtype = np.float32

    def __init__(self, folder: str | Path, *, bit_depth: int = 8, times: dict) -> None:
        self.folder, self.bit_depth, self.times = Path(folder), bit_depth, times
        self.written: list[int] = []

    def __enter__(self) -> PngSequenceSink:
        return self

    def put(self, frame: Frame, image: np.ndarray) -> None:
        t = time.perf_counter()
        write_frame(self.folder, frame.index, image, bit_depth=self.bit_depth, pts=frame.pts, time=frame.time)
        self.written.append(frame.index)
        self.times["write"] += time.perf_counter() - t

    def __exit__(self, exc_type, exc, tb) -> None:
        pass  # every frame written is whole; a stopped run leaves only complete frames behind
