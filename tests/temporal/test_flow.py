from __future__ import annotations

from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest
import torch

from dreamvideo.errors import ConfigError
from dreamvideo.temporal.flow import FLOW_METHODS, FLOW_MIN_WIDTH, auto_flow_scale, compute_flow, flow_evidence, flow_pair
from dreamvideo.temporal.workers import MAX_PROCESSES, FlowWorkers, _SharedFrames, default_processes
from dreamvideo.temporal.warp import warp

# The content moves by SHIFT pixels (dx, dy) from prev to cur.
SHIFT = (5, -3)


@pytest.fixture
def moving_pair(photos, crop):
    """Two 128-pixel crops of a photo; cur(x) = prev(x - SHIFT)."""
    x, y = 150, 250  # textured: Farneback at full size is poor on flat skin
    prev = crop(photos["astronaut"], x, y)
    cur = crop(photos["astronaut"], x - SHIFT[0], y - SHIFT[1])
    return prev, cur


def interior(array: np.ndarray, margin: int = 16) -> np.ndarray:
    return array[margin:-margin, margin:-margin]


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_known_shift_is_recovered(moving_pair, method, scale):
    prev, cur = moving_pair
    flow = compute_flow(cur, prev, method=method, scale=scale)
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    expected = -np.array(SHIFT, np.float32)  # cur samples prev at x - SHIFT
    assert np.allclose(np.median(interior(flow), axis=(0, 1)), expected, atol=0.25)
    assert np.abs(interior(flow) - expected).mean() < 0.5


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_warp_along_flow_cur_to_prev_gives_cur(moving_pair, method):
    prev, cur = moving_pair
    flow_cur_to_prev = compute_flow(cur, prev, method=method)
    prev_t = torch.from_numpy(prev).permute(2, 0, 1)[None].float()
    warped = warp(prev_t, flow_cur_to_prev)[0].permute(1, 2, 0).numpy()
    error = np.abs(interior(warped) - interior(cur)).mean()
    unwarped = np.abs(interior(prev.astype(np.float32)) - interior(cur)).mean()
    assert error < 4 and error < unwarped / 5


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_pair_gives_both_directions(moving_pair, method):
    prev, cur = moving_pair
    flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, method=method, scale=0.5)
    median_cur_to_prev = np.median(interior(flow_cur_to_prev), axis=(0, 1))
    median_prev_to_cur = np.median(interior(flow_prev_to_cur), axis=(0, 1))
    assert np.allclose(median_cur_to_prev, -np.array(SHIFT), atol=0.25)
    assert np.allclose(median_prev_to_cur, SHIFT, atol=0.25)
    assert np.array_equal(flow_cur_to_prev, compute_flow(cur, prev, method=method, scale=0.5))


def test_grey_frames_give_the_rgb_flow(moving_pair):
    prev, cur = moving_pair
    grey = [frame @ np.array([0.299, 0.587, 0.114]) for frame in (prev, cur)]
    grey = [np.round(g).astype(np.uint8) for g in grey]
    assert np.allclose(compute_flow(grey[1], grey[0]), compute_flow(cur, prev), atol=0.05)


def test_odd_size_scales_back_to_the_frame(photos, crop):
    prev = crop(photos["coffee"], 100, 100, 128)[:97, :115]
    cur = crop(photos["coffee"], 97, 100, 128)[:97, :115]
    flow = compute_flow(cur, prev, scale=0.5)
    assert flow.shape == (97, 115, 2)
    assert abs(np.median(interior(flow)[..., 0]) + 3) < 0.3


def test_params_override_defaults(moving_pair):
    prev, cur = moving_pair
    default = compute_flow(cur, prev)
    coarse = compute_flow(cur, prev, params={"winsize": 7, "levels": 1})
    assert not np.array_equal(default, coarse)
    dis = compute_flow(cur, prev, method="dis", params={"preset": "ultrafast"})
    assert np.allclose(np.median(interior(dis), axis=(0, 1)), -np.array(SHIFT), atol=0.5)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "lucas-kanade"}, "unknown flow method"),
        ({"scale": 0.0}, "flow scale"),
        ({"scale": 1.5}, "flow scale"),
        ({"params": {"window": 15}}, "unknown farneback flow parameter 'window'"),
        ({"method": "dis", "params": {"winsize": 15}}, "unknown dis flow parameter"),
        ({"method": "dis", "params": {"preset": "slow"}}, "unknown DIS preset"),
    ],
)
def test_bad_options_raise_config_error(moving_pair, kwargs, words):
    prev, cur = moving_pair
    with pytest.raises(ConfigError, match=words) as info:
        compute_flow(cur, prev, **kwargs)
    assert info.value.hint
    with pytest.raises(ConfigError, match=words):
        FlowWorkers(processes=0, **kwargs)


def test_bad_frames_raise_value_error(moving_pair):
    prev, cur = moving_pair
    with pytest.raises(ValueError, match="one shape"):
        compute_flow(cur, prev[:64])
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(cur.astype(np.float32), prev.astype(np.float32))


