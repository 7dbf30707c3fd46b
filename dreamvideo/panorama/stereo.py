"""Stereo frames: both eyes show one hallucination, or they cannot be fused.

A stereo frame holds two eyes: ``top-bottom`` (left eye on top) or
``left-right`` (left eye on the left). Dreaming the eyes independently paints
different eyes and dog faces into each. Instead the left eye is dreamed, its
dream detail (dream − source) is carried to the right eye along the disparity
flow between the *source* eyes, kept only where the forward–backward
consistency check says the right eye sees the same surface, and the right eye
then gets a few refining steps from there.

Frames are ``float32 (1, 3, H, W)`` in [0, 1] on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config import VideoSettings
from ..dream import Dreamer, frame_rng, tensor_to_image
from ..errors import ConfigError
from ..temporal.dreamer import TemporalDreamer
from ..temporal.flow import FlowEvidence, auto_flow_scale, stereo_disparity
from ..temporal.warp import flow_to_tensor, to_device, warp

__all__ = [
    "STEREO_LAYOUTS",
    "StereoFrame",
    "StereoTemporalDreamer",
    "disparity",
    "dream_stereo",
    "dream_stereo_frame",
    "join_eyes",
    "split_eyes",
]

STEREO_LAYOUTS = ("top-bottom", "left-right")


def split_eyes(image: Tensor, layout: str) -> tuple[Tensor, Tensor]:
    """``(left, right)`` eyes of a stereo frame ``(B, C, H, W)``: top/bottom or left/right halves.

    Raises:
        ConfigError: an unknown layout, or an odd height (top-bottom) or width (left-right).
    """
    height, width = image.shape[-2:]
    if layout == "top-bottom":
        if height % 2:
            raise ConfigError(f"a top-bottom stereo frame needs an even height, got {width}x{height}")
        return image[..., : height // 2, :], image[..., height // 2 :, :]
    if layout == "left-right":
        if width % 2:
            raise ConfigError(f"a left-right stereo frame needs an even width, got {width}x{height}")
        return image[..., : width // 2], image[..., width // 2 :]
    raise ConfigError(f"unknown stereo layout {layout!r}", hint=f"use one of {', '.join(STEREO_LAYOUTS)}")


def join_eyes(left: Tensor, right: Tensor, layout: str) -> Tensor:
    """The stereo frame of two eyes ``(B, C, h, w)``: the inverse of :func:`split_eyes`."""
    if layout not in STEREO_LAYOUTS:
        raise ConfigError(f"unknown stereo layout {layout!r}", hint=f"use one of {', '.join(STEREO_LAYOUTS)}")
    return torch.cat([left, right], dim=-2 if layout == "top-bottom" else -1)


def disparity(
    left: Tensor, right: Tensor, *, wrap_x: bool = False, method: str = "farneback", scale: float = 0.5
) -> tuple[Tensor, Tensor]:
    """The flow from the right eye to the left one, and where it can be trusted.

    Args:
        left, right: the *source* eyes, ``(1, 3, h, w)`` in [0, 1].
        wrap_x: the eyes are equirect panoramas (the flow wraps across the seam).
        method, scale: as in :func:`dreamvideo.temporal.flow.compute_flow`.

    Returns:
        ``(flow_right_to_left, weight)``: ``(1, 2, h, w)`` in pixels (the left eye sampled at
        ``x + flow`` resembles the right eye at ``x``), and the soft consistency mask
        ``(1, 1, h, w)`` in [0, 1], on the eyes' device.
    """
    found = stereo_disparity(tensor_to_image(left), tensor_to_image(right), method=method, scale=scale, wrap_x=wrap_x)
    return disparity_to_device(found, left.device)


def disparity_to_device(found: tuple[np.ndarray, np.ndarray], device: torch.device) -> tuple[Tensor, Tensor]:
    """:func:`~dreamvideo.temporal.flow.stereo_disparity`'s host result as :func:`disparity` returns it:
    the flow upsampled to the eye on ``device``, ``(1, 2, h, w)``, and the weight ``(1, 1, h, w)``."""
    flow, weight = found
    return flow_to_tensor(flow, device, size=weight.shape), to_device(weight, device)[None, None]


@dataclass
class StereoFrame:
    """A dreamed stereo frame and what the next frame of a video needs from it.

    Attributes:
        image: the dreamed frame ``(1, 3, H, W)``.
        left, right: the dreamed eyes ``(1, 3, h, w)``.
        left_detail, right_detail: each eye's dream detail (dream − source), to warp along
            the time flow onto the next frame's eyes.
    """

    image: Tensor
    left: Tensor
    right: Tensor
    left_detail: Tensor
    right_detail: Tensor


def dream_stereo(
    dreamer: Dreamer,
    image: Tensor,
    layout: str,
    *,
    frame_index: int = 0,
    steps: int | None = None,
    refine_steps: int = 2,
    carried: tuple[Tensor | None, Tensor | None] | None = None,
    flow_method: str = "farneback",
    flow_scale: float | None = None,
    disparity_found: tuple[np.ndarray, np.ndarray] | None = None,
) -> StereoFrame:
    """Dream a stereo frame ``(1, 3, H, W)`` so that both eyes show the same dream.

    The left eye is dreamed (``steps`` per octave, default ``settings.steps``); its detail
    is warped onto the right eye along the source eyes' disparity flow, weighted by the
    consistency mask, and the right eye is refined with ``refine_steps`` per octave.
    Both eyes draw on the frame's random stream, ``(seed, frame_index)``.

    Args:
        dreamer: the Dreamer, with the projection of one eye (for a 360° stereo frame, an
            equirect projection: each eye is a whole panorama; the disparity flow then
            wraps across the seam too).
        image: the source stereo frame.
        layout: ``top-bottom`` (left eye on top) or ``left-right`` (left eye on the left).
        carried: for a video, each eye's dream detail from the previous frame, already
            warped (and masked) onto this frame's eyes, ``(1, 3, h, w)`` or None. The left
            eye starts from its source plus its carried detail; the right eye from the
            left eye's detail where the disparity is consistent, its own carried detail
            elsewhere. Pass ``steps`` (the refine steps) for such a frame.
        flow_method, flow_scale: the disparity flow (see ``dreamvideo.temporal.flow``); flow_scale
            None: ``auto_flow_scale`` of the eye's width.
        disparity_found: the disparity already computed from the source eyes (``stereo_disparity``,
            by the flow workers ahead of the dream), instead of computing it here.
    """
    left_src, right_src = split_eyes(image, layout)
    carried_left, carried_right = carried if carried is not None else (None, None)
    rng = frame_rng(dreamer.settings.seed, frame_index)
    left_start = left_src if carried_left is None else (left_src + carried_left).clamp(0, 1)
    left = dreamer.dream(left_start, steps=steps, rng=rng)
    left_detail = left - left_src

    wrap_x = bool(getattr(dreamer.projection, "wraps_x", False))
    if disparity_found is not None:
        flow, weight = disparity_to_device(disparity_found, left_src.device)
    else:
        scale = flow_scale or auto_flow_scale(left_src.shape[-1])
        flow, weight = disparity(left_src, right_src, wrap_x=wrap_x, method=flow_method, scale=scale)
    from_left = warp(left_detail, flow, wrap_x=wrap_x)
    own = torch.zeros_like(from_left) if carried_right is None else carried_right
    right_start = (right_src + weight * from_left + (1 - weight) * own).clamp(0, 1)
    right = dreamer.dream(right_start, steps=refine_steps, rng=rng) if refine_steps > 0 else right_start
    return StereoFrame(
        image=join_eyes(left, right, layout),
        left=left,
        right=right,
        left_detail=left_detail,
        right_detail=right - right_src,
    )


def dream_stereo_frame(
    dreamer: Dreamer,
    image: Tensor,
    layout: str,
    frame_index: int = 0,
    **options,
) -> Tensor:
    """:func:`dream_stereo`, returning only the dreamed frame ``(1, 3, H, W)``."""
    return dream_stereo(dreamer, image, layout, frame_index=frame_index, **options).image



class StereoTemporalDreamer(TemporalDreamer):
    """A stereo clip's temporal dreamer: each frame's eyes dreamed as one (``dream_stereo``).

    The carried detail, its mask and the cut check work on the whole frame as for a
    mono clip (the flow of the whole frame is each eye's flow; only right at the
    line between the eyes can a vector reach into the other eye); each eye then
    starts from its own carried detail, the left eye is refined and carried to the
    right along the disparity, which is refined in turn.

    Args:
        layout: ``top-bottom`` or ``left-right``; the rest as ``TemporalDreamer``.
    """

    def __init__(self, dreamer: Dreamer, video: VideoSettings, layout: str, **options) -> None:
        super().__init__(dreamer, video, **options)
        if layout not in STEREO_LAYOUTS:
            raise ValueError(f"unknown stereo layout {layout!r}")
        self.layout = layout
        self._disparity: tuple[np.ndarray, np.ndarray] | None = None

    def disparity_ahead(self, frame_width: int) -> tuple[str, float]:
        """``FlowWorkers``' ``stereo`` for frames ``frame_width`` wide: the layout, and the flow
        scale :meth:`dream` would compute the disparity at (``--flow-scale``, else the eye's
        ``auto_flow_scale``)."""
        eye_width = frame_width // (2 if self.layout == "left-right" else 1)
        return self.layout, self.video.flow_scale or auto_flow_scale(eye_width)

    def __call__(self, frame, flows):
        # The flow workers computed this frame's disparity ahead (FlowWorkers' ``stereo``);
        # the first frame and a run without workers compute it in dream_stereo.
        self._disparity = flows.disparity if isinstance(flows, FlowEvidence) else None
        return super().__call__(frame, flows)

    def dream(self, source: Tensor, carried: Tensor | None, frame_index: int) -> Tensor:
        flow = self.video.flow if self.video.flow != "none" else "farneback"  # the disparity needs a flow
        return dream_stereo(
            self.dreamer,
            source,
            self.layout,
            frame_index=frame_index,
            steps=None if carried is None else self.video.refine_steps,
            refine_steps=self.video.refine_steps,
            carried=None if carried is None else split_eyes(carried, self.layout),
            flow_method=flow,
            flow_scale=self.video.flow_scale,
            disparity_found=self._disparity,
        ).image
