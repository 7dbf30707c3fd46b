"""The ``dreamvideo`` command: parse, call the library, map errors to exit codes.

Exit codes: 0 success (a live run stopped by a signal included), 2 an error the
user can fix (``DreamVideoError``), 1 an internal failure, 130 interrupted (SIGINT),
143 terminated (SIGTERM; see ``signals``). Errors are one ``error:`` line on stderr
(plus a ``hint:`` line where it helps); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
import warnings

from ..errors import DreamVideoError, Interrupted
from .args import build_parser
from .signals import STOP

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    STOP.install()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _run(argv, debug)
    finally:
        STOP.restore()


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
