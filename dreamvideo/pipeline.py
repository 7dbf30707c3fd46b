"""The staged runner: a source of frames → flow → dream → a sink, with bounded queues.

    decode thread ──(frame, flow future)──▶ dream (this thread) ──(dreamed frame)──▶ sink
          └── flow worker processes: flow between consecutive *source* frames, ahead of the dream

``dream`` (video out), ``dream`` to an image (one frame out) and ``render`` (a
PNG sequence out) are this one runner with a different sink (``sinks.py``).
The temporal state lives in ``temporal.dreamer``. Pre-roll is decoding from
A−K and handing frames to the sink only from A (``write_from``). Memory does
not grow with the clip's length.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import queue
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .config import DreamSettings, VideoSettings
from .dream import Dreamer, resolve_device
from .errors import ConfigError, Interrupted, MediaError
from .frame import frame_step
from .io import (
    IMAGE_FORMATS,
    Frame,
    check_input_file,
    check_output_path,
    check_video_input,
    check_video_output,
    is_stream,
    open_video,
)
from .io.atomic import write_atomically
from .io.spherical import spherical_for
from .layout import check_aspect, resolve_layout, vr_name
from .memory import check_memory
from .panorama.projection import dreamer_for
from .sinks import QUEUE_DEPTH, EncodeSink, ImageSink, Sink
from .temporal.dreamer import MonoStep, TemporalDreamer
from .temporal.flow import auto_flow_scale
from .temporal.workers import FlowWorkers
from .timeline import Timeline

__all__ = [
    "CUDA_FRAME_BATCH",
    "Progress",
    "RunReport",
    "TemporalDreamer",
    "dream_video",
    "frame_batch",
    "is_image_output",
    "run_frames",
]

CUDA_FRAME_BATCH = 4  # frames with no temporal link dreamed at once on CUDA (see frame_batch)


@dataclass
class RunReport:
    """What a run did: counts, timings (seconds) per stage, detected cuts, peak memory.

    ``frames`` counts the frames handed to the sink; ``preroll_frames`` those dreamed before it.
    ``peak_memory_mb``: see :func:`peak_memory_mb`.
    """

    input: str
    output: str
    frames: int = 0
    preroll_frames: int = 0
    wall_time: float = 0.0
    stage_times: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cuts: list[int] = field(default_factory=list)
    dream: dict = field(default_factory=dict)
    video: dict = field(default_factory=dict)
    live: dict = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    schedules: dict = field(default_factory=dict)  # Timeline.report(): each scheduled value per frame

    @property
    def fps(self) -> float:
        return self.frames / self.wall_time if self.wall_time else 0.0

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "output": self.output,
            "frames": self.frames,
            "preroll_frames": self.preroll_frames,
            "wall_time_s": round(self.wall_time, 3),
            "frames_per_s": round(self.fps, 3),
            "stage_times_s": {k: round(v, 3) for k, v in self.stage_times.items()},
            "scene_cuts": self.cuts,
            "settings": {"dream": self.dream, "video": self.video},
            **({"live": self.live} if self.live else {}),
            **({"peak_memory_mb": self.peak_memory_mb} if self.peak_memory_mb else {}),
            **({"schedules": self.schedules} if self.schedules else {}),
        }

    def live_summary(self) -> str:
        """One line on a live run: frames dreamed and dropped, latency."""
        lat = self.live["latency_ms"]
        return (
            f"live: dreamed {self.frames} of {self.live['input_frames']} frames "
            f"({self.live['dropped_frames']} dropped), {self.fps:.2f} frames/s, latency median "
            f"{lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms"
        )

    def write_json(self, path: str) -> None:
        """Write ``to_dict()`` as JSON, atomically."""
        write_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")


def peak_memory_mb(device) -> dict[str, float]:
    """This process's peak memory so far, MiB: ``host``, its resident set (not the flow workers'),
    and on CUDA ``device``, what torch allocated on ``device`` (a ``torch.device``)."""
    peak = {}
    try:
        import resource
    except ImportError:  # Windows
        pass
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak["host"] = round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    if device.type == "cuda":
        import torch

        peak["device"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peak


def is_image_output(output: str) -> bool:
    """True when ``output`` names a still image file (by extension): one frame is written as an image."""
    return not is_stream(output) and Path(output).suffix.lower() in IMAGE_FORMATS


def dream_video(
    source: str,
    output: str,
    dream: DreamSettings,
    video: VideoSettings,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    force: bool = False,
) -> RunReport:
    """Dream the video at ``source`` (path, URL or ``-``) into ``output`` (path, URL or ``-``).

    An image ``output`` (``.png``, ``.jpg``, …) takes exactly one frame (``--frames N``).
    A live run (``video.live``) writes its output as it goes; setting ``stop`` ends it as
    the end of its input would (see :func:`run_frames`), keeping every frame dreamed.
    A frame size whose memory estimate (``memory.check_memory``) exceeds the free memory is
    refused before the model loads, unless ``force``.

    Raises:
        MediaError: unreadable input, no video stream, a frame range beyond the clip,
            output == input, unwritable output.
        ConfigError, ModelError: bad settings, model or layer; several frames for an image; a
            frame size that does not fit in memory.
        Interrupted: ``stop`` was set before the first frame was dreamed.
    """
    _check_paths(source, output, video)
    if video.music is not None and video.audio is None:  # the music that drives the dream is heard with it
        video = dataclasses.replace(video, audio=video.music)
    report = RunReport(source, output, dream=dataclasses.asdict(dream), video=dataclasses.asdict(video))
    started = time.perf_counter()
    # A live input that sends nothing for live_timeout seconds has ended (0: wait for ever).
    timeout = {"read_timeout": video.live_timeout or None} if video.live else {}
    where = {"frames": video.frame_range, "size": video.frame_size, "width": video.width}
    with open_video(source, **where, **timeout, cancel=stop) as reader:
        # 360°: `auto` follows the input's spherical metadata; the output carries the layout.
        layout = resolve_layout(dream, reader.info.spherical, name=source)
        check_aspect(reader.output_size, layout, strict=dream.strict, name=source)
        check_memory(reader.output_size, resolve_device(dream.device), force=force)
        if video.vr_names:
            output = report.output = vr_name(output, layout)
            check_output_path(source, output)
        if is_image_output(output):
            if reader.expected_frames != 1:
                raise ConfigError(
                    f"{Path(output).name} is an image: it takes one frame", hint="use --frames N, or a video output"
                )
            sink: Sink = ImageSink(output, spherical=spherical_for(*layout))
        else:
            sink = EncodeSink(reader, output, video, report.stage_times, spherical=spherical_for(*layout))
        t = time.perf_counter()
        dreamer = dreamer_for(dream, layout)
        report.stage_times["model_load"] += time.perf_counter() - t
        timeline = Timeline.for_run(dream, video, reader)  # None unless a setting is scheduled
        run_frames(reader, sink, dreamer, video, report=report, stereo=layout.stereo, progress=progress,
                   stop=stop, timeline=timeline)
        report.schedules = timeline.report() if timeline is not None else {}
        report.peak_memory_mb = peak_memory_mb(dreamer.device)
    report.wall_time = time.perf_counter() - started
    if video.json_report:
        report.write_json(video.json_report)
    return report


def run_frames(
    reader,
    sink: Sink,
    dreamer: Dreamer,
    video: VideoSettings,
    *,
    report: RunReport,
    write_from: int | None = None,
    preroll_sink: Sink | None = None,
    stereo: str = "none",
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    timeline: Timeline | None = None,
) -> None:
    """Dream every frame ``reader`` yields, handing those from ``write_from`` on to ``sink``.

    Frames before ``write_from`` are the pre-roll: dreamed for the temporal state they
    leave, not handed to ``sink`` (to ``preroll_sink`` if given: the render keeps them for
    the cross-fade at a chunk join). ``stereo`` (``top-bottom``/``left-right``) dreams both
    eyes of each frame as one (``frame.frame_step``). Counts, cuts and stage times go into
    ``report``; frames dreamed and each scene cut go to ``progress`` (default: a bar or a
    line on stderr). In a live run (``video.live``), ``stop`` set ends the run after the
    frame being dreamed, as the end of the input would: the sink finishes, and
    ``report.live["stopped"]`` says so. ``timeline`` gives each frame its scheduled settings
    (``timeline.py``).

    Raises:
        MediaError: nothing decoded or nothing reached the sink.
        Interrupted: ``stop`` was set before the first frame was dreamed.
    """
    times = report.stage_times
    with ExitStack() as stack:
        step = frame_step(stereo, video)
        temporal = TemporalDreamer(dreamer, video, step=step, dtype=sink.dtype)
        flows = None
        if video.flow != "none" and (timeline is not None and "blend" in timeline.schedules or video.blend > 0):
            wrap_x = dreamer.projection.wraps_x  # a 360° frame's flow wraps across the seam
            # Dreaming on the CPU, worker processes only take cores from torch's threads (and cost a
            # process start): on the 2-core CPU a 24-frame 320x180 run at benchmarks/speed.py's equal
            # settings took 8.0-8.25 s with the flow in the decode thread, 8.4-8.8 s with a worker.
            processes = 0 if dreamer.device.type == "cpu" else None
            scale = video.flow_scale or auto_flow_scale(reader.output_size[0])
            # A stereo frame's disparity is computed with its flow, ahead of the dream.
            eyes = step.disparity_ahead(reader.output_size[0])
            flows = stack.enter_context(
                FlowWorkers(method=video.flow, scale=scale, processes=processes, wrap_x=wrap_x, stereo=eyes)
            )
        total = reader.expected_frames
        bar = stack.enter_context(Progress(total, quiet=video.quiet)) if progress is None else progress
        if progress is None:
            stack.enter_context(dreamer.reporting_steps(bar.step))
        live = _Latest(reader, times, pace=not is_stream(reader.source), stop=stop) if video.live else None
        if live is not None:
            decoded = live
            previous = None
        else:
            decoded = _Stage("decode", _decode_with_flow(reader, flows, times), look_ahead(flows))
        stack.callback(decoded.stop)
        stack.callback(reader.interrupt)  # runs first: the decode thread ends after its current read
        stack.enter_context(sink)
        if preroll_sink is not None:
            stack.enter_context(preroll_sink)

        dreamed = 0

        def deliver(frame: Frame, image, cut: bool) -> None:
            nonlocal dreamed
            if cut:
                report.cuts.append(frame.index)
                bar.cut(frame.index)
            if write_from is None or frame.index >= write_from:
                sink.put(frame, image)
                report.frames += 1
            else:
                if preroll_sink is not None:
                    preroll_sink.put(frame, image)
                report.preroll_frames += 1
            if live is not None:
                live.done(frame)
            dreamed += 1
            bar.update(dreamed, total)

        independent = flows is None and live is None and isinstance(step, MonoStep) and timeline is None
        batch = frame_batch(video, dreamer) if independent else 1
        if batch > 1:
            for group in _groups(decoded, batch):
                t = time.perf_counter()
                images = temporal.dream_independent([frame for frame, _ in group])
                times["dream"] += time.perf_counter() - t
                for (frame, _), image in zip(group, images):
                    deliver(frame, image, False)
        else:
            for frame, flow_future in decoded:
                if live is not None:
                    # Frames are dropped: the flow is between the frames dreamed, so it cannot run ahead.
                    if flows is not None and previous is not None:
                        flow_future = flows.submit_evidence(previous.image, frame.image)
                    previous = frame
                t = time.perf_counter()
                evidence = flow_future.result() if flow_future is not None else None
                times["flow_wait"] += time.perf_counter() - t
                if timeline is not None:
                    timeline.apply(temporal, frame)
                t = time.perf_counter()
                image, cut = temporal(frame, evidence)
                times["dream"] += time.perf_counter() - t
                deliver(frame, image, cut)
        stopped = live is not None and live.stopped
        if dreamed == 0:
            if stopped:
                raise Interrupted("stopped before the first frame was dreamed: nothing written")
            raise MediaError(f"no frames decoded from {reader.source}")
        if live is not None:
            reader.interrupt()
            live.stop()
            report.live = {**live.summary(), "stopped": stopped}


def frame_batch(video: VideoSettings, dreamer: Dreamer) -> int:
    """How many frames with no temporal link go through the dream as one batch.

    ``--frame-batch``, else :data:`CUDA_FRAME_BATCH` on CUDA and 1 elsewhere: on one H100 four
    1080p frames batched took 49 ms a frame against 66 ms one by one (DESIGN's anchors), while
    on the CPU a batch is no faster than its items. 1 where the dreamer cannot give each frame
    its own random stream (``Dreamer.streams_per_item``: a panorama).
    """
    if not dreamer.streams_per_item:
        return 1
    return video.frame_batch or (CUDA_FRAME_BATCH if dreamer.device.type == "cuda" else 1)


def _groups(items: Iterator, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    items = iter(items)
    while group := list(itertools.islice(items, size)):
        yield group


def _check_paths(source: str, output: str, video: VideoSettings) -> None:
    """Fail before any work on a missing input or ``--audio`` file, a still image as input,
    output == input, an output or ``--json-report`` that cannot be written (missing folders
    are created), or a video container that cannot hold the codec."""
    check_video_input(source)
    for sound in (video.audio, video.music):
        if sound is not None:
            check_input_file(sound)
    check_output_path(source, output)
    if not is_image_output(output):
        check_video_output(output, video.codec, video.crf)
    if video.json_report:
        report = Path(video.json_report)
        if not is_stream(output) and report.absolute() == Path(output).absolute():
            raise ConfigError("--json-report is the output", hint="write the report to another file")
        check_output_path(source, report)


def look_ahead(flows: FlowWorkers | None) -> int:
    """Decoded frames queued for the dream: :data:`QUEUE_DEPTH`, or enough that every flow worker
    has a pair (each queued frame carries its pair's future)."""
    return max(QUEUE_DEPTH, flows.processes + 2) if flows is not None else QUEUE_DEPTH


def _decode_with_flow(reader, flows: FlowWorkers | None, times: dict) -> Iterator[tuple[Frame, Future | None]]:
    """Decoded frames, each with the future of its :class:`FlowEvidence` from the previous frame
    (submitted now, so computed ahead of the dream)."""
    previous = None
    frames = iter(reader)
    while True:
        t = time.perf_counter()
        frame = next(frames, None)
        times["decode"] += time.perf_counter() - t
        if frame is None:
            return
        future = flows.submit_evidence(previous.image, frame.image) if flows is not None and previous is not None else None
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
        self._thread = threading.Thread(target=self._run, args=(items,), name=name)
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
        """Let the thread end; it does once its current item is made, and is waited for a second.

        The thread is not a daemon: one still inside a C++ call (OpenCV's flow of a 4000 px pair
        takes seconds) while the interpreter finalised took the GIL back in a C++ destructor,
        which Python answers by ending the thread and C++ by ``std::terminate`` (SIGABRT, exit
        134). The interpreter waits for it instead; the item is bounded (a packet, a flow pair,
        or a URL read that ends after its read timeout, ``io.decode``). The command line does
        not wait at all after a stop: ``cli.main`` ends the process without finalising.
        """
        self._stopped.set()
        self._thread.join(timeout=1)


class _Latest:
    """Live decoding: a thread decodes as the source delivers and keeps only the newest frame.

    When the dream stage is behind, the frame waiting for it is replaced (dropped) by the
    next one, so the output lags the input by at most one frame's dream. A file is read
    at its own rate (``pace``), as a stream would deliver it. Yields ``(frame, None)``;
    ends at the end of the input, or once ``stop`` is set (then ``stopped`` is True).
    Latency is from a frame's decode to :meth:`done` (handed to the sink); recent
    latencies are kept in a bounded window, so memory does not grow with the stream.
    """

    _END = object()
    WINDOW = 2000

    def __init__(self, reader, times: dict, *, pace: bool, stop: threading.Event | None = None) -> None:
        self._request = stop
        self.stopped = False
        self._cond = threading.Condition()
        self._slot: tuple | None = None
        self._finished: object = None
        self._stopped = False
        self.decoded = self.dropped = 0
        self._arrived: dict[int, float] = {}
        self._latencies: collections.deque[float] = collections.deque(maxlen=self.WINDOW)
        self._latency_max = 0.0
        self._thread = threading.Thread(target=self._run, args=(reader, times, pace), name="decode", daemon=True)
        self._thread.start()

    def _run(self, reader, times: dict, pace: bool) -> None:
        try:
            started = first = None
            frames = iter(reader)
            while not self._stopped:
                t = time.perf_counter()
                frame = next(frames, None)
                times["decode"] += time.perf_counter() - t
                if frame is None:
                    break
                if pace:
                    if started is None:
                        started, first = time.perf_counter(), frame.time
                    delay = started + (frame.time - first) - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                with self._cond:
                    self.decoded += 1
                    if self._slot is not None:
                        self.dropped += 1
                        self._arrived.pop(self._slot[0].index, None)
                    self._arrived[frame.index] = time.perf_counter()
                    self._slot = (frame, None)
                    self._cond.notify()
            end: object = self._END
        except BaseException as exc:  # handed to the consumer, which raises it
            end = exc
        with self._cond:
            self._finished = end
            self._cond.notify()

    def __iter__(self):
        while True:
            with self._cond:
                while self._slot is None and self._finished is None and not self._stop_requested():
                    self._cond.wait(timeout=0.1)  # the stop request is an Event, not this condition
                if self._stop_requested():
                    self.stopped = True
                    return
                if self._slot is not None:
                    item, self._slot = self._slot, None
                else:
                    if isinstance(self._finished, BaseException):
                        raise self._finished
                    return
            yield item

    def _stop_requested(self) -> bool:
        return self._request is not None and self._request.is_set()

    def done(self, frame: Frame) -> None:
        """``frame`` has been dreamed and handed on: its latency counts."""
        with self._cond:
            arrived = self._arrived.pop(frame.index, None)
        if arrived is not None:
            latency = time.perf_counter() - arrived
            self._latencies.append(latency)
            self._latency_max = max(self._latency_max, latency)

    def summary(self) -> dict:
        """Input frames, dropped frames (a frame left undreamed by a stop counts) and latency
        (ms: median and p95 of the last WINDOW, max overall)."""
        ordered = sorted(self._latencies)

        def pick(q: float) -> float:
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0

        return {
            "input_frames": self.decoded,
            "dropped_frames": self.dropped + (self._slot is not None),
            "latency_ms": {"median": pick(0.5), "p95": pick(0.95), "max": round(1000 * self._latency_max, 1)},
        }

    def stop(self) -> None:
        """Let the decode thread end (interrupt the reader first); wait for it only briefly: a
        read waiting on a quiet stream returns only at the read timeout, and the reader is
        freed by that thread then (``VideoReader.close``)."""
        with self._cond:
            self._stopped = True
        self._thread.join(timeout=0.5)


class Progress:
    """Frames dreamed: a tqdm bar on a terminal, a plain line every few seconds otherwise, nothing when quiet.

    ``preroll``: how many of the ``total`` frames are pre-roll (dreamed, not written); the
    line says so (``pre-roll 8 + 15 frames``). Scene cuts and notes get a line each.
    """

    PLAIN_EVERY_S = 5.0
    STEP_EVERY_S = 5.0  # a line on the steps of a frame only when one has taken this long since the last line

    def __init__(self, total: int | None, *, quiet: bool, preroll: int = 0) -> None:
        self.total, self.quiet, self.preroll = total, quiet, preroll
        self.bar = None
        self.started = self.last_line = time.perf_counter()
        self.done = self.printed = 0

    def __enter__(self) -> Progress:
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=f"dreaming{self._parts()}", unit="frame", dynamic_ncols=True, file=sys.stderr)
        return self

    def _parts(self) -> str:
        if not self.preroll or not self.total:
            return ""
        return f" (pre-roll {self.preroll} + {self.total - self.preroll} frames)"

    def cut(self, index: int) -> None:
        """A scene cut found before frame ``index``: the dream starts afresh there."""
        self.note(f"scene cut at frame {index}: the dream starts afresh")

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif time.perf_counter() - self.last_line >= self.PLAIN_EVERY_S:
            self.last_line = time.perf_counter()
            print(self._line(done, total), file=sys.stderr, flush=True)
            self.printed = done
        self.done = done

    def step(self, done: int, total: int) -> None:
        """Progress inside the frame being dreamed (``Dreamer.on_step``): steps done of its dream's."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"step {done}/{total}")
        elif time.perf_counter() - self.last_line >= self.STEP_EVERY_S:
            self.last_line = time.perf_counter()
            of = f"/{self.total}" if self.total else ""
            elapsed = time.perf_counter() - self.started
            print(
                f"dreaming frame {self.done + 1}{of}: step {done}/{total} ({elapsed:.0f}s so far)",
                file=sys.stderr,
                flush=True,
            )

    def _line(self, done: int, total: int | None) -> str:
        elapsed = time.perf_counter() - self.started
        fps = done / elapsed if elapsed else 0.0
        of = f"/{total}" if total else ""
        eta = f", eta {(total - done) / fps:.0f}s" if total and fps else ""
        return f"dreamed {done}{of} frames{self._parts()}, {fps:.2f} frames/s{eta}"

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet and self.done != self.printed and exc_type is None:  # the last count, once
            print(self._line(self.done, self.total), file=sys.stderr, flush=True)
