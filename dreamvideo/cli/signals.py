"""Stopping a run: SIGTERM (``timeout``, systemd, container stops, farm managers) is handled
like SIGINT (Ctrl-C), and a second one of either ends the process at once.

A run that is not live gets ``KeyboardInterrupt`` at the first signal and abandons its
output (an existing file is kept, temporary files are removed). Inside
:meth:`Stop.gracefully` (a live run) the first signal only sets an event that the run
polls, so it finishes what it dreamed. Signal handlers belong to the process, so their
state does too: :data:`STOP`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STOP", "Stop"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """The SIGINT/SIGTERM handlers of one command, and which signal (if any) stopped it."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._event: threading.Event | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        """Handle both signals from now on (main thread only; elsewhere Python cannot)."""
        self.received, self._event = None, None
        if threading.current_thread() is not threading.main_thread():
            return
        for number in _SIGNALS:
            previous = signal.getsignal(number)
            if previous is signal.SIG_IGN:
                continue  # a background job's Ctrl-C stays ignored, as its shell asked
            self._previous[number] = previous
            signal.signal(number, self._handle)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        while self._previous:
            number, previous = self._previous.popitem()
            signal.signal(number, previous)

    def _handle(self, number: int, frame) -> None:
        if self.received is not None:
            print(f"error: {signal.Signals(number).name} again: stopped at once", file=sys.stderr, flush=True)
            os._exit(128 + number)
        self.received = number
        if self._event is not None:
            self._event.set()
            return
        raise KeyboardInterrupt

    @contextmanager
    def gracefully(self) -> Iterator[threading.Event]:
        """Within this block the first signal sets the yielded event instead of interrupting."""
        self._event = threading.Event()
        try:
            yield self._event
        finally:
            self._event = None

    @property
    def name(self) -> str:
        """The signal received, e.g. ``SIGTERM`` (``SIGINT`` when none was: a KeyboardInterrupt)."""
        return signal.Signals(self.received or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process ended by it: 130 or 143."""
        return 128 + (self.received or signal.SIGINT)

    @property
    def what(self) -> str:
        """``interrupted`` (SIGINT) or ``terminated`` (SIGTERM), to begin the line saying so."""
        return "terminated" if self.received == signal.SIGTERM else "interrupted"


STOP = Stop()
