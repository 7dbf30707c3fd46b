"""Flow worker processes: the flow algorithms (``flow``) run ahead of the dream, frames shared.

:class:`FlowWorkers` computes flow pairs, or :func:`~.flow.flow_evidence`, in a pool of
worker processes (forkserver, else spawn) fed through a ring of shared-memory slots, or
inline with ``processes=0``. Like ``flow``, it imports only numpy, OpenCV and the
standard library: the workers must not load torch.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import partial
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from .flow import flow_evidence, flow_pair, flow_settings

__all__ = ["MAX_PROCESSES", "FlowWorkers", "default_processes"]

MAX_PROCESSES = 12  # flow workers at most: each holds up to 1.4 GB at 7680x3840


def default_processes(cpus: int | None = None) -> int:
    """Number of flow worker processes: the cores but two (the dream thread; decode and
    encode), at least 1, at most :data:`MAX_PROCESSES`.

    A pair (both flows and :func:`flow_evidence`'s checks) costs one core of the 2-core test
    machine 0.38 s at 1920x1080 (flow at half size; 1.07 s full size, as ``film``) and 1.74 s
    at 3840x1920 (half size): 5 frames/s at 3840x1920 needs about nine pairs at once (DESIGN.md,
    Speed). ``cpus``: the cores this process may use (None: found out).
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_PROCESSES, cpus - 2))


class FlowWorkers:
    """Compute flow pairs in worker processes, ahead of the dream stage.

    Flow runs on the CPU while the gradient ascent runs on the GPU, so the two
    overlap. Submit a few pairs ahead of the frame being dreamed.

    Frames reach the workers through shared memory (:class:`_SharedFrames`), each
    once: pickled, every frame crossed twice (it is in two pairs), which cost the
    submitting thread 24 ms of CPU per 1080p pair on the 2-core CPU.

    As with any spawn or forkserver pool, starting the workers imports the
    parent's ``__main__`` script (once, in the fork server): a script that
    imports torch at its top level brings torch into the workers, and
    a script read from stdin cannot start workers at all. Keep the top level
    of scripts that use it light (``dreamvideo.cli`` included).

    Args:
        method, scale, params, wrap_x: as in :func:`compute_flow`; checked here.
        processes: worker processes; ``None`` for :func:`default_processes`,
            ``0`` to compute inline in :meth:`submit` (no pool).
        stereo: ``(layout, scale)`` for a stereo clip: :meth:`submit_evidence` also computes
            the disparity of the current frame's eyes at that flow scale, so the dream
            thread does not wait for it.

    Example:
        >>> with FlowWorkers(method="dis") as workers:  # doctest: +SKIP
        ...     future = workers.submit(prev, cur)
        ...     flow_cur_to_prev, flow_prev_to_cur = future.result()
    """

    def __init__(
        self,
        *,
        method: str = "farneback",
        scale: float = 0.5,
        params: Mapping[str, Any] | None = None,
        processes: int | None = None,
        wrap_x: bool = False,
        stereo: tuple[str, float] | None = None,
    ) -> None:
        flow_settings(method, scale, params)
        if processes is None:
            processes = default_processes()
        if processes < 0:
            raise ConfigError(f"flow processes must be >= 0, got {processes}")
        self.processes = processes
        self._kwargs = {"method": method, "scale": scale, "params": dict(params or {}), "wrap_x": wrap_x}
        self._stereo = stereo
        self._closed = False
        self._pool = None
        self._frames: _SharedFrames | None = None
        if processes > 0:
            # Imported here: the process pool is 30 ms of start-up a one-frame run never needs.
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=processes, mp_context=_context(), initializer=_init_worker
            )
            self._frames = _SharedFrames(slots=2 * processes + 2)

    def submit(self, prev: np.ndarray, cur: np.ndarray) -> Future:
        """Queue the flow pair of two consecutive source frames.

        The frames are sent to a worker after this returns: do not change
        them in place afterwards.

        Args:
            prev: previous source frame, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
            cur: current source frame, same shape.

        Returns:
            A future of ``(flow_cur_to_prev, flow_prev_to_cur)`` as :func:`flow_pair`
            returns it.
        """
        return self._submit(flow_pair, prev, cur)

    def submit_evidence(self, prev: np.ndarray, cur: np.ndarray) -> Future:
        """Queue :func:`flow_evidence` of two consecutive source frames (uint8 RGB ``(H, W, 3)``),
        with the disparity of ``cur``'s eyes for a stereo clip (``stereo``).

        Returns:
            A future of a :class:`FlowEvidence`.
        """
        return self._submit(partial(flow_evidence, stereo=self._stereo) if self._stereo else flow_evidence, prev, cur)

    def _submit(self, fn: Callable, prev: np.ndarray, cur: np.ndarray) -> Future:
        if self._closed:
            raise RuntimeError("FlowWorkers is closed")
        if self._pool is None:
            return self._inline(fn, prev, cur)
        refs = self._frames.hold(prev, cur)
        if refs is None:  # larger than a slot (the frame size changed): pickled
            return self._pool.submit(fn, prev, cur, **self._kwargs)
        future = self._pool.submit(_from_shared, fn, *refs, **self._kwargs)
        future.add_done_callback(lambda _: self._frames.release(refs))
        return future

    def _inline(self, fn: Callable, prev: np.ndarray, cur: np.ndarray) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(prev, cur, **self._kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self, *, abandon: bool = False) -> None:
        """Cancel what has not started, wait for the rest and stop the workers.

        ``abandon``: the results are thrown away (a run stopped or failed), so the pairs being
        computed are not waited for either: the workers are ended where they are.
        """
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if abandon:
                # The pool's own table of its workers (Python 3.14 has terminate_workers()),
                # taken before shutdown() forgets it.
                processes = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for process in processes:
                    process.kill()  # they ignore SIGTERM (_init_worker)
                for process in processes:
                    process.join(timeout=5)
            else:
                pool.shutdown(wait=True, cancel_futures=True)
            self._frames.close()

    def __enter__(self) -> FlowWorkers:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abandon=exc_type is not None)


