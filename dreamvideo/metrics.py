"""Figures that compare a dreamed video with its source (DESIGN.md, Metrics).

Frames are uint8 RGB ``(H, W, 3)`` numpy arrays and values are on the 0-255
scale. The functions stream: they hold a few frames at a time, whatever the
length of the video.

- **Warp error** (lower is steadier): for each ``t >= 1`` the flow ``b`` from
  source frame ``t`` to ``t-1`` and ``f`` from ``t-1`` to ``t`` give the
  consistency mask ``c``; ``E_t = Σ c·|O_t − warp(O_{t−1}, b)| / (3·Σ c)``.
  The flow always comes from the source; it is applied to the output ``O``
  and, as a reference, to the source itself.
- **Strength**: mean over frames of the mean ``|O − I|``.
- **Sharpness** (higher is crisper): on the luma of the detail ``D = O − I``
  (weights 0.299, 0.587, 0.114), mean ``|Laplacian(D)|`` (OpenCV's 3×3) over
  mean ``|D|``, per frame; a clip's steady state is its mean over frames
  ``SHARPNESS_FROM`` onwards. Scale-free: the same detail blurred scores lower.
- **Seam ratio** (equirect): ``mean|O[:,0] − O[:,W−1]|`` over the mean absolute
  difference of neighbouring columns; about 1 for a seamless panorama.
- **Pole streak score** (equirect): on 90°-FOV 224×224 perspective views straight
  up and straight down, the grey difference (output − input) weighted by its
  squared Sobel magnitude: ``−Σ w·cos(2(θ_g − θ_r)) / Σ w`` over ``8 < r < 112``,
  ``θ_r`` the direction from the view centre. +1: streaks radiating from the
  pole; 0: no preferred direction.
- **Look correlation** (resolution independence, higher is closer): the dream
  detail ``O − I`` of a small dream and of a large dream of the same picture,
  the large one downscaled to the small size, both blurred with σ = 3 px,
  correlated (Pearson, over pixels and channels).
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .config import FrameRange, parse_frame_range, parse_size
from .errors import ConfigError, MediaError
from .io import open_video, write_image
from .io.plot import figure_pixels, new_figure
from .io.spherical import read_spherical
from .layout import TWO_EYES, split_eyes
from .panorama.geometry import directions_to_equirect, look_at, sample_equirect, view_rays
from .temporal.flow import METRIC_FARNEBACK_PARAMS
from .temporal.occlusion import consistency_mask
from .temporal.warp import warp
from .temporal.workers import FlowWorkers

__all__ = [
    "METRIC_FARNEBACK_PARAMS",
    "MetricsReport",
    "look_correlation",
    "warp_errors",
    "strength",
    "sharpness",
    "SHARPNESS_FROM",
    "compare",
    "compare_files",
    "plot_warp_error",
    "pole_streak_score",
    "pole_views",
    "seam_ratio",
    "read_run_report",
]

SHARPNESS_FROM = 10  # a clip's steady-state sharpness is the mean over frames from this one on


@dataclass
class MetricsReport:
    """The metrics of one source/output pair of frame sequences.

    Attributes:
        warp_error: mean of ``E_t`` over ``t >= 1`` on the output; NaN with
            fewer than two frames or not one consistent pixel.
        source_warp_error: the same with the source in place of the output,
            the floor that flow errors alone give.
        strength: mean over frames of the mean ``|O − I|``.
        sharpness: the steady-state sharpness of the detail ``O − I`` (see :func:`sharpness`):
            the mean over frames ``SHARPNESS_FROM`` onwards, over all frames in a shorter clip;
            NaN where no frame has detail.
        frames: number of frames compared.
        per_frame: one dict per ``t >= 1`` with keys ``t``,
            ``warp_error_output`` and ``warp_error_source``.
        frame_sharpness: each frame's sharpness, frame 0 first.
        panorama: for equirect frames only (else None), means over frames:
            ``seam_ratio`` and ``source_seam_ratio`` (the source's own, for reference),
            ``pole_streak_zenith`` and ``pole_streak_nadir``.
    """

    warp_error: float
    source_warp_error: float
    strength: float
    frames: int
    per_frame: list[dict[str, float]] = field(default_factory=list)
    panorama: dict[str, float] | None = None
    sharpness: float = math.nan
    frame_sharpness: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; NaN becomes ``None``."""
        extra = {}
        if self.panorama is not None:
            extra["panorama"] = {key: _json_float(value) for key, value in self.panorama.items()}
        return {
            "frames": self.frames,
            "warp_error": _json_float(self.warp_error),
            "source_warp_error": _json_float(self.source_warp_error),
            "strength": _json_float(self.strength),
            "sharpness": _json_float(self.sharpness),
            "sharpness_from": SHARPNESS_FROM,
            **extra,
            "per_frame": [
                {key: _json_float(value) if key != "t" else value for key, value in row.items()}
                for row in self.per_frame
            ],
            "sharpness_per_frame": [_json_float(value) for value in self.frame_sharpness],
        }


def compare(
    source_frames: Iterable[np.ndarray],
    output_frames: Iterable[np.ndarray],
    *,
    processes: int | None = 0,
    equirect: bool = False,
    eye: str | None = None,
) -> MetricsReport:
    """Measure warp error, strength and sharpness in one pass over both sequences.

    Args:
        source_frames: the source video, uint8 RGB ``(H, W, 3)`` frames.
        output_frames: the dreamed video, same count and size.
        processes: flow worker processes (see
            :class:`~dreamvideo.temporal.workers.FlowWorkers`). ``0`` computes
            the flow inline; ``None`` picks a count from the CPUs, several
            times faster on long videos (the CLI's choice). Starting workers
            imports the caller's ``__main__`` script (see ``FlowWorkers``),
            which is why inline is the default. The figures do not depend on it.
        equirect: the frames are equirect panoramas: also measure the seam ratio and
            the pole streak scores (``MetricsReport.panorama``).
        eye: the frames are stereo, ``top-bottom`` or ``left-right``: the panorama
            figures are those of the left eye (top or left half).

    Returns:
        The :class:`MetricsReport`.

    Raises:
        ConfigError: the sequences differ in frame count or frame size.
    """
    strengths: list[float] = []
    sharpnesses: list[float] = []
    per_frame: list[dict[str, float]] = []
    panorama: list[tuple[float, float, float, float]] = []
    with FlowWorkers(
        method="farneback", scale=1.0, params=METRIC_FARNEBACK_PARAMS, processes=processes
    ) as workers:
        # A bounded window of flow futures keeps the workers busy and memory flat.
        window = 2 * max(1, workers.processes)
        pending: deque = deque()
        prev: tuple[np.ndarray, np.ndarray] | None = None
        for t, src, out in _frame_pairs(source_frames, output_frames):
            strengths.append(_strength(src, out))
            sharpnesses.append(sharpness(src, out))
            if equirect:
                src_eye, out_eye = _left_eye(src, eye), _left_eye(out, eye)
                zenith, nadir = pole_streak_score(src_eye, out_eye)
                panorama.append((seam_ratio(out_eye), seam_ratio(src_eye), zenith, nadir))
            if prev is not None:
                pending.append((t, prev, (src, out), workers.submit(prev[0], src)))
                if len(pending) > window:
                    per_frame.append(_warp_errors_at(*pending.popleft()))
            prev = (src, out)
        while pending:
            per_frame.append(_warp_errors_at(*pending.popleft()))
    steady = sharpnesses[SHARPNESS_FROM:] if len(sharpnesses) > SHARPNESS_FROM else sharpnesses
    return MetricsReport(
        warp_error=_mean(row["warp_error_output"] for row in per_frame),
        source_warp_error=_mean(row["warp_error_source"] for row in per_frame),
        strength=_mean(strengths),
        frames=len(strengths),
        per_frame=per_frame,
        panorama=None if not equirect else {
            key: _mean(row[i] for row in panorama)
            for i, key in enumerate(("seam_ratio", "source_seam_ratio", "pole_streak_zenith", "pole_streak_nadir"))
        },
        sharpness=_mean(steady),
        frame_sharpness=sharpnesses,
    )


def compare_files(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    frames: FrameRange | None = None,
    width: int | None = None,
    size: tuple[int, int] | None = None,
    processes: int | None = None,
    projection: str = "auto",
) -> MetricsReport:
    """Compare a dreamed video file with its source, as ``dreamvideo metrics`` does.

    ``frames`` is the source range the dream was made from (``dream --frames A-B``).
    The source is decoded as the dream's run decoded it: at its own size, with an odd
    last column or row cropped, when the dream has that size (like with like, no
    resampling); otherwise at the output's size, so a dream made with ``--width`` or
    ``--size`` is compared with the frames it started from. ``width`` or ``size`` (the
    run's own options, e.g. from its report) decode the source exactly as the run did.
    ``projection`` ``equirect`` adds the panorama figures; ``auto`` does so where the
    output's spherical metadata says equirectangular, or its frames are twice as wide
    as they are high; ``flat`` never. A stereo layout in the metadata measures the
    left eye.

    Args:
        source: the source video (a path or anything :func:`dreamvideo.io.open_video` opens).
        output: the dreamed video.
        frames: the source's frames to compare with (default: all of them).
        processes: as in :func:`compare`; here the default uses worker processes.

    Returns:
        The :class:`MetricsReport`.

    Raises:
        MediaError: either video cannot be read, or ``frames`` is beyond the source.
        ConfigError: the videos differ in frame count.
    """
    if projection not in ("auto", "flat", "equirect"):
        raise ConfigError(f"unknown projection {projection!r}", hint="use auto, flat or equirect")
    with open_video(os.fspath(output)) as dreamed:
        out_w, out_h = dreamed.output_size
        info = dreamed.info.spherical or read_spherical(output)
        eye = None
        if info is not None and info.is_equirect and info.stereo in TWO_EYES:
            eye = info.stereo
        if projection == "auto":
            equirect = (info is not None and info.is_equirect) or out_w == 2 * out_h
        else:
            equirect = projection == "equirect"
        original = open_video(os.fspath(source), frames=frames, width=width, size=size)
        if original.output_size != dreamed.output_size:
            original.close()
            original = open_video(os.fspath(source), frames=frames, size=dreamed.output_size)
        with original:
            return compare(
                (frame.image for frame in original),
                (frame.image for frame in dreamed),
                processes=processes,
                equirect=equirect,
                eye=eye,
            )


def read_run_report(report: str | os.PathLike) -> dict[str, Any]:
    """What a run's ``--json-report`` says about how it decoded the source, as
    ``compare_files`` keywords: ``frames`` (a FrameRange or None), ``width``, ``size``.

    Raises:
        MediaError: the report cannot be read or is not a dreamvideo run report.
    """
    try:
        video = json.loads(Path(report).read_text())["settings"]["video"]
        frames, width, size = video["frames"], video["width"], video["size"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MediaError(
            f"cannot read the run's settings from {report}", hint="give the JSON that `dream --json-report` wrote"
        ) from e
    return {
        "frames": None if frames is None else parse_frame_range(str(frames)),
        "width": width,
        "size": None if size is None else parse_size(str(size)),
    }


def warp_errors(
    source_frames: Iterable[np.ndarray],
    output_frames: Iterable[np.ndarray],
    *,
    processes: int | None = 0,
) -> list[float]:
    """Warp error ``E_t`` of the output for each ``t >= 1``.

    Args:
        source_frames: the source video, uint8 RGB ``(H, W, 3)`` frames; the
            flow comes from these.
        output_frames: the dreamed video, same count and size; the flow is
            applied to these.
        processes: as in :func:`compare`.

    Returns:
        ``E_1 … E_{n-1}`` on the 0-255 scale; NaN for a frame with no
        consistent pixel.

    Raises:
        ConfigError: the sequences differ in frame count or frame size.
    """
    report = compare(source_frames, output_frames, processes=processes)
    return [row["warp_error_output"] for row in report.per_frame]


def strength(source_frames: Iterable[np.ndarray], output_frames: Iterable[np.ndarray]) -> float:
    """How much the dream changed the frames: mean over frames of mean ``|O − I|``.

    Args:
        source_frames: the source video, uint8 RGB ``(H, W, 3)`` frames.
        output_frames: the dreamed video, same count and size.

    Returns:
        The strength on the 0-255 scale; NaN for empty sequences.

    Raises:
        ConfigError: the sequences differ in frame count or frame size.
    """
    return _mean(_strength(src, out) for _, src, out in _frame_pairs(source_frames, output_frames))


def sharpness(source: np.ndarray, output: np.ndarray) -> float:
    """How crisp one frame's dream detail is: mean ``|Laplacian|`` over mean ``|detail|``.

    Args:
        source: uint8 RGB ``(H, W, 3)``.
        output: its dream, same shape.

    Returns:
        On the luma of ``output − source`` (0.299, 0.587, 0.114), the mean absolute 3×3
        Laplacian (OpenCV's, ``ksize=1``: 4-neighbour) over the mean absolute value; a unitless
        ratio, higher is crisper (white noise scores about 4.5, a blur of it less). NaN where
        the frame has no detail.
    """
    detail = output.astype(np.float32) - source.astype(np.float32)
    luma = detail @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    magnitude = float(np.abs(luma).mean())
    if magnitude == 0:
        return math.nan
    laplacian = cv2.Laplacian(luma, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REPLICATE)
    return float(np.abs(laplacian).mean()) / magnitude


def seam_ratio(image: np.ndarray) -> float:
    """Seam ratio of an equirect frame ``(H, W, 3)`` (or ``(H, W)``), 0-255 values.

    ``mean|O[:, 0] − O[:, W−1]|`` over the mean absolute difference of neighbouring
    columns: about 1 where the left and right edges continue each other. NaN for a
    frame with no difference between any neighbouring columns.
    """
    o = np.asarray(image, dtype=np.float64)
    across = float(np.abs(o[:, 0] - o[:, -1]).mean())
    within = float(np.abs(np.diff(o, axis=1)).mean())
    return across / within if within > 0 else math.nan


POLE_VIEW_SIZE = 224
POLE_VIEW_FOV = 90.0


def pole_views(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 90°-FOV 224×224 perspective views straight up and straight down of an equirect frame.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``, any numeric dtype; bilinear, wrapping at the seam.

    Returns:
        ``(zenith, nadir)``, float32 with the input's channels.
    """
    array = np.asarray(image, dtype=np.float32)
    grey = array.ndim == 2
    tensor = torch.from_numpy(array[..., None] if grey else array).permute(2, 0, 1)[None]
    h, w = array.shape[:2]
    rays = view_rays(POLE_VIEW_SIZE, POLE_VIEW_FOV, dtype=torch.float64)
    out = []
    for forward in ((0.0, 1.0, 0.0), (0.0, -1.0, 0.0)):
        u, v = directions_to_equirect(rays @ look_at(forward).T, h, w)
        view = sample_equirect(tensor, u[None].float(), v[None].float())[0].permute(1, 2, 0).numpy()
        out.append(view[..., 0] if grey else view)
    return out[0], out[1]


def pole_streak_score(source: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """Pole streak score at the zenith and the nadir of a dreamed equirect frame.

    Args:
        source: the input frame, ``(H, W, 3)`` RGB (or grey ``(H, W)``), 0-255 values.
        output: the dreamed frame, same shape.

    Returns:
        ``(zenith, nadir)``: +1 for streaks radiating from the pole, 0 for a difference
        with no preferred direction, −1 for rings; NaN where output equals input.
    """
    if np.shape(source) != np.shape(output):
        raise ConfigError(f"source {np.shape(source)} and output {np.shape(output)} differ in shape")
    scores = []
    for src_view, out_view in zip(pole_views(source), pole_views(output)):
        scores.append(_streak_score(_grey(out_view) - _grey(src_view)))
    return scores[0], scores[1]


def _left_eye(frame: np.ndarray, layout: str | None) -> np.ndarray:
    """The left eye of a host frame ``(H, W, 3)`` of ``layout``; the frame itself for mono (None)."""
    return frame if layout is None else split_eyes(frame, layout, channels_last=True)[0]


def _grey(view: np.ndarray) -> np.ndarray:
    if view.ndim == 2:
        return view.astype(np.float32)
    return (0.299 * view[..., 0] + 0.587 * view[..., 1] + 0.114 * view[..., 2]).astype(np.float32)


def _streak_score(diff: np.ndarray) -> float:
    """``−Σ w·cos(2(θ_g − θ_r)) / Σ w`` of a square view's Sobel gradients, ``8 < r < 112``."""
    gx = cv2.Sobel(diff, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(diff, cv2.CV_64F, 0, 1, ksize=3)
    n = diff.shape[0]
    centre = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) - centre
    r = np.hypot(xx, yy)
    ring = (r > 8) & (r < 112)
    weight = (gx * gx + gy * gy)[ring]
    total = weight.sum()
    if total <= 0:
        return math.nan
    delta = np.arctan2(gy, gx)[ring] - np.arctan2(yy, xx)[ring]
    return float(-(weight * np.cos(2 * delta)).sum() / total)


def look_correlation(
    small_source: np.ndarray, small_dream: np.ndarray, large_source: np.ndarray, large_dream: np.ndarray
) -> float:
    """How alike two dreams of one picture at two sizes are, at the small size (1 = the same structures).

    Args:
        small_source, small_dream: the picture and its dream at the small size, ``(h, w, 3)``.
        large_source, large_dream: the same at the large size, ``(H, W, 3)``; uint8 or float, one scale.

    Returns:
        The correlation of the blurred (σ = 3 px) dream details, the large one area-downscaled to ``(h, w)``.
    """
    h, w = small_source.shape[:2]
    large_detail = large_dream.astype(np.float32) - large_source.astype(np.float32)
    large_detail = cv2.resize(large_detail, (w, h), interpolation=cv2.INTER_AREA)
    small_detail = small_dream.astype(np.float32) - small_source.astype(np.float32)
    a = cv2.GaussianBlur(small_detail, (0, 0), 3).ravel()
    b = cv2.GaussianBlur(large_detail, (0, 0), 3).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def plot_warp_error(report: MetricsReport, png_path: str | os.PathLike) -> None:
    """Draw the per-frame warp error of the source and of the dream as a PNG.

    Drawn with matplotlib (the ``plot`` extra; 960x480): both curves (gaps where a
    frame has no value), a legend with the means. Written by
    :func:`dreamvideo.io.write_image`: beside the target and renamed into place, so
    an existing file is replaced only by a complete plot; the extension picks the format.

    Args:
        report: from :func:`compare`.
        png_path: where the PNG goes.

    Raises:
        ConfigError: matplotlib is not installed.
        MediaError: the file cannot be written.
    """
    write_image(png_path, _draw_plot(report))


def _frame_pairs(
    source_frames: Iterable[np.ndarray], output_frames: Iterable[np.ndarray]
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    sources, outputs = iter(source_frames), iter(output_frames)
    size = None
    t = 0
    while True:
        src, out = next(sources, None), next(outputs, None)
        if src is None and out is None:
            return
        if src is None or out is None:
            shorter, longer = ("source", "output") if src is None else ("output", "source")
            raise ConfigError(
                f"the {shorter} has {t} frame{'' if t == 1 else 's'} but the {longer} has more",
                hint="compare a dream with the frames it was made from: give the run's --frames A-B, "
                "or --report with its --json-report",
            )
        for name, frame in (("source", src), ("output", out)):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(
                    f"{name} frame {t}: expected uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
                )
        if size is None:
            size = src.shape
        if src.shape != size or out.shape != size:
            raise ConfigError(
                f"frame {t}: the source is {_wxh(src.shape)} and the output is {_wxh(out.shape)}"
                + ("" if src.shape == size else f" (earlier source frames are {_wxh(size)})"),
                hint="metrics compare pixel by pixel: the dream must have the source's size",
            )
        yield t, src, out
        t += 1


def _warp_errors_at(
    t: int,
    prev: tuple[np.ndarray, np.ndarray],
    cur: tuple[np.ndarray, np.ndarray],
    flows: Future,
) -> dict[str, float]:
    flow_cur_to_prev, flow_prev_to_cur = flows.result()
    mask = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
    count = int(mask.sum())
    # Source and output share the flow: warp both in one batch.
    prev_batch = torch.from_numpy(np.stack(prev)).permute(0, 3, 1, 2).float()
    warped = warp(prev_batch, flow_cur_to_prev).permute(0, 2, 3, 1).numpy()
    errors = []
    for frame, warped_prev in zip(cur, warped):
        diff = np.abs(frame.astype(np.float32) - warped_prev)
        errors.append(float(diff[mask].sum()) / (3 * count) if count else math.nan)
    return {"t": t, "warp_error_output": errors[1], "warp_error_source": errors[0]}


def _strength(src: np.ndarray, out: np.ndarray) -> float:
    return float(np.abs(out.astype(np.int16) - src).mean())


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _wxh(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


PLOT_SIZE = (960, 480)  # pixels, width x height


def _draw_plot(report: MetricsReport) -> np.ndarray:
    """The warp error plot as an RGB image ``uint8 (480, 960, 3)``."""
    figure = new_figure(*PLOT_SIZE)
    axes = figure.add_subplot()
    ts = [row["t"] for row in report.per_frame]
    for name, key, mean in (
        ("source", "warp_error_source", report.source_warp_error),
        ("dream", "warp_error_output", report.warp_error),
    ):
        values = [row[key] if math.isfinite(row[key]) else np.nan for row in report.per_frame]
        label = f"{name}  mean {mean:.2f}" if math.isfinite(mean) else f"{name}  mean n/a"
        axes.plot(ts, values, marker="." if len(ts) < 40 else None, linewidth=2, label=label)
    if not ts:
        axes.text(0.5, 0.5, "fewer than two frames: no warp error", ha="center", va="center", transform=axes.transAxes)
    axes.set_title("warp error per frame (0-255, lower is steadier)")
    axes.set_xlabel("frame")
    axes.set_ylabel("warp error")
    axes.set_ylim(bottom=0)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(True, color="0.9")
    axes.legend(loc="best")
    figure.tight_layout()
    return figure_pixels(figure)
