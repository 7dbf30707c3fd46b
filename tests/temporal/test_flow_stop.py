"""A run stopped with flow pairs in the worker processes ends them instead of waiting for them."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dreamvideo.temporal.workers import FlowWorkers


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_leaving_with_an_exception_kills_the_pairs_being_computed():
    rng = np.random.default_rng(0)
    prev = rng.integers(0, 255, (1440, 2560, 3), dtype=np.uint8)  # a pair takes seconds here
    cur = np.roll(prev, 3, axis=1)
    with pytest.raises(KeyboardInterrupt):
        with FlowWorkers(processes=1, scale=1) as workers:
            futures = [workers.submit_evidence(prev, cur) for _ in range(4)]
            futures[0].result(timeout=60)  # the worker is started; the next pair is being computed
            stopped = time.monotonic()
            raise KeyboardInterrupt
    took = time.monotonic() - stopped
    assert took < 3, f"{took:.1f} s to close"
    assert all(f.done() for f in futures)
    assert all(f.cancelled() or f.exception() is not None for f in futures[2:]), futures  # no result waited for
    assert not workers._frames._memory  # the shared slots are freed
