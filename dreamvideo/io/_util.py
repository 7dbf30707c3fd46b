"""Helpers shared by the io modules: source kinds, even sizes, path checks."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

import av

from dreamvideo.errors import MediaError

# libswscale's flags (swscale.h) as plain ints: PyAV before 18 (the newest for Python 3.10) has no
# names for the last three, and takes the ints as they are.
SWS_BILINEAR, SWS_BICUBIC = 2, 4
SWS_FULL_CHR_H_INT, SWS_FULL_CHR_H_INP, SWS_ACCURATE_RND = 0x2000, 0x4000, 0x40000

__all__ = ["is_url", "is_stream", "even", "check_input_file", "check_output_path", "check_writable_folder", "av_reason"]

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
    if p.is_file() and p.stat().st_size == 0:
        raise MediaError(f"{p} is empty (0 bytes)", hint="was it cut short when it was copied or recorded?")


def check_output_path(source: str | os.PathLike, output: str | os.PathLike) -> None:
    """Raise MediaError, before any work, if ``output`` is ``source`` or cannot be written.

    A missing folder is created (as render tools do); writability is found out by
    creating and removing a hidden file beside ``output``, so a place that cannot be
    written (``/proc/x.mp4``, a read-only folder) fails here, not after the dream.
    Streams (``-`` and URLs) on either side are not paths and pass.
    """
    source, output = str(source), str(output)
    if is_stream(output):
        return
    out = Path(output)
    if not is_stream(source) and out.exists() and out.resolve() == Path(source).resolve():
        raise MediaError(f"output {output} is the input", hint="write the dream to another file")
    if out.is_dir():
        raise MediaError(f"cannot write {output}: it is a folder", hint="name a file in it")
    check_writable_folder(out.absolute().parent, what=output)


def check_writable_folder(folder: str | os.PathLike, *, what: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` (and its parents) if missing and prove a file can be made in it.

    ``what`` names the output in the error (default: the folder). Returns the folder.

    Raises:
        MediaError: the folder cannot be created, is a file, or refuses a new file.
    """
    folder = Path(folder)
    what = folder if what is None else what
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise MediaError(f"cannot write {what}: {_existing_file(folder)} is a file, not a folder") from None
    except OSError as e:
        raise MediaError(f"cannot write {what}: cannot create folder {folder} ({e.strerror or e})") from None
    probe = folder / f".dreamvideo-write-test-{secrets.token_hex(4)}"
    try:
        with open(probe, "xb"):
            pass
    except OSError as e:
        raise MediaError(f"cannot write {what}: {e.strerror or e}") from None
    with contextlib.suppress(OSError):
        probe.unlink()
    return folder


def _existing_file(folder: Path) -> Path:
    """The first path on the way to ``folder`` that is a file (what stops ``mkdir``)."""
    for parent in reversed([folder, *folder.parents]):
        if parent.exists() and not parent.is_dir():
            return parent
    return folder


def av_reason(error: BaseException) -> str:
    """FFmpeg's short reason for an error, without the file name it repeats."""
    if isinstance(error, av.FFmpegError) and error.strerror:
        return error.strerror
    return str(error)
