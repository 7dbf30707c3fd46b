"""The one way files are written: under a temporary name beside the target, renamed when complete.

A failure (or a killed process) never leaves a half-written file under the
target's name, and an existing file stays as it was until the new one is whole.

    with AtomicFile(path) as tmp:        # tmp: a hidden name in path's folder, same suffix
        container = av.open(str(tmp), "w") ...
    write_atomically(path, data)         # bytes or text
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from dreamvideo.errors import MediaError

__all__ = ["AtomicFile", "temp_path_beside", "write_atomically"]


def temp_path_beside(path: str | os.PathLike) -> Path:
    """A fresh hidden name in the same folder as ``path``, keeping its suffix.

    Same folder so the final ``os.replace`` is an atomic rename on one file system;
    same suffix so tools that pick the format from the name still see it.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


class AtomicFile:
    """A temporary path beside ``target`` that becomes ``target`` on ``commit``.

    As a context manager it yields the temporary path, commits on success and
    discards on an exception. Writers with their own life cycle (the video
    encoder) call ``commit`` and ``discard`` themselves.
    """

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = Path(target)
        self.path = temp_path_beside(self.target)
        self._done = False

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it onto the target.

        Raises:
            MediaError: the rename failed (the temporary file is removed).
        """
        if self._done:
            return
        self._done = True
        try:
            with open(self.path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self.path, self.target)
        except OSError as e:
            self._remove()
            raise MediaError(f"cannot write {self.target}: {e.strerror or e}") from e

    def discard(self) -> None:
        """Remove the temporary file; the target stays as it was."""
        self._done = True
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomically(target: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` atomically.

    Raises:
        MediaError: the file cannot be written; an existing ``target`` is untouched.
    """
    if isinstance(data, str):
        data = data.encode()
    atomic = AtomicFile(target)
    try:
        with open(atomic.path, "xb") as f:
            f.write(data)
    except OSError as e:
        atomic.discard()
        raise MediaError(f"cannot write {target}: {e.strerror or e}") from e
    atomic.commit()
