"""The temporal dreamer: consecutive frames of one clip, the dream carried along the optical flow.

Each frame after the first starts from the previous frame's dream detail
(dream − source), warped onto it along ``flow_cur_to_prev`` and kept where the
flow is consistent and the warped previous source matches this one
(:mod:`.carry`); pixels not carried get the first frame's full step budget, the
dream is held at its shot's first-frame strength, and a scene cut restarts it.

The carried state (:class:`TemporalState`) can be taken out and handed to
another dreamer: from the pre-roll of a chunk to its first written frame, or
from one eye of a stereo frame to the other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..config import VideoSettings
from ..dream import Dreamer, image_to_tensor, tensor_to_image
from ..io.decode import Frame
from .carry import carry_weights, detail_strength, hold_strength, refine
from .flow import FlowEvidence
from .shot import ShotCarry
from .warp import flow_to_tensor, to_device

__all__ = ["TemporalDreamer", "TemporalState"]


@dataclass
class TemporalState:
    """What a frame hands to the next.

    Attributes:
        prev_source: the previous source frame, ``uint8 (H, W, 3)`` RGB, or None before the first.
        prev_detail: the previous dream detail (dream − source), ``float32 (1, 3, H, W)`` on the
            dreamer's device, or None before the first frame (and always with ``--flow none``).
        prev_index: the previous frame's source index, or None.
        shot_strength: the dream strength (mean ``|dream - source|``, [0, 1] scale) of the
            current shot's first, fully dreamed frame: carried frames are held at this strength.
        shot: ``prev_detail`` as keyframe + residual (:class:`~.shot.ShotCarry`), what the next
            frame carries; None where ``prev_detail`` is None.
    """

    prev_source: np.ndarray | None = None
    prev_detail: torch.Tensor | None = None
    prev_index: int | None = None
    shot_strength: float = 0.0
    shot: ShotCarry | None = None


class TemporalDreamer:
    """Dreams consecutive frames of one clip, carrying the dream along the optical flow.

    Args:
        dreamer: the ``Dreamer`` (model, objective, ascent settings).
        video: blend, refine steps and whether flow is used (``flow == "none"``: independent frames).
        dtype: the host sample type of the dreamed frames returned: ``uint8`` (rounded)
            or ``float32`` in [0, 1] (for 16-bit output).
        state: carried state to start from (see ``state``/``load_state``).
    """

    def __init__(
        self,
        dreamer: Dreamer,
        video: VideoSettings,
        *,
        dtype: type = np.uint8,
        state: TemporalState | None = None,
    ) -> None:
        self.dreamer = dreamer
        self.video = video
        self.dtype = dtype
        self._state = TemporalState() if state is None else state
        self._keep: torch.Tensor | None = None  # this frame's carry weights (1, 1, H, W), set by ``carried``
        self._followed: ShotCarry | None = None  # this frame's carried detail, set by ``carried``

    def state(self) -> TemporalState:
        """The state the next frame would start from (shared, not copied: tensors are not changed in place)."""
        return dataclasses.replace(self._state)

    def load_state(self, state: TemporalState) -> None:
        """Continue from ``state``, e.g. another dreamer's after its pre-roll."""
        self._state = dataclasses.replace(state)

    def __call__(
        self, frame: Frame, flows: FlowEvidence | tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, bool]:
        """Dream one frame.

        Args:
            frame: the decoded frame (``image`` uint8 ``(H, W, 3)`` RGB).
            flows: ``(flow_cur_to_prev, flow_prev_to_cur)`` between the previous source frame
                and this one, or the :class:`~.flow.FlowEvidence` the flow workers computed
                from them (carry weights and cut decided there, ahead), or None for the first
                frame or with ``--flow none``.

        Returns:
            The dreamed frame, ``(H, W, 3)`` RGB in ``dtype``, and whether a scene cut restarted
            the dream here.
        """
        source = image_to_tensor(frame.image, self.dreamer.device)
        carried, cut = self.carried(frame, source, flows)
        dreamed = self.dream(source, carried, frame.index)
        strength, scale = self._state.shot_strength, 1.0
        if carried is None:
            strength = None
        else:
            level = detail_strength(dreamed, source)
            dreamed = hold_strength(dreamed, source, strength)
            scale = detail_strength(dreamed, source) / level if level > 0 else 1.0
        self._hand_on(frame, source, dreamed, strength, scale)
        return tensor_to_image(dreamed, dtype=self.dtype), cut

    def dream_independent(self, frames: list[Frame]) -> list[np.ndarray]:
        """Dream frames with no temporal link (``--flow none`` or ``--blend 0``) as one batch.

        Each frame dreams as :meth:`__call__` would dream it alone (its own random stream);
        the frames must be of one size. Returns the dreamed frames, ``(H, W, 3)`` in ``dtype``.
        """
        sources = torch.cat([image_to_tensor(frame.image, self.dreamer.device) for frame in frames])
        dreamed = self.dreamer.dream(sources, frame_index=[frame.index for frame in frames])
        self._hand_on(frames[-1], sources[-1:], dreamed[-1:])
        return [tensor_to_image(item[None], dtype=self.dtype) for item in dreamed]

    def _hand_on(
        self,
        frame: Frame,
        source: torch.Tensor,
        dreamed: torch.Tensor,
        strength: float | None = None,
        scale: float = 1.0,
    ) -> None:
        """Keep what the next frame starts from (nothing with ``--flow none``); ``strength`` is the
        shot's (see :class:`TemporalState`), None for this fresh frame's own (a new keyframe);
        ``scale``: the factor the strength hold scaled a carried frame's detail by."""
        if self.video.flow == "none":
            return
        detail = dreamed - source
        if strength is None:
            strength, shot = detail_strength(dreamed, source), ShotCarry.start(detail)
        else:
            shot = self._followed.settle(detail, scale)
        self._state = TemporalState(frame.image, detail, frame.index, strength, shot)

    def carried(
        self, frame: Frame, source: torch.Tensor, flows: FlowEvidence | tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[torch.Tensor | None, bool]:
        """The previous dream detail this frame starts from, and whether the frame is a scene cut.

        Returns:
            ``blend · keep ·`` the previous detail carried along ``flow_cur_to_prev``
            (:meth:`~.shot.ShotCarry.follow`), ``(1, 3, H, W)``, or None for a first frame, a cut,
            or a run without flow (``keep``: see :func:`~.carry.carry_weights`; kept for
            :meth:`dream`; the carried ShotCarry kept for the hand-on).
        """
        state = self._state
        if flows is None or state.prev_detail is None or self.video.blend <= 0:
            return None, False
        wrap_x = self.dreamer.projection.wraps_x  # a 360° frame's seam: its edges are neighbours
        if isinstance(flows, FlowEvidence):
            if flows.cut:
                return None, True
            self._keep = to_device(flows.keep, source.device)[None, None]
            flow = flow_to_tensor(flows.flow_cur_to_prev, source.device, size=flows.size)
        else:
            flow_cur_to_prev, flow_prev_to_cur = flows
            keep, cut = carry_weights(
                state.prev_source, frame.image, flow_cur_to_prev, flow_prev_to_cur, wrap_x=wrap_x
            )
            if cut:
                return None, True
            self._keep = torch.from_numpy(keep).to(source.device)[None, None]
            flow = flow_to_tensor(flow_cur_to_prev, source.device)
        shot = state.shot if state.shot is not None else ShotCarry.start(state.prev_detail)
        self._followed = shot.follow(flow, self._keep, self.video.blend, wrap_x=wrap_x)
        return self._followed.detail, False

    def dream(self, source: torch.Tensor, carried: torch.Tensor | None, frame_index: int) -> torch.Tensor:
        """Dream ``source`` ``(1, 3, H, W)`` from its carried detail: :func:`~.carry.refine` when something
        was carried, ``--steps`` for a fresh start. Subclasses dream differently (stereo eyes)."""
        if carried is None:
            return self.dreamer.dream(source, frame_index=frame_index)
        start = (source + carried).clamp(0, 1)
        return refine(self.dreamer, start, self._keep, refine_steps=self.video.refine_steps, frame_index=frame_index)
