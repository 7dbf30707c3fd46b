"""Run the chunks of a dream as Ray tasks (one GPU each where the cluster has GPUs), then assemble.

Needs the optional extra: ``pip install 'dreamvideo[farm]'``. Without ``address``
a local Ray instance is started (and stopped again); with one, the tasks go to
that cluster, whose workers must have dreamvideo and see the same paths. A
failed chunk is tried again (``retries``): its complete frames are kept, so a
retry renders only what is missing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import DreamSettings, FrameRange, VideoSettings
from ..errors import ConfigError, DreamVideoError, MediaError
from ..io import check_input_file, check_output_path, open_video
from ..render import assemble, prepare_render, render_frames
from .plan import Chunk, chunk_progress, format_progress, parse_frame_ranges, plan_chunks

__all__ = ["FarmResult", "render_chunk", "run_on_ray"]


@dataclass
class FarmResult:
    """What a farm run did: frames assembled, chunks run, where the frames are."""

    frames: int
    chunks: int
    work: Path


def render_chunk(
    source: str, work: str, chunk: Chunk, dream: DreamSettings, video: VideoSettings, bit_depth: int
) -> int:
    """The call each task runs: render one chunk (resuming); returns the frames it wrote."""
    result = render_frames(source, work, chunk.frames, dream, video, preroll=chunk.preroll, bit_depth=bit_depth)
    return len(result.written)


def _job_range(source: str, frames: str | None, video: VideoSettings) -> FrameRange:
    if frames is not None:
        ranges = parse_frame_ranges(frames)
        if len(ranges) != 1:
            raise ConfigError("farm ray takes one frame range A-B")
        return ranges[0]
    with open_video(source, size=video.frame_size, width=video.width) as reader:
        count = reader.info.frame_count
    if not count:
        raise ConfigError(f"the frame count of {source} is not recorded", hint="give --frames A-B")
    return FrameRange(0, count - 1)


def run_on_ray(
    source: str,
    output: str,
    *,
    chunk: int,
    dream: DreamSettings,
    video: VideoSettings,
    frames: str | None = None,
    preroll: int = 8,
    bit_depth: int = 8,
    address: str | None = None,
    retries: int = 2,
    work: str | os.PathLike | None = None,
    task: Callable[..., int] = render_chunk,
) -> FarmResult:
    """Render ``frames`` (default: the whole clip) of ``source`` in chunks on Ray, then assemble ``output``.

    ``task`` is what each Ray task calls, with ``render_chunk``'s arguments (a wrapper
    can add logging or, in the tests, a failure). Progress (chunks and frames done) goes
    to stderr as each chunk ends, unless ``video.quiet``.

    Raises:
        ConfigError: Ray is missing, bad range/chunk/pre-roll, a work folder of another render.
        MediaError: a chunk failed on every try (complete frames stay; rerun to resume), assembly failed.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the Ray runner needs Ray", hint="pip install 'dreamvideo[farm]'"
        ) from None
    if retries < 0:
        raise ConfigError("--retries must not be negative")
    check_input_file(source)
    check_output_path(source, output)
    span = _job_range(source, frames, video)
    chunks = plan_chunks(span, chunk, preroll=preroll)
    work = Path(work) if work is not None else Path(output).with_suffix(".frames")
    quiet = video.quiet
    video = replace(video, quiet=True, json_report=None)  # each task's own output would interleave
    prepare_render(source, work, [span], dream, video, bit_depth=bit_depth)  # refuse early, not in every task

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        remote = ray.remote(
            num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=retries, retry_exceptions=True
        )(task)
        pending = {
            remote.remote(str(Path(source).resolve()), str(work.resolve()), c, dream, video, bit_depth): c
            for c in chunks
        }
        failures = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                c = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as exc:  # after every retry: a RayTaskError wrapping the task's exception
                    failures.append((c, exc))
                if not quiet:
                    state = "done" if c not in [f for f, _ in failures] else "failed"
                    total = format_progress(chunk_progress(work, chunks)).splitlines()[-1]
                    print(f"chunk {c.number} ({c}) {state}: {total}", file=sys.stderr, flush=True)
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        c, exc = failures[0]
        cause = exc.cause if hasattr(exc, "cause") and exc.cause is not None else exc
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise MediaError(
            f"{len(failures)} of {len(chunks)} chunks failed after {retries + 1} tries; chunk {c.number} ({c}): {reason}",
            hint=f"rerun the same command: the frames already in {work} are kept",
        ) from (cause if isinstance(cause, DreamVideoError) else None)
    count = assemble(work, output, source=source, frames=span)
    return FarmResult(frames=count, chunks=len(chunks), work=work)
