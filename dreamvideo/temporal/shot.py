"""The dream detail a shot carries, resampled once per shot rather than once per frame.

Warping the previous frame's detail onto each new frame resamples it every frame,
and resampling is a low-pass filter: applied once a frame it compounds, and a
dreamed clip settles from crisp to smudgy within half a second (issue 19). So the
detail is split in two:

- the *keyframe*: the detail of the shot's first fully dreamed frame, never resampled.
  A per-pixel offset into it (``flow_cur_to_key``, the flows composed back to the
  keyframe) is carried instead, and the keyframe is sampled once at the offset, with
  a Lanczos kernel that does not low-pass (:func:`~.warp.warp`'s ``mode``);
- the *residual*: what the refine steps and the strength hold added since, carried
  frame to frame (Lanczos too: small where the keyframe holds).

A pixel's ``weight`` is its share of the keyframe: the product of its carry weights
(``keep``) along the way, 0 where it was revealed; the residual holds the whole
detail there. When more than ``REKEY_SHARE`` of the frame has left the keyframe
(weight under ``REVEALED``) inside the picture (uncovered by something moving), the
frame's detail becomes the shot's new keyframe. When it left past the keyframe's
edge (a pan, a zoom out), the keyframe moves along instead: shifted a whole number
of pixels (copied, not resampled) and filled in from the frame where it had
nothing, so a long pan keeps its first frame's detail as it goes.

Costs per carried frame, on top of the Lanczos warp of the residual: one bilinear
warp of the 2-channel offset and the 1-channel weight, and one Lanczos sample of the
keyframe (DESIGN, Sharp and steady).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from .warp import warp

__all__ = ["KEY_MODE", "REKEY_SHARE", "ShotCarry"]

KEY_MODE = "lanczos"  # how the keyframe is sampled (warp's mode)
RESIDUAL_MODE = "lanczos"  # how the residual is carried from frame to frame
REVEALED = 0.5  # a pixel whose keyframe weight falls below this has left the keyframe
REKEY_SHARE = 0.05  # the frame becomes the new keyframe when this share of it has left the old one


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
        # offset and weight move with one bilinear warp (one sampling grid)
        together = torch.cat([self.flow_cur_to_key, self.weight], dim=1)
        moved = warp(together, flow_cur_to_prev, wrap_x=wrap_x)
        flow_cur_to_key = flow_cur_to_prev + moved[:, :2]
        weight = keep * moved[:, 2:3]
        gain = self.gain * blend
        sampled = warp(self.key_detail, flow_cur_to_key, wrap_x=wrap_x, mode=KEY_MODE)
        residual = blend * keep * warp(self.residual, flow_cur_to_prev, wrap_x=wrap_x, mode=RESIDUAL_MODE)
        return ShotCarry(self.key_detail, flow_cur_to_key, weight, gain, gain * weight * sampled, residual)

    def settle(self, detail: Tensor, scale: float, *, wrap_x: bool = False) -> ShotCarry:
        """This frame's carry once it is dreamed.

        Args:
            detail: the frame's final detail, ``(1, 3, H, W)``.
            scale: the factor the strength hold scaled the dreamed detail by (1: none).
            wrap_x: the left and right edges are neighbours (equirect).

        Returns:
            The keyframe part scaled by ``scale`` and the rest of ``detail`` as the residual. When
            more than ``REKEY_SHARE`` of the frame has left the keyframe: a new keyframe
            (:meth:`start`) where it left by being revealed inside the picture; where it left by
            moving past the keyframe's edge, the keyframe moved along (:meth:`_moved_along`).
        """
        keyed = self.keyed * scale
        settled = dataclasses.replace(self, gain=self.gain * scale, keyed=keyed, residual=detail - keyed)
        left = self.weight < REVEALED
        past_edge = self._past_edge(wrap_x=wrap_x)
        if float((left & ~past_edge).float().mean()) > REKEY_SHARE:
            return ShotCarry.start(detail)
        if float((left & past_edge).float().mean()) > REKEY_SHARE:
            return settled._moved_along(detail, past_edge, wrap_x=wrap_x)
        return settled

    def _past_edge(self, *, wrap_x: bool) -> Tensor:
        """``(1, 1, H, W)`` bool: the pixels whose place in the keyframe is outside it."""
        return ~_inside(self.flow_cur_to_key, wrap_x=wrap_x)

    def _moved_along(self, detail: Tensor, past_edge: Tensor, *, wrap_x: bool) -> ShotCarry:
        """The keyframe moved a whole number of pixels with the picture, so what stays in it is
        copied, not resampled; what the frame shows past its old edge is filled in from
        ``detail`` (``(1, 3, H, W)``), and those pixels are the keyframe's from now on."""
        h, w = detail.shape[-2:]
        held = (~past_edge) & (self.weight >= REVEALED)
        offsets = self.flow_cur_to_key[:, :, held[0, 0]] if bool(held.any()) else self.flow_cur_to_key.flatten(2)
        shift_x, shift_y = (int(torch.round(offsets[0, i].median())) for i in range(2))
        if wrap_x:
            shift_x = 0  # the keyframe already holds the whole turn
        # key[y, x] = old key[y + shift_y, x + shift_x] where that is inside the old key
        key = torch.zeros_like(self.key_detail)
        known = torch.zeros(1, 1, h, w, dtype=torch.bool, device=detail.device)
        ys, xs = slice(max(0, -shift_y), min(h, h - shift_y)), slice(max(0, -shift_x), min(w, w - shift_x))
        src_ys = slice(ys.start + shift_y, ys.stop + shift_y)
        src_xs = slice(xs.start + shift_x, xs.stop + shift_x)
        if ys.start < ys.stop and xs.start < xs.stop:
            key[..., ys, xs] = self.key_detail[..., src_ys, src_xs]
            known[..., ys, xs] = True
        flow_cur_to_key = self.flow_cur_to_key - torch.tensor(
            [shift_x, shift_y], dtype=self.flow_cur_to_key.dtype, device=detail.device
        ).view(1, 2, 1, 1)
        # The rest from this frame: the pixel of this frame at each keyframe place, found by
        # inverting x -> x + flow_cur_to_key(x) (a few fixed-point rounds; the field is smooth).
        flow_key_to_cur = -flow_cur_to_key
        for _ in range(3):
            flow_key_to_cur = -warp(flow_cur_to_key, flow_key_to_cur, wrap_x=wrap_x)
        seen = _inside(flow_key_to_cur, wrap_x=wrap_x)
        filled = warp(detail / self.gain, flow_key_to_cur, wrap_x=wrap_x, mode=KEY_MODE)
        key = torch.where(known | ~seen, key, filled)
        moved = dataclasses.replace(self, key_detail=key, flow_cur_to_key=flow_cur_to_key)
        keyed_now = past_edge & ~moved._past_edge(wrap_x=wrap_x)
        weight = torch.where(keyed_now, torch.ones_like(self.weight), self.weight)
        sampled = warp(key, flow_cur_to_key, wrap_x=wrap_x, mode=KEY_MODE)
        keyed = self.gain * weight * sampled
        return ShotCarry(key, flow_cur_to_key, weight, self.gain, keyed, detail - keyed)


def _inside(flow: Tensor, *, wrap_x: bool) -> Tensor:
    """``(1, 1, H, W)`` bool: where ``x + flow(x)`` (``flow`` ``(1, 2, H, W)`` in pixels) lands
    inside the picture, between its edge pixels' centres (beyond them a sample repeats the edge).
    The device twin of ``occlusion.from_inside``, which counts the edge pixels' outer halves in."""
    h, w = flow.shape[-2:]
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, 1, w)
    x, y = xs + flow[:, 0:1], ys + flow[:, 1:2]
    inside = (y >= 0) & (y <= h - 1)
    return inside if wrap_x else inside & (x >= 0) & (x <= w - 1)
