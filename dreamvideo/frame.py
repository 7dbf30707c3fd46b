"""The one frame step: how a frame of a layout is dreamed, decided once.

A flat or mono frame is dreamed by ``temporal.dreamer.MonoStep``, a stereo pair by
``panorama.stereo.StereoStep``; the runner hands the step to its
``TemporalDreamer`` (:func:`frame_step`), and :func:`dream_frame` dreams a fresh
frame with the same step: the ``image`` command, ``preview`` and, through the
runner, a video's first frame and the frames after a cut are one path.
"""

from __future__ import annotations

from torch import Tensor

from .config import VideoSettings
from .dream import Dreamer
from .layout import TWO_EYES, Layout
from .panorama.stereo import StereoStep
from .temporal.dreamer import FrameStep, MonoStep

__all__ = ["dream_frame", "frame_step"]


def frame_step(stereo: str, video: VideoSettings | None = None) -> FrameStep:
    """The frame step for frames of ``stereo`` layout (``none``, ``top-bottom``, ``left-right``).

    ``video``: the run's flow settings, which a stereo step computes the disparity with
    (``--flow none`` still needs one: Farneback); None for the defaults.
    """
    if stereo not in TWO_EYES:
        return MonoStep()
    video = VideoSettings() if video is None else video
    method = video.flow if video.flow != "none" else "farneback"
    return StereoStep(stereo, flow_method=method, flow_scale=video.flow_scale)


def dream_frame(
    dreamer: Dreamer, image: Tensor, layout: Layout, index: int = 0, *, video: VideoSettings | None = None
) -> Tensor:
    """Dream a fresh frame ``(1, 3, H, W)`` of ``layout`` as a run dreams its first frame.

    Args:
        dreamer: the Dreamer (``panorama.projection.dreamer_for`` the run's layout).
        image: the source frame, ``(1, 3, H, W)`` in [0, 1].
        layout: the run's resolved layout (only its ``stereo`` matters here; the projection
            is the Dreamer's).
        index: the frame's index (its random stream).
        video: the run's video settings (``refine_steps`` for a stereo frame's right eye,
            the disparity flow); None for the defaults.
    """
    video = VideoSettings() if video is None else video
    return frame_step(layout.stereo, video)(dreamer, image, None, refine_steps=video.refine_steps, frame_index=index)
