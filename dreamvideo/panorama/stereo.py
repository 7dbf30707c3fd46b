"""Stereo frames: both eyes show one hallucination, or they cannot be fused.

A stereo frame holds two eyes: ``top-bottom`` (left eye on top) or
``left-right`` (left eye on the left). Dreaming the eyes independently paints
different eyes and dog faces into each. Instead the left eye is dreamed, its
dream detail (dream − source) is carried to the right eye along the disparity
flow between the *source* eyes, kept only where the forward–backward
consistency check says the right eye sees the same surface, and the right eye
is then refined from there as a carried frame is: ``carry.refine`` with the
disparity weight as its carry weights, so what only the right eye sees gets the
full step budget.

In a video each eye is also a carried frame: it starts from its own share of
the carried detail and is refined with its share of the carry weights; the
right eye's weights are the disparity's where the left eye's detail reaches it,
its own carry weights elsewhere.

Frames are ``float32 (1, 3, H, W)`` in [0, 1] on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..dream import Dreamer, tensor_to_image
from ..errors import ConfigError
from ..layout import TWO_EYES, eye_width, split_eyes
from ..temporal.carry import refine
from ..temporal.dreamer import Carried, Disparity
from ..temporal.flow import auto_flow_scale, stereo_disparity
from ..temporal.warp import flow_to_tensor, to_device, warp

__all__ = ["StereoFrame", "StereoStep", "disparity", "dream_stereo", "join_eyes"]


def join_eyes(left: Tensor, right: Tensor, layout: str) -> Tensor:
    """The stereo frame of two eyes ``(B, C, h, w)``: the inverse of ``layout.split_eyes``."""
    if layout not in TWO_EYES:
        raise ConfigError(f"unknown stereo layout {layout!r}", hint=f"use one of {', '.join(TWO_EYES)}")
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
    """A dreamed stereo frame.

    Attributes:
        image: the dreamed frame ``(1, 3, H, W)``.
        left, right: the dreamed eyes ``(1, 3, h, w)``.
        right_keep: the right eye's carry weights ``(1, 1, h, w)``: the disparity weight where
            the left eye's detail reached it, the time carry weights elsewhere (0 for a fresh
            frame); where it is below ``carry.REVEALED`` the right eye got the full budget.
    """

    image: Tensor
    left: Tensor
    right: Tensor
    right_keep: Tensor


def dream_stereo(
    dreamer: Dreamer,
    image: Tensor,
    layout: str,
    *,
    frame_index: int,
    refine_steps: int,
    carried: Carried | None = None,
    flow_method: str = "farneback",
    flow_scale: float | None = None,
    disparity_found: tuple[np.ndarray, np.ndarray] | None = None,
) -> StereoFrame:
    """Dream a stereo frame ``(1, 3, H, W)`` so that both eyes show the same dream.

    The left eye is dreamed as a mono frame would be: ``--steps`` fresh, or refined from its
    carried detail with its carry weights (``carry.refine``). Its detail is warped onto the
    right eye along the source eyes' disparity flow and weighted by the disparity's
    consistency mask; the right eye, starting from that (and from its own carried detail
    where the disparity does not reach), is refined with ``carry.refine`` too, its carry
    weights the disparity weight (plus its own carry weights where the disparity does not
    reach): what only the right eye sees gets the full budget. Both eyes draw on the
    frame's random stream, ``(seed, frame_index)``.

    Args:
        dreamer: the Dreamer, with the projection of one eye (for a 360° stereo frame, an
            equirect projection: each eye is a whole panorama; the disparity flow then
            wraps across the seam too).
        image: the source stereo frame.
        layout: ``top-bottom`` (left eye on top) or ``left-right`` (left eye on the left).
        frame_index: the frame's index (its random stream).
        refine_steps: ``--refine-steps``: steps per octave where detail was carried.
        carried: for a carried video frame, the whole frame's :class:`~dreamvideo.temporal.dreamer.Carried`
            (detail and carry weights, split into the eyes here); None for a fresh frame.
        flow_method, flow_scale: the disparity flow (see ``dreamvideo.temporal.flow``); flow_scale
            None: ``auto_flow_scale`` of the eye's width.
        disparity_found: the disparity already computed from the source eyes (``stereo_disparity``,
            by the flow workers ahead of the dream), instead of computing it here.
    """
    left_src, right_src = split_eyes(image, layout)
    if carried is None:
        left = dreamer.dream(left_src, frame_index=frame_index)
    else:
        left_detail, right_detail = split_eyes(carried.detail, layout)
        left_keep, right_time_keep = split_eyes(carried.keep, layout)
        left_start = (left_src + left_detail).clamp(0, 1)
        left = refine(dreamer, left_start, left_keep, refine_steps=refine_steps, frame_index=frame_index)

    wrap_x = bool(getattr(dreamer.projection, "wraps_x", False))
    if disparity_found is not None:
        flow, weight = disparity_to_device(disparity_found, left_src.device)
    else:
        scale = flow_scale or auto_flow_scale(left_src.shape[-1])
        flow, weight = disparity(left_src, right_src, wrap_x=wrap_x, method=flow_method, scale=scale)
    from_left = warp(left - left_src, flow, wrap_x=wrap_x)
    if carried is None:
        right_start = (right_src + weight * from_left).clamp(0, 1)
        right_keep = weight
    else:
        right_start = (right_src + weight * from_left + (1 - weight) * right_detail).clamp(0, 1)
        right_keep = weight + (1 - weight) * right_time_keep
    right = refine(dreamer, right_start, right_keep, refine_steps=refine_steps, frame_index=frame_index)
    return StereoFrame(image=join_eyes(left, right, layout), left=left, right=right, right_keep=right_keep)


@dataclass(frozen=True)
class StereoStep:
    """The frame step of a stereo frame (``temporal.dreamer.FrameStep``): :func:`dream_stereo`.

    Attributes:
        layout: ``top-bottom`` or ``left-right``.
        flow_method, flow_scale: the disparity flow (``--flow``, ``none`` meaning Farneback
            here, since the disparity needs a flow; ``--flow-scale``, None: the eye's
            ``auto_flow_scale``).
    """

    layout: str
    flow_method: str = "farneback"
    flow_scale: float | None = None

    def __post_init__(self) -> None:
        if self.layout not in TWO_EYES:
            raise ConfigError(f"unknown stereo layout {self.layout!r}", hint=f"use one of {', '.join(TWO_EYES)}")

    def __call__(
        self, dreamer: Dreamer, source: Tensor, carried: Carried | None, *, refine_steps: int, frame_index: int,
        disparity: Disparity | None = None,
    ) -> Tensor:
        return dream_stereo(
            dreamer,
            source,
            self.layout,
            frame_index=frame_index,
            refine_steps=refine_steps,
            carried=carried,
            flow_method=self.flow_method,
            flow_scale=self.flow_scale,
            disparity_found=disparity,
        ).image

    def disparity_ahead(self, frame_width: int) -> tuple[str, float]:
        """``FlowWorkers``' ``stereo`` for frames ``frame_width`` wide: the layout, and the flow
        scale :func:`dream_stereo` would compute the disparity at."""
        return self.layout, self.flow_scale or auto_flow_scale(eye_width(frame_width, self.layout))
