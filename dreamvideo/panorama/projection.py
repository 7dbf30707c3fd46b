"""Projections of equirectangular 360° frames for the dream core.

Images are ``float32 (B, 3, H, W)`` in [0, 1], equirectangular (see
``geometry``: longitude along the width, the left and right edges neighbours,
the top row the zenith). Every projection here wraps the seam wherever the core
rolls, blurs or resizes, and never rolls across the poles.

- ``EquirectFlat`` (``--sphere-mode equirect``): the network sees the pixels as
  they are, with the other edge's columns padded on so the seam has context.
  Cheap; paints streaks radiating from the poles, where rows are pinched.
- ``EquirectViews`` (``views``, the default): every step a rig of overlapping
  perspective views (six 100° views on the cube's axes), turned at random
  (about the vertical axis, tilted up to 10°), is sampled from the frame; the
  network's gradient with respect to the views is *gathered* back: each equirect
  pixel samples the gradient of every view it falls in and blends them with
  weights that fall to 0 at the view edges. The views are sampled from a copy
  whose polar rows are box-filtered across ``1 / cos(latitude)`` pixels, so they
  never alias the dense polar rows; the gradient's smoothing is widened the same
  way. The octave pyramid resizes the equirect frame (wrapping the seam) and the
  views follow its pixels per degree.
- ``EquirectViews.cubemap()`` (``cubemap``): six 90° faces, each pixel taken from
  the one face it falls in, the cube rotated at random every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import DreamSettings
from ..dream import Dreamer, make_dreamer
from ..dream.projection import FLAT, GradientFn, Projection
from ..temporal.warp import to_device
from .geometry import (
    RowBoxFilter,
    cube_rotations,
    directions_to_equirect,
    equirect_directions,
    random_rotation_array,
    sample_equirect,
    view_coordinates,
    view_rays,
)

__all__ = ["EquirectFlat", "EquirectViews", "dreamer_for", "projection_for"]


class _Equirect(Projection):
    """Wrap the seam, keep the poles apart: what every equirect projection shares."""

    name = "equirect"
    wraps_x = True
    rolls_y = False


class EquirectFlat(_Equirect):
    """The equirect pixels as they are, the seam padded with the other edge's columns.

    Args:
        pad: columns of the other edge added on each side before the network sees the
            frame (None: a sixteenth of the width, at least 16), so the gradient next to
            the seam is computed with the content across it. Tiles (``--tile``) then fall
            on the padded frame, and the Dreamer's random roll moves them every step.
    """

    sphere_mode = "equirect"

    def __init__(self, *, pad: int | None = None) -> None:
        self.pad = pad

    def gradient(
        self,
        x: Tensor,
        gradient_fn: GradientFn,
        rng: np.random.Generator,
        *,
        need: Tensor | None = None,
    ) -> Tensor:
        width = x.shape[-1]
        pad = min(width // 2, self.pad if self.pad is not None else max(16, width // 16))
        if pad <= 0:
            return gradient_fn(x, need)
        wide = F.pad(x, (pad, pad, 0, 0), mode="circular")
        if need is not None:
            need = F.pad(need.to(x.dtype), (pad, pad, 0, 0), mode="circular") > 0
        return gradient_fn(wide, need)[..., pad : pad + width]

    def seen(self, x: Tensor) -> Tensor:
        pad = min(x.shape[-1] // 2, self.pad if self.pad is not None else max(16, x.shape[-1] // 16))
        return F.pad(x, (pad, pad, 0, 0), mode="circular") if pad > 0 else x

    def __repr__(self) -> str:
        return f"EquirectFlat(pad={self.pad})"


@dataclass
class _SizePlan:
    """What an equirect octave's size alone decides, built once per size and kept on the device
    (float32): the polar rows' anti-aliasing filter, the blur's row widening per sigma, the
    pixels' directions and the view rays."""

    source_filter: RowBoxFilter
    directions: Tensor  # (H, W, 3)
    rays: Tensor  # (n, n, 3)
    blur_filters: dict[float, RowBoxFilter] = field(default_factory=dict)


