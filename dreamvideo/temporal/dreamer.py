"""The temporal dreamer: consecutive frames of one clip, the dream carried along the optical flow.

Each frame after the first starts from the previous frame's dream detail
(dream − source), warped onto it along ``flow_cur_to_prev`` and kept where the
flow is consistent and the warped previous source matches this one
(:mod:`.carry`); pixels not carried get the first frame's full step budget, the
dream is held at its shot's first-frame strength, and a scene cut restarts it.

One frame step serves every kind of frame: :meth:`TemporalDreamer.carried` gives
the carried detail and its weights (:class:`Carried`), and the frame's
:class:`FrameStep` dreams the frame from them: :class:`MonoStep` for a flat or
mono frame, ``panorama.stereo.StereoStep`` for a stereo pair (chosen once, by
``dreamvideo.frame.frame_step``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..config import VideoSettings
from ..dream import Dreamer, image_to_tensor, tensor_to_image
from ..io.decode import Frame
from .carry import detail_strength, hold_strength, refine
from .flow import FlowEvidence
from .shot import ShotCarry
from .warp import flow_to_tensor, to_device

__all__ = ["Carried", "Disparity", "FrameStep", "MonoStep", "TemporalDreamer"]

#: A stereo frame's disparity as ``flow.stereo_disparity`` computes it: ``(flow_right_to_left, weight)``.
Disparity = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Carried:
    """What a carried frame starts from.

    Attributes:
        detail: ``blend · keep ·`` the previous detail carried along ``flow_cur_to_prev``
            (:meth:`~.shot.ShotCarry.follow`), ``(1, 3, H, W)``, added to the frame's source.
        keep: the carry weights (:func:`~.carry.carry_weights`), ``(1, 1, H, W)`` in [0, 1]:
            near 1 where the previous dream is kept, near 0 where the frame reveals something.
        shot: ``detail`` as the shot's keyframe + residual, settled into the next frame's after
            the dream (:meth:`~.shot.ShotCarry.settle`); None: the dream's detail starts a keyframe.
    """

    detail: Tensor
    keep: Tensor
    shot: ShotCarry | None = None


class FrameStep(Protocol):
    """Dreams one frame ``(1, 3, H, W)`` from its source and what was carried (None: a fresh frame)."""

    def __call__(
        self, dreamer: Dreamer, source: Tensor, carried: Carried | None, *, refine_steps: int, frame_index: int,
        disparity: Disparity | None = None,
    ) -> Tensor: ...

    def disparity_ahead(self, frame_width: int) -> tuple[str, float] | None:
        """``FlowWorkers``' ``stereo`` for frames ``frame_width`` wide, or None (no disparity)."""


class MonoStep:
    """The frame step of a flat or mono frame: ``--steps`` for a fresh frame, :func:`~.carry.refine`
    (``refine_steps`` where carried, the full budget where revealed) for a carried one."""

    def __call__(
        self, dreamer: Dreamer, source: Tensor, carried: Carried | None, *, refine_steps: int, frame_index: int,
        disparity: Disparity | None = None,
    ) -> Tensor:
        if carried is None:
            return dreamer.dream(source, frame_index=frame_index)
        start = (source + carried.detail).clamp(0, 1)
        return refine(dreamer, start, carried.keep, refine_steps=refine_steps, frame_index=frame_index)

    def disparity_ahead(self, frame_width: int) -> None:
        return None


@dataclass
class _Previous:
    """What a frame hands to the next: its dream detail (dream − source, ``(1, 3, H, W)`` on the
    dreamer's device) as the shot's keyframe + residual (:class:`~.shot.ShotCarry`), and the
    dream strength (mean ``|dream - source|``, [0, 1] scale) of its shot's first, fully dreamed
    frame per unit of that frame's ``--strength``: carried frames are held at this times their
    own ``--strength`` (which a schedule may change)."""

    shot: ShotCarry
    shot_strength: float