class _SharedFrames:
    """A ring of shared-memory slots for :class:`FlowWorkers`: each source frame is copied into
    a slot once, and the workers read both frames of a pair from their slots.

    A slot is held while a submitted pair uses it, and the newest frame's slot also until the
    next frame arrives (it is the ``prev`` of the next pair). ``slots`` must exceed the pairs in
    flight by two: with fewer free, :meth:`hold` waits for a worker to finish one (as a full
    queue would).
    """

    def __init__(self, slots: int) -> None:
        self._count = slots
        self._disabled = False  # /dev/shm too small for the slots: frames are pickled
        self._memory: list[SharedMemory] = []
        self._users: list[int] = []  # pairs (and the newest frame) holding each slot
        self._newest: tuple[np.ndarray, int] | None = None  # the last frame copied in, its slot
        self._changed = threading.Condition()

    def hold(self, prev: np.ndarray, cur: np.ndarray) -> tuple[tuple, tuple] | None:
        """Slot references ``(name, shape, dtype)`` for the pair, holding both slots until :meth:`release`;
        None when a frame does not fit the slots (sized by the first frame), or the slots do not fit
        in shared memory."""
        with self._changed:
            if self._disabled:
                return None
            if not self._memory:
                size = max(1, cur.nbytes)
                if not _shared_memory_has_room(self._count * size):
                    self._disabled = True
                    return None
                self._memory = [SharedMemory(create=True, size=size) for _ in range(self._count)]
                self._users = [0] * self._count
            if max(prev.nbytes, cur.nbytes) > self._memory[0].size:
                return None
            if self._newest is not None and self._newest[0] is prev:
                prev_slot = self._newest[1]
            else:
                prev_slot = self._copy_in(prev)
            self._users[prev_slot] += 1
            cur_slot = self._copy_in(cur)
            self._users[cur_slot] += 1
            return self._ref(prev_slot, prev), self._ref(cur_slot, cur)

    def _copy_in(self, frame: np.ndarray) -> int:
        while True:
            free = next((i for i, users in enumerate(self._users) if users == 0), None)
            if free is not None:
                break
            self._changed.wait()
        np.ndarray(frame.shape, frame.dtype, buffer=self._memory[free].buf)[...] = frame
        if self._newest is not None:
            self._users[self._newest[1]] -= 1  # no longer the newest frame
        self._users[free] += 1
        self._newest = (frame, free)
        return free

    def _ref(self, slot: int, frame: np.ndarray) -> tuple:
        return self._memory[slot].name, frame.shape, frame.dtype.str

    def release(self, refs: tuple[tuple, tuple]) -> None:
        """The pair of these references is done with its slots."""
        with self._changed:
            for name, _, _ in refs:
                slot = next((i for i, m in enumerate(self._memory) if m.name == name), None)
                if slot is not None:  # None: closed, after an abandoned pair ended
                    self._users[slot] -= 1
            self._changed.notify_all()

    def close(self) -> None:
        """Free the slots (after the workers stopped)."""
        for memory in self._memory:
            memory.close()
            memory.unlink()
        self._memory = []


def _shared_memory_has_room(size: int) -> bool:
    """Whether ``size`` bytes fit in /dev/shm with room to spare. A container's is often 64 MB
    (Docker's default), less than ten 3840x1920 frames; writing past it kills the process
    (SIGBUS) instead of failing. Where there is no /dev/shm (macOS), assume room."""
    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return True
    return stat.f_bavail * stat.f_frsize >= 2 * size


_ATTACHED: dict[str, SharedMemory] = {}  # in a worker: the parent's slots, attached once each


def _from_shared(fn: Callable, prev_ref: tuple, cur_ref: tuple, **kwargs: Any) -> Any:
    """In a worker: ``fn(prev, cur, **kwargs)`` with the frames read from their shared slots.

    Nothing returned may view a slot: the parent reuses it once this returns.
    """
    frames = []
    for name, shape, dtype in (prev_ref, cur_ref):
        if name not in _ATTACHED:
            # The parent owns and unlinks the slots: the worker must not track them (Python 3.13
            # can say so; before it, tracking the same name again is a no-op in the shared tracker).
            untracked = {"track": False} if sys.version_info >= (3, 13) else {}
            _ATTACHED[name] = SharedMemory(name=name, **untracked)
        frames.append(np.ndarray(shape, np.dtype(dtype), buffer=_ATTACHED[name].buf))
    return fn(*frames, **kwargs)


def _context() -> multiprocessing.context.BaseContext:
    # Not fork: the parent may hold CUDA state and threads. forkserver starts
    # workers from a clean process cheaply; spawn is the fallback elsewhere.
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _init_worker() -> None:
    # The workers already run in parallel; OpenCV's own threads would fight them.
    cv2.setNumThreads(1)
    # Ctrl-C reaches the whole process group (and a service manager's SIGTERM often the whole
    # group too): the parent stops the run and shuts the pool down; a worker that died of it
    # would break the pool under a live run that is finishing, or print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
