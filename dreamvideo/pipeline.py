"""The staged video runner: decode → flow → dream → encode, with bounded queues.

    decode thread ──(frame, flow future)──▶ dream (this thread) ──(dreamed frame)──▶ encode thread
          └── flow worker processes: flow between consecutive *source* frames, ahead of the dream

Each frame after the first starts from the previous frame's dream detail
(dream − source), warped onto it along ``flow_cur_to_prev`` and kept only where
the forward–backward check says the pixel was visible in the previous frame;
disoccluded pixels and pixels from outside the frame are dreamed afresh, and a
scene cut restarts the dream. Memory does not grow with the clip's length.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import DreamSettings, VideoSettings
from .dream import Dreamer, image_to_tensor, tensor_to_image
from .errors import MediaError
from .io import Frame, check_input_file, check_output_path, check_video_output, is_stream, open_video, open_writer
from .still import make_dreamer
from .temporal.carry import cap_strength, carried_start, carry_weights, detail_strength, refine
from .temporal.flow import FlowWorkers

__all__ = ["RunReport", "TemporalDreamer", "dream_video"]

QUEUE_DEPTH = 8  # frames in flight between stages: bounds memory, keeps the flow workers ahead


@dataclass
class RunReport:
    """What a run did: counts, timings (seconds) per stage, detected cuts."""

    input: str
    output: str
    frames: int = 0
    wall_time: float = 0.0
    stage_times: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cuts: list[int] = field(default_factory=list)
    dream: dict = field(default_factory=dict)
    video: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_time if self.wall_time else 0.0

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "output": self.output,
            "frames": self.frames,
            "wall_time_s": round(self.wall_time, 3),
            "frames_per_s": round(self.fps, 3),
            "stage_times_s": {k: round(v, 3) for k, v in self.stage_times.items()},
            "scene_cuts": self.cuts,
            "settings": {"dream": self.dream, "video": self.video},
        }


class TemporalDreamer:
    """Dreams consecutive frames of one clip, carrying the dream along the optical flow.

    Args:
        dreamer: the ``Dreamer`` (model, objective, ascent settings).
        video: blend, refine steps and whether flow is used (``flow == "none"``: independent frames).
    """

    def __init__(self, dreamer: Dreamer, video: VideoSettings) -> None:
        self.dreamer = dreamer
        self.video = video
        self._prev_source: np.ndarray | None = None
        self._prev_detail: torch.Tensor | None = None
        self._shot_strength = 0.0  # the detail strength of the shot's first, fully dreamed frame

    def __call__(self, frame: Frame, flows: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, bool]:
        """Dream one frame.

        Args:
            frame: the decoded frame (``image`` uint8 ``(H, W, 3)`` RGB).
            flows: ``(flow_cur_to_prev, flow_prev_to_cur)`` between the previous source frame
                and this one, or None for the first frame or with ``--flow none``.

        Returns:
            The dreamed frame, uint8 ``(H, W, 3)`` RGB, and whether a scene cut restarted the dream here.
        """
        source = image_to_tensor(frame.image, self.dreamer.device)
        dreamed, cut = None, False
        if flows is not None and self._prev_detail is not None and self.video.blend > 0:
            keep, cut = carry_weights(self._prev_source, frame.image, *flows)
            if not cut:
                keep = torch.from_numpy(keep).to(source.device)[None, None]
                start = carried_start(source, self._prev_detail, flows[0], keep, self.video.blend)
                dreamed = refine(self.dreamer, start, keep, refine_steps=self.video.refine_steps, frame_index=frame.index)
                dreamed = cap_strength(dreamed, source, self._shot_strength)
        if dreamed is None:
            dreamed = self.dreamer.dream(source, frame_index=frame.index)
            self._shot_strength = detail_strength(dreamed, source)
        if self.video.flow != "none":
            self._prev_detail = dreamed - source
            self._prev_source = frame.image
        return tensor_to_image(dreamed), cut


def dream_video(
    source: str,
    output: str,
    dream: DreamSettings,
    video: VideoSettings,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> RunReport:
    """Dream the video at ``source`` (path, URL or ``-``) into ``output`` (path, URL or ``-``).

    Raises:
        MediaError: unreadable input, no video stream, a frame range beyond the clip,
            output == input, unwritable output.
        ConfigError, ModelError: bad settings, model or layer.
    """
    _check_paths(source, output, video)
    report = RunReport(source, output, dream=dataclasses.asdict(dream), video=dataclasses.asdict(video))
    started = time.perf_counter()
    times = report.stage_times

    with ExitStack() as stack:
        reader = stack.enter_context(
            open_video(source, frames=video.frame_range, size=video.frame_size, width=video.width)
        )
        t = time.perf_counter()
        dreamer = make_dreamer(dream)
        times["model_load"] += time.perf_counter() - t
        temporal = TemporalDreamer(dreamer, video)
        flows = None
        if video.flow != "none" and video.blend > 0:
            flows = stack.enter_context(FlowWorkers(method=video.flow, scale=video.flow_scale))
        bar = stack.enter_context(_progress(reader.expected_frames, quiet=video.quiet)) if progress is None else None
        decoded = _Stage("decode", _decode_with_flow(reader, flows, times), QUEUE_DEPTH)
        stack.callback(decoded.stop)
        writer = stack.enter_context(_EncodeStage(reader, output, video, times))

        for frame, flow_future in decoded:
            t = time.perf_counter()
            pair = flow_future.result() if flow_future is not None else None
            times["flow_wait"] += time.perf_counter() - t
            t = time.perf_counter()
            image, cut = temporal(frame, pair)
            times["dream"] += time.perf_counter() - t
            if cut:
                report.cuts.append(frame.index)
            writer.put(frame, image)
            report.frames += 1
            (progress or bar.update)(report.frames, reader.expected_frames)
        if report.frames == 0:
            raise MediaError(f"no frames decoded from {source}")
    report.wall_time = time.perf_counter() - started
    if video.json_report:
        _write_json(video.json_report, report.to_dict())
    return report


def _check_paths(source: str, output: str, video: VideoSettings) -> None:
    """Fail before any work on a missing input, output == input, an output folder that is not there,
    or a container that cannot hold the codec."""
    if not is_stream(source):
        check_input_file(source)
    if video.audio is not None:
        check_input_file(video.audio)
    check_output_path(source, output)
    check_video_output(output, video.codec, video.crf)


def _decode_with_flow(reader, flows: FlowWorkers | None, times: dict) -> Iterator[tuple[Frame, Future | None]]:
    """Decoded frames, each with the future of its flow from the previous frame (submitted now, so ahead)."""
    previous = None
    frames = iter(reader)
    while True:
        t = time.perf_counter()
        frame = next(frames, None)
        times["decode"] += time.perf_counter() - t
        if frame is None:
            return
        future = flows.submit(previous.image, frame.image) if flows is not None and previous is not None else None
        yield frame, future
        previous = frame


class _Stage:
    """Runs an iterator in a thread, handing its items over through a bounded queue.

    Exceptions in the thread are re-raised in the consumer.
    """

    _END = object()

    def __init__(self, name: str, items: Iterator, depth: int) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item) -> bool:
        while not self._stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


class _EncodeStage:
    """Encodes dreamed frames in a thread; the output appears only if the run completes."""

    _FINISH, _ABANDON = object(), object()

    def __init__(self, reader, output: str, video: VideoSettings, times: dict) -> None:
        self.reader, self.output, self.video, self.times = reader, output, video, times
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="encode", daemon=True)

    def __enter__(self) -> _EncodeStage:
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


class _progress:
    """A tqdm bar on a terminal; a plain line every few seconds otherwise; nothing when quiet."""

    PLAIN_EVERY_S = 5.0

    def __init__(self, total: int | None, *, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.bar = None
        self.started = self.last_line = time.perf_counter()
        self.done = 0

    def __enter__(self) -> _progress:
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc="dreaming", unit="frame", dynamic_ncols=True, file=sys.stderr)
        return self

    def update(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif time.perf_counter() - self.last_line >= self.PLAIN_EVERY_S:
            self.last_line = time.perf_counter()
            print(self._line(done, total), file=sys.stderr, flush=True)
        self.done = done

    def _line(self, done: int, total: int | None) -> str:
        elapsed = time.perf_counter() - self.started
        fps = done / elapsed if elapsed else 0.0
        of = f"/{total}" if total else ""
        eta = f", eta {(total - done) / fps:.0f}s" if total and fps else ""
        return f"dreamed {done}{of} frames, {fps:.2f} frames/s{eta}"

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet and self.done and exc_type is None:
            print(self._line(self.done, self.total), file=sys.stderr, flush=True)


def _write_json(path: str, data: dict) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, target)