class EquirectViews(_Equirect):
    """A rig of perspective views over the sphere, gradient gathered back to every pixel.

    A step reads nothing back from the device: what depends on the octave's size is planned
    once per size (``_SizePlan``), and the rig's rotations go up as one small non-blocking copy.

    Args:
        fov: each view's field of view in degrees (square views).
        rotations: the rig, one rotation per view (float64 3×3, see ``geometry``); default
            the six cube directions.
        feather: the width, as a fraction of the view's half-width, over which a view's
            blending weight rises from 0 at its edge to 1 (smoothstep). 0: hard weights,
            each pixel taken from the views it falls in (for 90° cube faces, one face).
        rotate: turn the whole rig at random every step (from the frame's random stream),
            so no view edge stays put. False keeps it fixed.
        max_tilt: the turn is a uniform turn about the vertical axis and a tilt of at most
            this many degrees (None: any rotation at all). Nearly upright views dream
            stronger: a network's features have an up.
    """

    sphere_mode = "views"
    PLANNED_SIZES = 8  # sizes kept planned: a pyramid's octaves (and a stereo frame's eyes)

    def __init__(
        self,
        *,
        fov: float = 100.0,
        rotations: list[Tensor] | None = None,
        feather: float = 0.3,
        rotate: bool = True,
        max_tilt: float | None = 10.0,
    ) -> None:
        if not 10.0 <= fov < 170.0:
            raise ValueError(f"view field of view must be in [10, 170) degrees, got {fov}")
        self.fov = fov
        self.rotations = cube_rotations() if rotations is None else rotations
        self._rig = np.stack([np.asarray(r, dtype=np.float64) for r in self.rotations])
        self.feather = feather
        self.rotate = rotate
        self.max_tilt = max_tilt
        self._plans: dict[tuple[int, int, str], _SizePlan] = {}

    @classmethod
    def cubemap(cls, *, rotate: bool = True) -> EquirectViews:
        """Six 90° cube faces with hard weights (each pixel from its own face)."""
        view = cls(fov=90.0, feather=0.0, rotate=rotate)
        view.sphere_mode = "cubemap"
        return view

    def view_size(self, width: int) -> int:
        """View side in pixels for an equirect octave ``width`` wide: its pixels per degree at the view's centre."""
        # Never below 80 px: the smallest input the registered networks accept is 75.
        return max(80, round(width * math.tan(math.radians(self.fov) / 2) / math.pi))

    def rig(self, rng: np.random.Generator, device: torch.device | str | None = None) -> Tensor:
        """This step's view rotations, ``(V, 3, 3)`` float32 on ``device``: turned on the host (float64)
        and copied up at once, through pinned memory, so the host does not wait for the device."""
        rig = self._rig
        if self.rotate:
            rig = random_rotation_array(rng, self.max_tilt) @ rig
        return to_device(rig.astype(np.float32), device)

    def gradient(
        self,
        x: Tensor,
        gradient_fn: GradientFn,
        rng: np.random.Generator,
        *,
        need: Tensor | None = None,
    ) -> Tensor:
        rig = self.rig(rng, x.device)  # the one copy from the host a step makes
        if need is None:
            views, view_need = self.sample_views(x, rig), None  # (B * V, 3, n, n), item-major
        else:
            # The mask is sampled with the picture, as a fourth channel: a view pixel is needed
            # where it samples a needed pixel (the row filter and the bilinear sampling spread the
            # mask a little); a view, or a tile of one, that sees none is skipped.
            both = self.sample_views(torch.cat([x, need.to(x.dtype)], dim=1), rig)
            views, view_need = both[:, :-1], both[:, -1:] > 0
        view_grads = gradient_fn(views, view_need)
        return self.gather(view_grads, rig, tuple(x.shape[-2:]))

    def plan(self, height: int, width: int, device: torch.device) -> _SizePlan:
        """The ``_SizePlan`` of an octave ``height × width`` on ``device``, built on first use."""
        key = (height, width, str(device))
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= self.PLANNED_SIZES:
                del self._plans[next(iter(self._plans))]
            plan = _SizePlan(
                source_filter=RowBoxFilter(1.0 / np.cos(_latitudes(height)).clip(min=1e-6), width, device=device),
                directions=equirect_directions(height, width, device=device),
                rays=view_rays(self.view_size(width), self.fov, device=device),
            )
            self._plans[key] = plan
        return plan

    def seen(self, x: Tensor) -> Tensor:
        """The rig's views unturned (upright cube directions): what every step sees, turned a little."""
        return self.sample_views(x, to_device(self._rig.astype(np.float32), x.device))

    def sample_views(self, x: Tensor, rig: Tensor) -> Tensor:
        """The views of ``x`` ``(B, C, H, W)`` at its resolution: ``(B·V, C, n, n)``, item-major.

        ``rig`` ``(V, 3, 3)``: the views' rotations (on ``x``'s device, or copied there). They are
        sampled from a copy of ``x`` box-filtered, row by row, across ``1 / cos(latitude)``
        pixels: a view pixel covers about one pixel at the equator and that many columns of a
        polar row, which would alias without the filter.
        """
        batch = x.shape[0]
        oh, ow = x.shape[-2:]
        plan = self.plan(oh, ow, x.device)
        source = plan.source_filter(x)
        rays = plan.rays
        n = rays.shape[0]
        rig = rig.to(device=x.device, dtype=rays.dtype)
        views = []
        for r in rig:  # one view at a time: never a copy of the frame per view
            u, v = directions_to_equirect(rays @ r.T, oh, ow)
            grid_u = u.to(x.dtype)[None].expand(batch, n, n)
            grid_v = v.to(x.dtype)[None].expand(batch, n, n)
            views.append(sample_equirect(source, grid_u, grid_v))
        return torch.stack(views, dim=1).reshape(batch * len(rig), x.shape[1], n, n)

    def blur(self, x: Tensor, sigma: float) -> Tensor:
        """A blur of about ``sigma`` equatorial pixels in every direction on the sphere.

        A plain blur of the equirect pixels is narrower along the pinched polar rows than
        across them: near a pole it smooths radially only, which draws streaks. The rows are
        widened with a box of the variance they lack, ``σ²(1/cos²(latitude) − 1)``.
        """
        x = super().blur(x, sigma)
        height, width = x.shape[-2:]
        filters = self.plan(height, width, x.device).blur_filters
        if sigma not in filters:
            extra = sigma**2 * (1.0 / np.cos(_latitudes(height)).clip(min=1e-6) ** 2 - 1.0)
            filters[sigma] = RowBoxFilter(np.sqrt(12.0 * extra), width, device=x.device)
        return filters[sigma](x)

    def gather(self, view_grads: Tensor, rig: Tensor, size: tuple[int, int]) -> Tensor:
        """Blend the views' gradients ``(B·V, 3, n, n)`` back onto the equirect grid ``size``.

        Each equirect pixel samples (bilinearly) the gradient of every view it falls in,
        weighted by the view's feather at that point; the weights are normalised per pixel.
        """
        height, width = size
        count = len(rig)
        batch = view_grads.shape[0] // count
        device, dtype = view_grads.device, view_grads.dtype
        dirs = self.plan(height, width, device).directions
        rig = rig.to(device=device, dtype=dirs.dtype)
        grads = view_grads.reshape(batch, count, *view_grads.shape[1:])
        total = torch.zeros((batch, view_grads.shape[1], height, width), device=device, dtype=dtype)
        weight = torch.zeros((1, 1, height, width), device=device, dtype=dtype)
        for k in range(count):
            # A view no pixel falls in adds weight 0: cheaper to sample it anyway than to ask the
            # device whether it is empty (a host synchronisation), and a rig covers the sphere.
            a, b, front = view_coordinates(dirs, rig[k], self.fov)
            w = self._feather(a) * self._feather(b) * front
            grid = torch.stack([a.clamp(-1.5, 1.5), b.clamp(-1.5, 1.5)], dim=-1)[None].to(dtype)
            sampled = F.grid_sample(
                grads[:, k], grid.expand(batch, -1, -1, -1), mode="bilinear", padding_mode="border", align_corners=False
            )
            w = w.to(dtype)[None, None]
            total += sampled * w
            weight += w
        return total / weight.clamp(min=1e-8)

    def _feather(self, a: Tensor) -> Tensor:
        """Blending weight across a view: 0 outside, rising to 1 over ``feather`` of the half-width."""
        inside = 1.0 - a.abs()
        if self.feather <= 0:
            return (inside >= 0).to(a.dtype)
        t = (inside / self.feather).clamp(0, 1)
        return t * t * (3 - 2 * t)

    def __repr__(self) -> str:
        return (
            f"EquirectViews(fov={self.fov}, views={len(self.rotations)}, feather={self.feather}, "
            f"rotate={self.rotate}, max_tilt={self.max_tilt})"
        )


