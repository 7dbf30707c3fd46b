"""Dense optical flow between source frames, inline or in worker processes.

Flow is ``float32 (H, W, 2)`` in pixels, ``(dx, dy)``, named by direction:
``flow_src_to_dst`` samples ``dst`` at ``x + flow(x)`` for each pixel ``x`` of
``src``. So ``flow_cur_to_prev`` pulls the previous frame onto the current grid.

This module imports only numpy, OpenCV and the standard library: the worker
processes of :class:`FlowWorkers` import it and must not load torch.

:func:`flow_evidence` is what the staged runner asks the workers for: besides the
flow, the carry weights and the cut decision (``keep.carry_weights``) are computed
there, ahead of the dream, instead of on the dream thread while the device waits;
and only the flow the warp needs comes back, at the scale it was computed at (the
dream side upsamples it on the device).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from multiprocessing.shared_memory import SharedMemory
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError

__all__ = [
    "FLOW_METHODS",
    "FLOW_MIN_WIDTH",
    "MAX_PROCESSES",
    "PIPELINE_FARNEBACK_PARAMS",
    "METRIC_FARNEBACK_PARAMS",
    "DIS_PARAMS",
    "compute_flow",
    "flow_pair",
    "FlowEvidence",
    "flow_evidence",
    "stereo_disparity",
    "auto_flow_scale",
    "default_processes",
    "FlowWorkers",
]

FLOW_METHODS = ("farneback", "dis")

# ``--flow-scale``'s default: half size (at 1080p a quarter of full-size Farneback's cost, DESIGN's
# anchors), but never fewer than this many pixels across: on small frames half size leaves too little
# texture to track. Full-size rather than half-size flow, benchmarks/coherence.py's warp ratios (at
# about equal strength): the 128 px camera path 0.361 -> 0.339, the occluder 0.713 -> 0.656, the
# 224 px sample pan 0.274 -> 0.254.
FLOW_MIN_WIDTH = 640

# Two Farneback settings, one per purpose; they differ only in poly_sigma.
#
# The pipeline's (the default of every function here), tuned: winsize 21 and poly_sigma 1.1
# (OpenCV's advice for poly_n 5) had the lowest end-point error of winsize 13-21, poly_sigma
# 1.1-1.2 at half size. More than 4 levels is never used at 1080p and below: OpenCV drops
# levels under 32 px.
PIPELINE_FARNEBACK_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "pyr_scale": 0.5,
        "levels": 4,
        "winsize": 21,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.1,
        "flags": 0,
    }
)

# The metrics' (warp error, ``dreamvideo metrics``), fixed by the founders' DESIGN.md (Metrics)
# so that figures from different runs and machines compare: never tune these.
METRIC_FARNEBACK_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "pyr_scale": 0.5,
        "levels": 4,
        "winsize": 21,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.2,
        "flags": 0,
    }
)

# The fast preset stops at a quarter of its input, which on top of our
# downscaling is too coarse: the forward-backward check then rejects half of a
# zoom. finest_scale 1 costs about 4x and matches the medium preset's accuracy.
DIS_PARAMS: Mapping[str, Any] = MappingProxyType({"preset": "fast", "finest_scale": 1})

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_DIS_SETTERS = {
    "finest_scale": "setFinestScale",
    "patch_size": "setPatchSize",
    "patch_stride": "setPatchStride",
    "gradient_descent_iterations": "setGradientDescentIterations",
    "variational_refinement_iterations": "setVariationalRefinementIterations",
}
_DEFAULTS = {"farneback": PIPELINE_FARNEBACK_PARAMS, "dis": DIS_PARAMS}
_KNOWN = {"farneback": tuple(PIPELINE_FARNEBACK_PARAMS), "dis": ("preset", *_DIS_SETTERS)}


def compute_flow(
    src: np.ndarray,
    dst: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> np.ndarray:
    """Compute the dense flow that samples ``dst`` for each pixel of ``src``.

    The flow is computed on grey frames resized to ``scale`` of their size
    (area interpolation) and scaled back up, vectors included.

    Args:
        src: frame the flow is defined on, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        dst: frame the flow points into, same shape as ``src``.
        method: one of :data:`FLOW_METHODS`.
        scale: resolution factor in ``(0, 1]`` for the computation.
        params: overrides of :data:`PIPELINE_FARNEBACK_PARAMS` or :data:`DIS_PARAMS`,
            key by key. DIS keys: ``preset`` (``ultrafast``, ``fast``,
            ``medium``), ``finest_scale``, ``patch_size``, ``patch_stride``,
            ``gradient_descent_iterations``, ``variational_refinement_iterations``.
        wrap_x: the left and right edges are neighbours (an equirect panorama): the
            frames are padded with the other edge's columns before the flow is
            computed, so motion across the seam is found; the padding is cut off.

    Returns:
        ``flow_src_to_dst``, float32 ``(H, W, 2)`` in pixels: ``dst`` sampled at
        ``x + flow(x)`` resembles ``src`` at ``x``.

    Raises:
        ConfigError: unknown method or parameter, or scale outside ``(0, 1]``.
        ValueError: frames that are not uint8, or of different sizes.
    """
    settings = _settings(method, scale, params)
    _check_pair(src, dst)
    return _flow(_prepare(src, scale), _prepare(dst, scale), method, settings, src.shape[:2], wrap_x)


def flow_pair(
    prev: np.ndarray,
    cur: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the flow in both directions between consecutive frames.

    Args:
        prev: previous source frame, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        cur: current source frame, same shape.
        method, scale, params, wrap_x: as in :func:`compute_flow`.

    Returns:
        ``(flow_cur_to_prev, flow_prev_to_cur)``, each float32 ``(H, W, 2)``.
    """
    back, forward = _pair_at_scale(prev, cur, method, scale, params, wrap_x)
    size = prev.shape[:2]
    return _upsample(back, size), _upsample(forward, size)


