"""The exception family. The CLI turns each into one ``error:`` line.

``DreamVideoError`` and its subclasses are errors a user can cause (bad input,
bad options, missing weights): exit code 2. Anything else escaping the library
is an internal failure: exit code 1.
"""

from __future__ import annotations

__all__ = ["DreamVideoError", "ConfigError", "Interrupted", "MediaError", "ModelError"]


class DreamVideoError(Exception):
    """Base of every error a user can cause.

    Args:
        message: one line saying what is wrong.
        hint: optional second line saying what to do about it.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(DreamVideoError):
    """A bad option value, preset or combination of options."""


class MediaError(DreamVideoError):
    """Input that cannot be read, or output that cannot be written."""


class ModelError(DreamVideoError):
    """An unknown model or layer, or weights that cannot be found or loaded."""


class Interrupted(DreamVideoError):
    """The run was stopped (Ctrl-C, SIGTERM): the message says what was kept. Exit code 130, as for
    SIGINT (the command line gives 128 + the signal's number: 143 for SIGTERM)."""

    exit_code = 130