class TemporalDreamer:
    """Dreams consecutive frames of one clip, carrying the dream along the optical flow.

    Args:
        dreamer: the ``Dreamer`` (model, objective, ascent settings).
        video: blend, refine steps and whether flow is used (``flow == "none"``: independent frames).
        step: how a frame is dreamed from its source and what was carried (default :class:`MonoStep`).
        dtype: the host sample type of the dreamed frames returned: ``uint8`` (rounded)
            or ``float32`` in [0, 1] (for 16-bit output).
    """

    def __init__(
        self, dreamer: Dreamer, video: VideoSettings, *, step: FrameStep | None = None, dtype: type = np.uint8
    ) -> None:
        self.dreamer = dreamer
        self.video = video
        self.step = MonoStep() if step is None else step
        self.dtype = dtype
        self._previous: _Previous | None = None

    def __call__(self, frame: Frame, evidence: FlowEvidence | None) -> tuple[np.ndarray, bool]:
        """Dream one frame.

        Args:
            frame: the decoded frame (``image`` uint8 ``(H, W, 3)`` RGB).
            evidence: what the flow workers computed from the previous source frame and this
                one (flow, carry weights, cut, and a stereo frame's disparity), or None for the
                first frame, with ``--flow none`` or ``--blend 0``.

        Returns:
            The dreamed frame, ``(H, W, 3)`` RGB in ``dtype``, and whether a scene cut restarted
            the dream here.
        """
        source = image_to_tensor(frame.image, self.dreamer.device)
        carried, cut = self.carried(source, evidence)
        disparity = evidence.disparity if evidence is not None else None
        dreamed = self.dream(source, carried, frame.index, disparity=disparity)
        scale = float(self.dreamer.settings.strength)  # this frame's: a schedule may change it
        unit = self._previous.shot_strength if carried is not None else 0.0
        held = 1.0  # what the strength hold scaled a carried frame's detail by
        if carried is not None and unit > 0:
            dreamed, held = hold_strength(dreamed, source, unit * scale)
        elif scale > 0:
            unit = detail_strength(dreamed, source) / scale
        self._hand_on(source, dreamed, unit, carried=carried, held=held)
        return tensor_to_image(dreamed, dtype=self.dtype), cut

    def dream_independent(self, frames: list[Frame]) -> list[np.ndarray]:
        """Dream mono frames with no temporal link (``--flow none`` or ``--blend 0``) as one batch.

        Each frame dreams as :meth:`__call__` would dream it alone (its own random stream);
        the frames must be of one size. Returns the dreamed frames, ``(H, W, 3)`` in ``dtype``.
        """
        sources = torch.cat([image_to_tensor(frame.image, self.dreamer.device) for frame in frames])
        dreamed = self.dreamer.dream(sources, frame_index=[frame.index for frame in frames])
        self._hand_on(sources[-1:], dreamed[-1:])
        return [tensor_to_image(item[None], dtype=self.dtype) for item in dreamed]

    def _hand_on(
        self,
        source: Tensor,
        dreamed: Tensor,
        strength: float | None = None,
        *,
        carried: Carried | None = None,
        held: float = 1.0,
    ) -> None:
        """Keep what the next frame starts from (nothing with ``--flow none``); ``strength`` is the
        shot's (see :class:`_Previous`), None for this fresh frame's own. A fresh frame's detail
        is a new keyframe; a ``carried`` one's settles into its shot (``held``: the factor the
        strength hold scaled it by)."""
        if self.video.flow == "none":
            return
        detail = dreamed - source
        if strength is None:
            strength = detail_strength(dreamed, source)
        if carried is None or carried.shot is None:
            shot = ShotCarry.start(detail)
        else:
            shot = carried.shot.settle(detail, held, wrap_x=self.dreamer.projection.wraps_x)
        self._previous = _Previous(shot, strength)

    def carried(self, source: Tensor, evidence: FlowEvidence | None) -> tuple[Carried | None, bool]:
        """The previous dream detail this frame starts from, with its carry weights, and whether
        the frame is a scene cut.

        Args:
            source: the frame, ``(1, 3, H, W)`` on the dreamer's device.
            evidence: as in :meth:`__call__`.

        Returns:
            ``(carried, cut)``: :class:`Carried`, or None for a first frame, a cut, or a run
            without flow.
        """
        previous = self._previous
        if evidence is None or previous is None or self.video.blend <= 0:
            return None, False
        if evidence.cut:
            return None, True
        wrap_x = self.dreamer.projection.wraps_x  # a 360° frame's seam: its edges are neighbours
        keep = to_device(evidence.keep, source.device)[None, None]
        flow = flow_to_tensor(evidence.flow_cur_to_prev, source.device, size=evidence.size)
        shot = previous.shot.follow(flow, keep, self.video.blend, wrap_x=wrap_x)
        return Carried(shot.detail, keep, shot), False

    def dream(
        self,
        source: Tensor,
        carried: Carried | None,
        frame_index: int,
        *,
        disparity: Disparity | None = None,
    ) -> Tensor:
        """Dream ``source`` ``(1, 3, H, W)`` from what was carried (None: a fresh frame) with the
        frame step; ``disparity``: a stereo frame's, computed ahead (None: the step computes it)."""
        return self.step(
            self.dreamer,
            source,
            carried,
            refine_steps=self.video.refine_steps,
            frame_index=frame_index,
            disparity=disparity,
        )
