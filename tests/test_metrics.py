from __future__ import annotations

import json
import math
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
from skimage import data

from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io import open_writer
from dreamvideo.metrics import (
    METRIC_FARNEBACK_PARAMS,
    MetricsReport,
    compare,
    compare_files,
    SHARPNESS_FROM,
    plot_warp_error,
    sharpness,
    strength,
    warp_errors,
)


def panning_clip(frames: int = 6, step: int = 3, size: int = 128) -> list[np.ndarray]:
    """A camera panning right ``step`` pixels a frame over a textured photo."""
    photo = data.astronaut()
    x, y = 150, 250
    return [photo[y : y + size, x + step * t : x + step * t + size].copy() for t in range(frames)]


def with_noise(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


def write_clip(path, frames: list[np.ndarray]) -> str:
    h, w = frames[0].shape[:2]
    with open_writer(str(path), width=w, height=h, rate=Fraction(25), time_base=Fraction(1, 25)) as out:
        for frame in frames:
            out.write(frame)
    return str(path)


def reference_warp_error(prev_src, cur_src, prev_out, cur_out) -> float:
    """DESIGN.md's E_t written out with OpenCV alone, to check the library against."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev_src, cur_src)]
    b = cv2.calcOpticalFlowFarneback(grey[1], grey[0], None, **METRIC_FARNEBACK_PARAMS)
    f = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, **METRIC_FARNEBACK_PARAMS)
    h, w = b.shape[:2]
    map_x = (np.arange(w)[None, :] + b[..., 0]).astype(np.float32)
    map_y = (np.arange(h)[:, None] + b[..., 1]).astype(np.float32)
    f_at = cv2.remap(f, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= -0.5) & (map_x <= w - 0.5) & (map_y >= -0.5) & (map_y <= h - 0.5)
    c = inside & (
        ((f_at + b) ** 2).sum(-1) < 0.01 * ((f_at**2).sum(-1) + (b**2).sum(-1)) + 0.5
    )
    warped = cv2.remap(
        prev_out.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return float((np.abs(cur_out - warped) * c[..., None]).sum() / (3 * c.sum()))


def test_static_clip_has_no_warp_error():
    clip = [panning_clip(1)[0]] * 5
    report = compare(clip, clip)
    assert report.frames == 5 and len(report.per_frame) == 4
    assert report.warp_error < 0.1 and report.source_warp_error < 0.1
    assert report.strength == 0


def test_translated_clip_has_small_warp_error():
    clip = panning_clip()
    errors = warp_errors(clip, clip)
    assert len(errors) == 5
    assert max(errors) < 1.0


def test_flicker_has_large_warp_error():
    source = panning_clip()
    report = compare(source, with_noise(source, 20))
    assert report.warp_error > 15
    assert report.source_warp_error < 1.0
    assert report.strength > 10


def test_warp_error_follows_the_definition():
    source = panning_clip(3, step=4)
    output = with_noise(source, 10, seed=1)
    errors = warp_errors(source, output)
    for t in (1, 2):
        expected = reference_warp_error(source[t - 1], source[t], output[t - 1], output[t])
        # OpenCV 4's remap rounds sample positions to 1/32 pixel (OpenCV 5 does not): 0.1 % off here.
        assert errors[t - 1] == pytest.approx(expected, rel=1e-3 if int(cv2.__version__.split(".")[0]) >= 5 else 2e-3)


def test_flow_comes_from_the_source():
    # A still output over a moving source is *not* steady: it does not follow the scene.
    source = panning_clip(4, step=4)
    still = [source[0]] * 4
    assert compare(source, still).warp_error > 5 * compare(source, source).warp_error


def test_strength_measures_the_change():
    source = [(f * 0.9).astype(np.uint8) for f in panning_clip(4)]
    assert strength(source, source) == 0
    brighter = [f + np.uint8(10) for f in source]
    assert strength(source, brighter) == pytest.approx(10)
    assert strength(brighter, source) == pytest.approx(10)


def test_sharpness_is_scale_free_and_falls_with_blur():
    source = panning_clip(1)[0]
    detail = np.random.default_rng(0).normal(0, 8, source.shape[:2]).astype(np.float32)[..., None]
    detail = cv2.GaussianBlur(detail, (0, 0), 0.7)[..., None]
    crisp = np.clip(source + detail.repeat(3, axis=2), 0, 255).astype(np.uint8)
    stronger = np.clip(source + 2 * detail.repeat(3, axis=2), 0, 255).astype(np.uint8)
    blurred = np.clip(source + cv2.GaussianBlur(detail, (0, 0), 1.5)[..., None].repeat(3, axis=2), 0, 255)
    assert sharpness(source, crisp) == pytest.approx(sharpness(source, stronger), rel=0.1)
    assert sharpness(source, blurred.astype(np.uint8)) < 0.6 * sharpness(source, crisp)
    assert math.isnan(sharpness(source, source))


def test_steady_state_sharpness_is_the_mean_from_frame_ten_on():
    source = panning_clip(SHARPNESS_FROM + 2, step=1, size=64)
    output = with_noise(source, 10)
    report = compare(source, output)
    per_frame = [sharpness(s, o) for s, o in zip(source, output)]
    assert report.frame_sharpness == pytest.approx(per_frame)
    assert report.sharpness == pytest.approx(np.mean(per_frame[SHARPNESS_FROM:]))
    assert report.to_dict()["sharpness_per_frame"] == pytest.approx(per_frame)


def test_streams_and_worker_processes_give_the_same_report():
    source = panning_clip()
    output = with_noise(source, 15)
    inline = compare(source, output)
    streamed = compare((f for f in source), iter(output), processes=1)
    assert streamed.per_frame == inline.per_frame
    assert streamed.warp_error == inline.warp_error and streamed.strength == inline.strength


def test_report_to_dict_is_json():
    source = panning_clip(3)
    report = compare(source, with_noise(source, 5))
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["frames"] == 3
    assert payload["warp_error"] == pytest.approx(report.warp_error)
    assert payload["per_frame"][0].keys() == {"t", "warp_error_output", "warp_error_source"}
    assert [row["t"] for row in payload["per_frame"]] == [1, 2]


def test_single_frame_has_no_warp_error():
    frame = panning_clip(1)
    report = compare(frame, frame)
    assert report.frames == 1 and report.per_frame == []
    assert math.isnan(report.warp_error)
    assert report.to_dict()["warp_error"] is None


def test_frame_count_mismatch_raises():
    clip = panning_clip(4)
    with pytest.raises(ConfigError, match="output has 3 frames but the source has more"):
        compare(clip, clip[:3])
    with pytest.raises(ConfigError, match="source has 2 frames but the output has more"):
        strength(clip[:2], clip)


def test_frame_size_mismatch_raises():
    clip = panning_clip(3)
    small = [cv2.resize(f, (64, 64)) for f in clip]
    with pytest.raises(ConfigError, match="source is 128x128 and the output is 64x64") as info:
        warp_errors(clip, small)
    assert info.value.hint
    with pytest.raises(ConfigError, match="earlier source frames are 128x128"):
        strength(clip[:1] + small[1:], clip[:1] + small[1:])


def test_plot_writes_a_png(tmp_path):
    source = panning_clip()
    report = compare(source, with_noise(source, 10))
    path = tmp_path / "warp.png"
    path.write_bytes(b"old")
    plot_warp_error(report, path)
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (480, 960, 3)
    assert (image != 255).any(axis=2).mean() > 0.01  # something was drawn
    assert [p.name for p in tmp_path.iterdir()] == ["warp.png"]  # no temporary left


def test_plot_copes_with_gaps_and_single_frames(tmp_path):
    gappy = MetricsReport(
        warp_error=2.0,
        source_warp_error=1.0,
        strength=3.0,
        frames=4,
        per_frame=[
            {"t": 1, "warp_error_output": 2.0, "warp_error_source": 1.0},
            {"t": 2, "warp_error_output": math.nan, "warp_error_source": math.nan},
            {"t": 3, "warp_error_output": 2.0, "warp_error_source": 1.0},
        ],
    )
    empty = MetricsReport(math.nan, math.nan, 0.0, 1, [])
    for name, report in (("gappy.png", gappy), ("empty.png", empty)):
        plot_warp_error(report, tmp_path / name)
        assert cv2.imread(str(tmp_path / name)).shape == (480, 960, 3)


def test_plot_without_matplotlib_raises_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # import fails
    with pytest.raises(ConfigError, match="--plot needs matplotlib") as info:
        plot_warp_error(MetricsReport(math.nan, math.nan, 0.0, 1, []), tmp_path / "warp.png")
    assert "dreamvideo[plot]" in info.value.hint
    assert not list(tmp_path.iterdir())


def test_plot_to_a_missing_folder_raises_media_error(tmp_path):
    report = MetricsReport(math.nan, math.nan, 0.0, 1, [])
    with pytest.raises(MediaError, match="cannot write"):
        plot_warp_error(report, tmp_path / "missing" / "warp.png")


def test_compare_files_decodes_the_source_at_the_dream_size(tmp_path):
    source = panning_clip()
    clip = write_clip(tmp_path / "source.mp4", source)
    same = compare_files(clip, clip, processes=0)
    assert same.frames == 6 and same.strength == 0 and same.warp_error < 3
    half = [cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in source]
    smaller = compare_files(clip, write_clip(tmp_path / "half.mp4", half), processes=0)
    assert smaller.frames == 6 and smaller.strength < 10
    with pytest.raises(ConfigError, match="output has 3 frames"):
        compare_files(clip, write_clip(tmp_path / "short.mp4", source[:3]), processes=0)
