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
from .flow import FlowEvidence
from .occlusion import consistency_mask, soften_mask
from .warp import flow_to_tensor, to_device, warp

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

    def __call__(
        self, frame: Frame, flows: FlowEvidence | tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, bool]:
        """Dream one frame.

        Args:
            frame: the decoded frame (``image`` uint8 ``(H, W, 3)`` RGB).
            flows: ``(flow_cur_to_prev, flow_prev_to_cur)`` between the previous source frame
                and this one, or the :class:`~dreamvideo.temporal.flow.FlowEvidence` the flow
                workers computed from them (mask and cut decided there, ahead), or None for the
                first frame or with ``--flow none``.

        Returns:
            The dreamed frame, ``(H, W, 3)`` RGB in ``dtype``, and whether a scene cut restarted
            the dream here.
        """
        device = self.dreamer.device
        state = self._state
        source = image_to_tensor(frame.image, device)
        init, steps, cut = source, self.dreamer.settings.steps, False
        if isinstance(flows, FlowEvidence) and state.prev_detail is not None and self.video.blend > 0:
            cut = flows.cut
            if not cut:
                flow = flow_to_tensor(flows.flow_cur_to_prev, device, size=flows.size)
                carried = warp(state.prev_detail, flow)
                keep = to_device(flows.keep, device)[None, None]
                init = (source + self.video.blend * keep * carried).clamp(0, 1)
                steps = self.video.refine_steps
        elif flows is not None and state.prev_detail is not None and self.video.blend > 0:
            flow_cur_to_prev, flow_prev_to_cur = flows
            visible = consistency_mask(flow_cur_to_prev, flow_prev_to_cur)
            cut = is_scene_cut(state.prev_source, frame.image, flow_cur_to_prev, visible)
            if not cut:
                carried = warp(state.prev_detail, flow_cur_to_prev)
                keep = torch.from_numpy(soften_mask(visible)).to(device)[None, None]
                init = (source + self.video.blend * keep * carried).clamp(0, 1)
                steps = self.video.refine_steps
        dreamed = self.dreamer.dream(init, steps=steps, frame_index=frame.index)
        if self.video.flow != "none":
            self._state = TemporalState(frame.image, dreamed - source, frame.index)
        return tensor_to_image(dreamed, dtype=self.dtype), cut
