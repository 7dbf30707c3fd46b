"""The chunk planner: frame ranges → chunks, the render command each runs, and progress.

A chunk is a range of frames one task renders with ``dreamvideo render``: its
pre-roll is dreamed first (not written) so the join with the previous chunk
does not show. Both runners use this: the Ray runner calls ``render_chunk`` for
each planned chunk; the OpenJD bundle lets the job's scheduler cut the range
into chunks of the same size and runs ``render_argv`` for each.

This module imports no torch: the progress view and the bundle writer are cheap.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from ..config import FrameRange, parse_frame_ranges
from ..errors import ConfigError
from ..io.sequence import frame_path, is_complete

__all__ = [
    "Chunk",
    "ChunkProgress",
    "chunk_progress",
    "format_progress",
    "parse_frame_ranges",
    "plan_chunks",
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
    """One line per chunk and a total: ``chunk 3  30-39  10/10  done``."""
    lines = []
    for p in progress:
        state = "done" if p.complete else "started" if p.done else "waiting"
        lines.append(f"chunk {p.chunk.number:<4d} {str(p.chunk):>13s}  {p.done:>5d}/{len(p.chunk.frames):<5d} {state}")
    chunks_done = sum(p.complete for p in progress)
    frames_done = sum(p.done for p in progress)
    frames = sum(len(p.chunk.frames) for p in progress)
    lines.append(f"{chunks_done}/{len(progress)} chunks done, {frames_done}/{frames} frames")
    return "\n".join(lines)


def shell_line(argv: list[str]) -> str:
    """``argv`` quoted for a POSIX shell (for messages)."""
    return " ".join(shlex.quote(a) for a in argv)
