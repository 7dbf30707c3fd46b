"""A dispatch mode that sees what a step asks of the host: scalar reads, data-dependent shapes,
tensors made from host data, float64 results. On a GPU the first two wait for the device (a
host synchronisation); the third is a copy from the host; the fourth runs at 1/32 to 1/64 of
float32 speed on consumer GPUs. The CPU sees the same operators, so CI catches them without one."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["HostRead", "HostReads", "watching_steps"]

aten = torch.ops.aten

# Each makes the host wait for the device: a value read back, or an output whose shape is data.
SYNCS = frozenset(
    {
        aten._local_scalar_dense.default,  # .item(), bool(t), float(t), int(t)
        aten.nonzero.default,
        aten.masked_select.default,
        aten._unique2.default,
        aten.repeat_interleave.Tensor,
    }
)


class HostRead(AssertionError):
    """A step read a tensor's value (or a data-dependent shape) back to the host."""


class HostReads(TorchDispatchMode):
    """Counts, while active, the host synchronisations (``syncs``), the tensors built from host data
    (``uploads``: ``torch.tensor``, ``torch.as_tensor``, ``torch.from_numpy``) and the operators with
    a float64 result (``float64``); raises ``HostRead`` on a sync once ``allowed_syncs`` are used up
    (None: never, count only)."""

    def __init__(self, *, allowed_syncs: int | None = 0) -> None:
        super().__init__()
        self.allowed_syncs = allowed_syncs
        self.syncs: Counter[str] = Counter()
        self.uploads = 0
        self.float64: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNCS:
            self.syncs[str(func)] += 1
            if self.allowed_syncs is not None and sum(self.syncs.values()) > self.allowed_syncs:
                raise HostRead(f"host synchronisation inside a step: {func}")
        elif func is aten.lift_fresh.default:
            self.uploads += 1
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.dtype == torch.float64:
            self.float64[str(func)] += 1
        return out


@contextmanager
def watching_steps(dreamer, reads: HostReads):
    """Enter ``reads`` during every ``dreamer.step`` (and only there) while the block runs; counts
    the steps in ``reads.steps``."""
    step = dreamer.step
    reads.steps = 0

    def watched(*args, **kwargs):
        reads.steps += 1
        with reads:
            return step(*args, **kwargs)

    dreamer.step = watched
    try:
        yield reads
    finally:
        del dreamer.step  # the instance attribute goes; the class's method is back
