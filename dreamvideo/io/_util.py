"""Helpers shared by the io modules: source kinds, even sizes, path checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import av

from dreamvideo.errors import MediaError

__all__ = ["is_url", "is_stream", "even", "check_input_file", "check_output_path", "av_reason"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(source: str) -> bool:
    """True for ``scheme://...`` addresses that FFmpeg opens itself."""
    return bool(_URL.match(source))


def is_stream(source: str) -> bool:
    """True for ``-`` (stdin/stdout) and URLs: sources that cannot seek or be renamed."""
    return source == "-" or is_url(source)


def even(x: float) -> int:
    """Round to the nearest even integer, at least 2 (yuv420p needs even sizes)."""
    return max(2, 2 * int(x / 2 + 0.5))


def check_input_file(path: str | os.PathLike) -> None:
    """Raise MediaError unless ``path`` is an existing, readable file."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such file: {p}")
    if p.is_dir():
        raise MediaError(f"{p} is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise MediaError(f"cannot read {p}: permission denied")


def check_output_path(source: str | os.PathLike, output: str | os.PathLike) -> None:
    """Raise MediaError, before any work, if ``output`` is ``source`` or its folder is missing.

    Streams (``-`` and URLs) on either side are not paths and pass.
    """
    source, output = str(source), str(output)
    if is_stream(output):
        return
    out = Path(output)
    if not is_stream(source) and out.exists() and out.resolve() == Path(source).resolve():
        raise MediaError(f"output {output} is the input", hint="write the dream to another file")
    folder = out.absolute().parent
    if not folder.is_dir():
        raise MediaError(f"cannot write {output}: folder {folder} does not exist")


def av_reason(error: BaseException) -> str:
    """FFmpeg's short reason for an error, without the file name it repeats."""
    if isinstance(error, av.FFmpegError) and error.strerror:
        return error.strerror
    return str(error)