def _latitudes(height: int) -> np.ndarray:
    """The latitudes (radians, float64) of an equirect frame's row centres, top row first."""
    return math.pi / 2 - (np.arange(height) + 0.5) / height * math.pi


def projection_for(settings: DreamSettings, *, projection: str | None = None) -> Projection:
    """The projection a run's settings ask for: ``FLAT``, or an equirect one by ``sphere_mode``.

    Args:
        settings: ``projection`` (``flat``/``equirect``; ``auto`` means flat here — the caller
            resolves ``auto`` from the input's metadata first, or passes ``projection``) and
            ``sphere_mode`` (``views``, ``cubemap`` or ``equirect``).
        projection: the resolved projection name, overriding ``settings.projection``.
    """
    name = projection if projection is not None else settings.projection
    if name != "equirect":
        return FLAT
    mode = settings.sphere_mode
    if mode == "equirect":
        return EquirectFlat()
    if mode == "cubemap":
        return EquirectViews.cubemap()
    return EquirectViews()


def dreamer_for(settings: DreamSettings, layout, *, grey: bool = False) -> Dreamer:
    """The Dreamer for a run whose frames are ``layout`` (``layout.Layout``, resolved):
    the model and objective of ``settings``, shown the picture through the layout's projection."""
    return make_dreamer(settings, grey=grey, projection=projection_for(settings, projection=layout.projection))