def test_default_processes_leave_two_cores():
    # the dream thread; decode and encode. At least one worker, at most MAX_PROCESSES.
    assert [default_processes(cpus) for cpus in (1, 2, 4, 8, 16, 64)] == [1, 1, 2, 6, 12, 12]
    assert 1 <= default_processes() <= MAX_PROCESSES


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_workers_match_inline(moving_pair, method):
    prev, cur = moving_pair
    expected = flow_pair(prev, cur, method=method, scale=0.5)
    with FlowWorkers(method=method, scale=0.5, processes=0) as inline:
        got_inline = inline.submit(prev, cur).result()
    with FlowWorkers(method=method, scale=0.5, processes=2) as pool:
        futures = [pool.submit(prev, cur), pool.submit(cur, prev)]
        got_pool, got_reverse = (future.result(timeout=60) for future in futures)
    for got in (got_inline, got_pool):
        for a, b in zip(got, expected):
            assert np.allclose(a, b, atol=1e-4)
    assert np.allclose(got_reverse[0], expected[1], atol=1e-4)


def test_frames_cross_to_the_workers_once_through_shared_memory(moving_pair, monkeypatch):
    """Each frame is copied into a shared slot once, though it is in two pairs; with more pairs
    in flight than slots (2 per worker + 2) the slots are reused as workers finish; the results
    are the inline ones; the slots are gone after close; a frame larger than a slot is pickled."""
    prev, _ = moving_pair
    frames = [np.ascontiguousarray(np.roll(prev, 2 * k, axis=1)) for k in range(12)]
    copies = []
    copy_in = _SharedFrames._copy_in
    monkeypatch.setattr(_SharedFrames, "_copy_in", lambda self, frame: copies.append(1) or copy_in(self, frame))
    with FlowWorkers(processes=1, scale=1) as workers:
        futures = [workers.submit_evidence(a, b) for a, b in zip(frames, frames[1:])]
        got = [future.result(timeout=60) for future in futures]
        names = [memory.name for memory in workers._frames._memory]
        larger = np.concatenate([frames[0], frames[0]])
        pickled = workers.submit(larger, larger).result(timeout=60)
        assert len(copies) == len(frames) and len(names) == 4
    for evidence, a, b in zip(got, frames, frames[1:]):
        expected = flow_evidence(a, b, scale=1)
        assert evidence.cut == expected.cut
        np.testing.assert_array_equal(evidence.keep, expected.keep)
        np.testing.assert_array_equal(evidence.flow_cur_to_prev, expected.flow_cur_to_prev)
    np.testing.assert_array_equal(pickled[0], flow_pair(larger, larger, scale=1)[0])
    for name in names:
        with pytest.raises(FileNotFoundError):
            SharedMemory(name=name)


def test_frames_are_pickled_when_shared_memory_is_too_small(moving_pair, monkeypatch):
    """A container's /dev/shm can be smaller than the slots (writing past it would kill the run):
    then the frames go pickled, with the same results."""
    import dreamvideo.temporal.workers as workers_module

    monkeypatch.setattr(workers_module, "_shared_memory_has_room", lambda size: False)
    prev, cur = moving_pair
    with FlowWorkers(processes=1, scale=1) as workers:
        got = workers.submit(prev, cur).result(timeout=60)
        assert workers._frames._memory == [] and workers._frames._disabled
    for a, b in zip(got, flow_pair(prev, cur, scale=1)):
        np.testing.assert_array_equal(a, b)


def test_workers_do_not_import_torch(moving_pair):
    with FlowWorkers(processes=1) as workers:
        workers.submit(*moving_pair).result(timeout=60)
        # A builtin pickles by reference, so it can ask the worker directly.
        probe = workers._pool.submit(eval, "'torch' in __import__('sys').modules")
        assert probe.result(timeout=60) is False


def test_inline_errors_arrive_through_the_future(moving_pair):
    prev, cur = moving_pair
    with FlowWorkers(processes=0) as workers:
        future = workers.submit(prev, cur[:64])
    with pytest.raises(ValueError):
        future.result()


def test_closed_workers_refuse_work(moving_pair):
    workers = FlowWorkers(processes=0)
    workers.close()
    with pytest.raises(RuntimeError, match="closed"):
        workers.submit(*moving_pair)


def test_negative_processes_raise_config_error():
    with pytest.raises(ConfigError, match="processes"):
        FlowWorkers(processes=-1)


def test_auto_flow_scale_keeps_small_frames_whole():
    assert [auto_flow_scale(w) for w in (128, 640, 960, 1280, 1920, 3840)] == pytest.approx(
        [1.0, 1.0, 2 / 3, 0.5, 0.5, 0.5]
    )
    assert all(w * auto_flow_scale(w) >= min(w, FLOW_MIN_WIDTH) for w in range(64, 4000, 37))
