"""The chunk planner: frame ranges → chunks, the render command each runs, and progress.

A chunk is a range of frames one task renders with ``dreamvideo render``: its
pre-roll is dreamed first (not written) so the join with the previous chunk
does not show. Both runners use this: the Ray runner calls ``render_chunk`` for
each planned chunk; the OpenJD bundle lets the job's scheduler cut the range
into chunks of the same size and runs ``render_argv`` for each. Each render
records its chunk in the frames folder (``DIR/chunks/A-B.json``), so
``farm status`` shows the chunking the job used (``job_chunks``).

This module imports no torch: the progress view and the bundle writer are cheap.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..config import FrameRange, parse_frame_ranges
from ..errors import ConfigError
from ..io.sequence import frame_path, index_runs, is_complete

__all__ = [
    "Chunk",
    "ChunkProgress",
    "chunk_progress",
    "format_progress",
    "frames_folder",
    "job_chunks",
    "parse_frame_ranges",
    "plan_chunks",
    "progress_total",
    "render_argv",
    "shell_line",
]


@dataclass(frozen=True)
class Chunk:
    """Task ``number`` renders ``frames``, dreaming from ``decode_from`` (its pre-roll first)."""

    number: int
    frames: FrameRange
    preroll: int

    @property
    def decode_from(self) -> int:
        return max(0, self.frames.start - self.preroll)

    def __str__(self) -> str:
        return f"{self.frames.start}-{self.frames.end}"


def plan_chunks(ranges: list[FrameRange] | FrameRange, chunk: int, *, preroll: int) -> list[Chunk]:
    """Cut each range into chunks of ``chunk`` frames (the last of a range may be shorter).

    Raises:
        ConfigError: ``chunk`` < 1, ``preroll`` < 0, or overlapping ranges.
    """
    if chunk < 1:
        raise ConfigError("--chunk must be at least 1")
    if preroll < 0:
        raise ConfigError("--preroll must not be negative")
    ranges = [ranges] if isinstance(ranges, FrameRange) else list(ranges)
    parse_frame_ranges(",".join(str(r) for r in ranges))  # overlap check
    chunks = []
    for r in ranges:
        for start in range(r.start, r.end + 1, chunk):
            chunks.append(Chunk(len(chunks), FrameRange(start, min(r.end, start + chunk - 1)), preroll))
    return chunks


def render_argv(
    source: str, folder: str, frames: str, *, preroll: int | str, bit_depth: int | str, options: list[str]
) -> list[str]:
    """The arguments after ``dreamvideo`` that render one chunk (any value may be a template placeholder)."""
    return [
        "render", source, "--frames", frames, "--out", folder,
        "--preroll", str(preroll), "--bit-depth", str(bit_depth), *options,
    ]


def job_chunks(recorded: list[FrameRange], *, frames: FrameRange | None, chunk: int | None) -> list[Chunk]:
    """The job's chunks: those ``render`` recorded (the chunking the job really used), by first frame.

    Frames of ``frames`` that no recorded chunk covers (chunks not started yet) are cut into
    chunks of ``chunk`` frames, or one chunk per gap without ``chunk``.

    Raises:
        ConfigError: nothing recorded and no ``frames``.
    """
    if not recorded and frames is None:
        raise ConfigError("no chunk has been rendered here yet", hint="give the job's --frames A-B (and --chunk N)")
    covered = {i for r in recorded for i in range(r.start, r.end + 1)}
    ranges = list(recorded)
    if frames is not None:
        gaps = [i for i in range(frames.start, frames.end + 1) if i not in covered]
        for start, end in index_runs(gaps):
            size = chunk or end - start + 1
            ranges += [FrameRange(a, min(end, a + size - 1)) for a in range(start, end + 1, size)]
    ranges.sort(key=lambda r: (r.start, r.end))
    return [Chunk(n, r, 0) for n, r in enumerate(ranges)]


@dataclass(frozen=True)
class ChunkProgress:
    """How far one chunk is: ``done`` of its frames have complete files."""

    chunk: Chunk
    done: int

    @property
    def complete(self) -> bool:
        return self.done == len(self.chunk.frames)


def chunk_progress(folder: str | os.PathLike, chunks: list[Chunk]) -> list[ChunkProgress]:
    """Complete frame files per chunk in ``folder``."""
    return [
        ChunkProgress(c, sum(is_complete(frame_path(folder, i)) for i in range(c.frames.start, c.frames.end + 1)))
        for c in chunks
    ]


def format_progress(progress: list[ChunkProgress]) -> str:
    """One line per chunk and a total: ``chunk 4/6  30-39  10/10 frames  done``."""
    lines = []
    numbers = [f"{p.chunk.number + 1}/{len(progress)}" for p in progress]
    spans = [str(p.chunk) for p in progress]
    wide = [max(map(len, column), default=0) for column in (numbers, spans)]
    count = max((len(str(len(p.chunk.frames))) for p in progress), default=1)
    for p, number, span in zip(progress, numbers, spans):
        state = "done" if p.complete else "started" if p.done else "waiting"
        lines.append(
            f"chunk {number:<{wide[0]}s}  {span:>{wide[1]}s}  {p.done:>{count}d}/{len(p.chunk.frames):<{count}d} frames  {state}"
        )
    lines.append(progress_total(progress))
    return "\n".join(lines)


def progress_total(progress: list[ChunkProgress]) -> str:
    """``2/6 chunks done, 27/60 frames of the job rendered``."""
    chunks_done = sum(p.complete for p in progress)
    frames_done = sum(p.done for p in progress)
    frames = sum(len(p.chunk.frames) for p in progress)
    return f"{chunks_done}/{len(progress)} chunks done, {frames_done}/{frames} frames of the job rendered"


def frames_folder(output: str | os.PathLike) -> Path:
    """Where a farm job's frames go by default: beside ``output`` (``film.mp4`` → ``film.frames``)."""
    return Path(output).with_suffix(".frames")


def shell_line(argv: list[str]) -> str:
    """``argv`` quoted for a POSIX shell (for messages)."""
    return " ".join(shlex.quote(a) for a in argv)