@dataclass(frozen=True)
class FlowEvidence:
    """What the dream of the current frame needs from the previous one, computed ahead.

    Attributes:
        size: ``(H, W)`` of the frames.
        cut: whether the current frame starts a new shot.
        flow_cur_to_prev: float32 ``(h, w, 2)`` at the scale it was computed at, vectors in
            pixels of that scale; None after a cut. ``warp.flow_to_tensor(..., size=size)``
            brings it to the frame's size.
        keep: float32 ``(H, W)`` in [0, 1], the carry weights (``keep.carry_weights``); None
            after a cut. Not float16: the ascent amplifies its rounding to 0.1 grey levels on
            average by the third frame.
        disparity: for a stereo clip, :func:`stereo_disparity` of the current frame (cut or
            not); None otherwise.
    """

    size: tuple[int, int]
    cut: bool
    flow_cur_to_prev: np.ndarray | None
    keep: np.ndarray | None
    disparity: tuple[np.ndarray, np.ndarray] | None = None


def flow_evidence(
    prev: np.ndarray,
    cur: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
    stereo: tuple[str, float] | None = None,
) -> FlowEvidence:
    """The flow pair of two consecutive source frames and what the dream decides from it.

    The same function the dream thread would call (``keep.carry_weights``: consistency and
    photometric checks, scene cut, softened weights), at full resolution, here: in a
    worker process, ahead of the dream.

    Args:
        prev, cur: consecutive source frames, uint8 RGB ``(H, W, 3)``.
        method, scale, params, wrap_x: as in :func:`compute_flow`.
        stereo: ``(layout, scale)`` of a stereo clip: also the disparity of ``cur``'s eyes
            (:func:`stereo_disparity`, at that flow scale).
    """
    from .keep import carry_weights

    disparity = None
    if stereo is not None:
        layout, eye_scale = stereo
        disparity = stereo_disparity(*_eyes(cur, layout), method=method, scale=eye_scale, params=params, wrap_x=wrap_x)
    small_back, small_forward = _pair_at_scale(prev, cur, method, scale, params, wrap_x)
    size = prev.shape[:2]
    keep, cut = carry_weights(prev, cur, _upsample(small_back, size), _upsample(small_forward, size), wrap_x=wrap_x)
    if cut:
        return FlowEvidence(size, True, None, None, disparity)
    return FlowEvidence(size, False, small_back, keep, disparity)


