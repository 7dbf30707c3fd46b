"""The dream detail a shot carries, resampled once per shot rather than once per frame.

Warping the previous frame's detail onto each new frame resamples it every frame,
and resampling is a low-pass filter: applied once a frame it compounds, and a
dreamed clip settles from crisp to smudgy within half a second (issue 19). So the
detail is split in two:

- the *keyframe*: the detail of the shot's first fully dreamed frame, never moved.
  A per-pixel offset into it (``flow_cur_to_key``, the flows composed back to the
  keyframe) is carried instead, and the keyframe is sampled once at the offset, with
  a Lanczos kernel that does not low-pass (:func:`~.warp.warp`'s ``mode``);
- the *residual*: what the refine steps and the strength hold added since, carried
  frame to frame like the whole detail was. It is small where the keyframe holds.

A pixel's ``weight`` is its share of the keyframe: the product of its carry weights
(``keep``) along the way, 0 where it was revealed; the residual holds the whole
detail there. When more than ``REKEY_SHARE`` of the frame has left the keyframe
(weight under ``REVEALED``), the frame's detail becomes the shot's new keyframe.

Costs per carried frame, on top of the bilinear warp of the residual: one bilinear
warp of the 2-channel offset and the 1-channel weight, and one Lanczos sample of the
keyframe (``benchmarks/coherence.py``; DESIGN, Measured hints for carrying the dream).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from .warp import warp

__all__ = ["KEY_MODE", "REKEY_SHARE", "ShotCarry"]

KEY_MODE = "lanczos"  # how the keyframe is sampled (warp's mode)
REVEALED = 0.5  # a pixel whose keyframe weight falls below this has left the keyframe
REKEY_SHARE = 0.1  # the frame becomes the new keyframe when this share of it has left the old one


@dataclass(frozen=True)
class ShotCarry:
    """The carried detail of the current frame, kept as keyframe + residual.

    The frame's detail is ``keyed + residual``, where ``keyed`` is
    ``gain · weight · key_detail`` sampled at ``x + flow_cur_to_key(x)``.

    Attributes:
        key_detail: the keyframe's detail, ``(1, 3, H, W)`` (dream − source, [0, 1] scale).
        flow_cur_to_key: ``(1, 2, H, W)`` in pixels: where each pixel of this frame is in the keyframe.
        weight: ``(1, 1, H, W)`` in [0, 1]: each pixel's share of the keyframe.
        gain: the blends and strength holds applied to the keyframe since it was made.
        keyed: this frame's share of the keyframe, ``(1, 3, H, W)``.
        residual: the rest of this frame's detail, ``(1, 3, H, W)``.
    """

    key_detail: Tensor
    flow_cur_to_key: Tensor
    weight: Tensor
    gain: float
    keyed: Tensor
    residual: Tensor

    @classmethod
    def start(cls, detail: Tensor) -> ShotCarry:
        """A frame's detail ``(1, 3, H, W)`` as a new keyframe."""
        h, w = detail.shape[-2:]
        return cls(
            key_detail=detail,
            flow_cur_to_key=torch.zeros(1, 2, h, w, device=detail.device),
            weight=torch.ones(1, 1, h, w, device=detail.device),
            gain=1.0,
            keyed=detail,
            residual=torch.zeros_like(detail),
        )

    @property
    def detail(self) -> Tensor:
        """The frame's detail, ``(1, 3, H, W)``."""
        return self.keyed + self.residual

    def follow(self, flow_cur_to_prev: Tensor, keep: Tensor, blend: float, *, wrap_x: bool = False) -> ShotCarry:
        """Carry the detail onto the next frame: ``blend · keep ·`` this frame's detail, the keyframe
        part sampled once from the keyframe (the flows composed), the residual warped.

        Args:
            flow_cur_to_prev: ``(1, 2, H, W)`` from the next frame to this one, in pixels.
            keep: ``(1, 1, H, W)`` carry weights (:func:`~.keep.carry_weights`).
            blend: the share of the detail carried (``--blend``).
            wrap_x: the left and right edges are neighbours (equirect).

        Returns:
            The next frame's carried detail (its :attr:`detail` is what the frame starts from).
        """
        # offset, weight and residual move with one bilinear warp (one sampling grid)
        together = torch.cat([self.flow_cur_to_key, self.weight, self.residual], dim=1)
        moved = warp(together, flow_cur_to_prev, wrap_x=wrap_x)
        flow_cur_to_key = flow_cur_to_prev + moved[:, :2]
        weight = keep * moved[:, 2:3]
        gain = self.gain * blend
        sampled = warp(self.key_detail, flow_cur_to_key, wrap_x=wrap_x, mode=KEY_MODE)
        residual = blend * keep * moved[:, 3:]
        return ShotCarry(self.key_detail, flow_cur_to_key, weight, gain, gain * weight * sampled, residual)

    def settle(self, detail: Tensor, scale: float) -> ShotCarry:
        """This frame's carry once it is dreamed.

        Args:
            detail: the frame's final detail, ``(1, 3, H, W)``.
            scale: the factor the strength hold scaled the dreamed detail by (1: none).

        Returns:
            The keyframe part scaled by ``scale`` and the rest of ``detail`` as the residual; a new
            keyframe (:meth:`start`) when more than ``REKEY_SHARE`` of the frame has left this one.
        """
        if float((self.weight < REVEALED).float().mean()) > REKEY_SHARE:
            return ShotCarry.start(detail)
        keyed = self.keyed * scale
        return dataclasses.replace(self, gain=self.gain * scale, keyed=keyed, residual=detail - keyed)
