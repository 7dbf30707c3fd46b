"""The temporal dreamer: consecutive frames of one clip, the dream carried along the optical flow.

Each frame after the first starts from the previous frame's dream detail
(dream − source), warped onto it along ``flow_cur_to_prev`` and kept only where
the forward–backward check says the pixel was visible in the previous frame;
disoccluded pixels and pixels from outside the frame are dreamed afresh, and a
scene cut restarts the dream.

The carried state (:class:`TemporalState`) can be taken out and handed to
another dreamer: from the pre-roll of a chunk to its first written frame, or
from one eye of a stereo frame to the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import VideoSettings
from ..dream import Dreamer, image_to_tensor, tensor_to_image
from ..io.decode import Frame
from .cuts import is_scene_cut
from .occlusion import consistency_mask, soften_mask
from .warp import warp

__all__ = ["TemporalDreamer", "TemporalState"]


@dataclass
class TemporalState:
    """What a frame hands to the next.

    Attributes:
        prev_source: the previous source frame, ``uint8 (H, W, 3)`` RGB, or None before the first.
        prev_detail: the previous dream detail (dream − source), ``float32 (1, 3, H, W)`` on the
            dreamer's device, or None before the first frame (and always with ``--flow none``).
        prev_index: the previous frame's source index, or None.
    """

    prev_source: np.ndarray | None = None
    prev_detail: torch.Tensor | None = None
    prev_index: int | None = None


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

    def state(self) -> TemporalState:
        """The state the next frame would start from (shared, not copied: tensors are not changed in place)."""
        return TemporalState(self._state.prev_source, self._state.prev_detail, self._state.prev_index)

    def load_state(self, state: TemporalState) -> None:
        """Continue from ``state``, e.g. another dreamer's after its pre-roll."""
        self._state = TemporalState(state.prev_source, state.prev_detail, state.prev_index)

    def __call__(self, frame: Frame, flows: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, bool]:
        """Dream one frame.

        Args:
            frame: the decoded frame (``image`` uint8 ``(H, W, 3)`` RGB).
            flows: ``(flow_cur_to_prev, flow_prev_to_cur)`` between the previous source frame
                and this one, or None for the first frame or with ``--flow none``.

        Returns:
            The dreamed frame, ``(H, W, 3)`` RGB in ``dtype``, and whether a scene cut restarted
            the dream here.
        """
        source = image_to_tensor(frame.image, self.dreamer.device)
        carried, cut = self.carried(frame, source, flows)
        dreamed = self.dream(source, carried, frame.index)
        if self.video.flow != "none":
            self._state = TemporalState(frame.image, dreamed - source, frame.index)
        return tensor_to_image(dreamed, dtype=self.dtype), cut

    def carried(
        self, frame: Frame, source: torch.Tensor, flows: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[torch.Tensor | None, bool]:
        """The previous dream detail this frame starts from, and whether the frame is a scene cut.

        Returns:
            ``blend · soft mask · warp(previous detail, flow_cur_to_prev)``, ``(1, 3, H, W)``, or
            None for a first frame, a cut, or a run without flow.
        """
        state = self._state
        if flows is None or state.prev_detail is None or self.video.blend <= 0:
            return None, False
        flow_cur_to_prev, flow_prev_to_cur = flows
        wrap_x = self.dreamer.projection.wraps_x  # a 360° frame's seam: its edges are neighbours
        visible = consistency_mask(flow_cur_to_prev, flow_prev_to_cur, wrap_x=wrap_x)
        if is_scene_cut(state.prev_source, frame.image, flow_cur_to_prev, visible):
            return None, True
        warped = warp(state.prev_detail, flow_cur_to_prev, wrap_x=wrap_x)
        keep = torch.from_numpy(soften_mask(visible, wrap_x=wrap_x)).to(source.device)[None, None]
        return self.video.blend * keep * warped, False

    def dream(self, source: torch.Tensor, carried: torch.Tensor | None, frame_index: int) -> torch.Tensor:
        """Dream ``source`` ``(1, 3, H, W)`` from its carried detail: ``--refine-steps`` when something
        was carried, ``--steps`` for a fresh start. Subclasses dream differently (stereo eyes)."""
        if carried is None:
            return self.dreamer.dream(source, frame_index=frame_index)
        init = (source + carried).clamp(0, 1)
        return self.dreamer.dream(init, steps=self.video.refine_steps, frame_index=frame_index)