def stereo_disparity(
    left: np.ndarray,
    right: np.ndarray,
    *,
    method: str = "farneback",
    scale: float = 0.5,
    params: Mapping[str, Any] | None = None,
    wrap_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The flow from the right eye to the left one, and where it can be trusted.

    Args:
        left, right: the source eyes, uint8 RGB ``(h, w, 3)``.
        method, scale, params, wrap_x: as in :func:`compute_flow`.

    Returns:
        ``(flow_right_to_left, weight)``: float32 ``(h', w', 2)`` at the scale the flow was
        computed at, in pixels of that scale (``warp.flow_to_tensor(..., size=(h, w))`` brings
        it to the eye: the left eye sampled at ``x + flow`` resembles the right eye at ``x``),
        and the soft consistency mask, float32 ``(h, w)`` in [0, 1] (``occlusion.blend_mask``).
    """
    from .occlusion import blend_mask

    right_to_left, left_to_right = _pair_at_scale(left, right, method, scale, params, wrap_x)
    size = left.shape[:2]
    weight = blend_mask(_upsample(right_to_left, size), _upsample(left_to_right, size), wrap_x=wrap_x)
    return right_to_left, weight


def _eyes(frame: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)`` eyes of a stereo frame ``(H, W, 3)`` (as ``panorama.stereo.split_eyes``)."""
    if layout == "top-bottom":
        half = frame.shape[0] // 2
        return frame[:half], frame[half:]
    half = frame.shape[1] // 2
    return frame[:, :half], frame[:, half:]


def auto_flow_scale(width: int) -> float:
    """The flow scale for frames ``width`` px wide when none is given: 0.5, or more so that the
    flow is at least :data:`FLOW_MIN_WIDTH` px wide (1 for frames up to that width)."""
    return min(1.0, max(0.5, FLOW_MIN_WIDTH / width))


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
        _settings(method, scale, params)
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

    def close(self) -> None:
        """Cancel what has not started, wait for the rest and stop the workers."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._frames.close()

    def __enter__(self) -> FlowWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
                self._users[next(i for i, m in enumerate(self._memory) if m.name == name)] -= 1
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


def _settings(method: str, scale: float, params: Mapping[str, Any] | None) -> dict[str, Any]:
    if method not in FLOW_METHODS:
        raise ConfigError(
            f"unknown flow method {method!r}", hint=f"use one of: {', '.join(FLOW_METHODS)}"
        )
    if not 0 < scale <= 1:
        raise ConfigError(
            f"flow scale must be in (0, 1], got {scale}", hint="0.5 computes flow at half size"
        )
    unknown = sorted(set(params or {}) - set(_KNOWN[method]))
    if unknown:
        raise ConfigError(
            f"unknown {method} flow parameter {unknown[0]!r}",
            hint=f"known: {', '.join(_KNOWN[method])}",
        )
    settings = {**_DEFAULTS[method], **(params or {})}
    if method == "dis" and settings["preset"] not in _DIS_PRESETS:
        raise ConfigError(
            f"unknown DIS preset {settings['preset']!r}",
            hint=f"use one of: {', '.join(_DIS_PRESETS)}",
        )
    return settings


def _pair_at_scale(
    prev: np.ndarray, cur: np.ndarray, method: str, scale: float, params: Mapping[str, Any] | None, wrap_x: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(flow_cur_to_prev, flow_prev_to_cur)`` at the size the flow is computed at (``scale`` of
    the frames'), vectors in pixels of that size; :func:`_upsample` brings them to the frames."""
    settings = _settings(method, scale, params)
    _check_pair(prev, cur)
    small_prev, small_cur = _prepare(prev, scale), _prepare(cur, scale)
    at = small_cur.shape[:2]
    return (
        _flow(small_cur, small_prev, method, settings, at, wrap_x),
        _flow(small_prev, small_cur, method, settings, at, wrap_x),
    )


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"flow needs uint8 frames, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"flow needs frames of one shape, got {a.shape} and {b.shape}")


def _prepare(frame: np.ndarray, scale: float) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    elif frame.ndim != 2:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grey frame, got shape {frame.shape}")
    if scale == 1:
        return frame
    h, w = frame.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _flow(
    src: np.ndarray,
    dst: np.ndarray,
    method: str,
    settings: dict[str, Any],
    size: tuple[int, int],
    wrap_x: bool = False,
) -> np.ndarray:
    pad = 0
    if wrap_x:
        # Enough of the other edge for the coarsest pyramid level's window to see across the seam.
        pad = min(src.shape[1], max(16, src.shape[1] // 8))
        src = cv2.copyMakeBorder(src, 0, 0, pad, pad, cv2.BORDER_WRAP)
        dst = cv2.copyMakeBorder(dst, 0, 0, pad, pad, cv2.BORDER_WRAP)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(src, dst, None, **settings)
    else:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[settings["preset"]])
        for key, setter in _DIS_SETTERS.items():
            if key in settings:
                getattr(dis, setter)(int(settings[key]))
        flow = dis.calc(src, dst, None)
    if pad:
        flow = flow[:, pad:-pad]
    return _upsample(flow, size)


def _upsample(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``flow`` resized to ``size`` ``(H, W)``, vectors scaled with it."""
    h, w = size
    if flow.shape[:2] != (h, w):
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return np.ascontiguousarray(flow, dtype=np.float32)


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
