"""The ``dreamvideo`` command: parse, call the library, map errors to exit codes.

Exit codes: 0 success (a live run stopped by a signal included), 2 an error the
user can fix (``DreamVideoError``), 1 an internal failure, 130 interrupted (SIGINT),
143 terminated (SIGTERM; see ``signals``). Errors are one ``error:`` line on stderr
(plus a ``hint:`` line where it helps); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings

from ..errors import DreamVideoError, Interrupted
from .args import build_parser
from .signals import STOP

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    whole_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    STOP.install()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = _run(argv, debug)
    finally:
        STOP.restore()
    if whole_process and code == STOP.exit_code and code in _STOPPED:
        _end_stopped_process(code)
    return code


_STOPPED = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def _end_stopped_process(code: int) -> None:
    """End a command stopped by a signal now, without finalising the interpreter.

    The run has already abandoned its output, removed its temporary files and said so; what is
    left is work whose result is thrown away (a flow pair inside OpenCV, a read waiting on a
    URL) and freeing memory the system frees anyway. Waiting for it took seconds at 4000 px
    (10-35 s on a loaded machine), and finalising while a thread was still inside C++ aborted
    the process (exit 134).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _run(argv: list[str], debug: bool) -> int:
    try:
        args = build_parser().parse_args(argv)
        from . import commands  # heavy imports (torch, av) only once the arguments parse

        return getattr(commands, args.command)(args) or 0
    except DreamVideoError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return STOP.exit_code if isinstance(exc, Interrupted) else exc.exit_code
    except KeyboardInterrupt:
        print(f"error: {STOP.what}", file=sys.stderr)
        return STOP.exit_code
    except BrokenPipeError:
        return 1
    except Exception as exc:  # an internal failure: say so in one line, traceback only on request
        if debug:
            traceback.print_exc()
        print(f"error: internal failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: rerun with --debug for the traceback, and report it", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)
