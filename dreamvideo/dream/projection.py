"""How the dream core sees a picture: the seam between the ascent and what the picture is.

A ``Projection`` maps the image the dream works on (``float32 (B, 3, H, W)`` in
[0, 1]) to what the network sees, and the network's gradient back; it also says
how the image's edges behave wherever the core rolls, blurs or resizes. The
flat projection is the identity with ordinary edges. Panoramas subclass it in
``dreamvideo.panorama`` (above this package: the core never imports it), e.g. to
wrap the left and right edges of an equirectangular frame and to show the
network undistorted perspective views instead of the pinched polar rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["FLAT", "GradientFn", "Projection"]

GradientFn = Callable[[Tensor, "Tensor | None"], Tensor]
"""d objective / d x for a batch ``(N, 3, h, w)``, one independent item per row; same shape. The
second argument, None or bool ``(N, 1, h, w)``, marks the pixels whose gradient is used: a tile
or item with none of them may be skipped (its gradient 0)."""


class Projection:
    """The flat picture: the network sees the image itself; no edge is a neighbour of another.

    Attributes:
        name: as on the command line (``--projection``).
        wraps_x: the left and right edges are neighbours (a 360° panorama's seam).
        rolls_y: jitter may roll vertically (False where that would move one pole onto the other).
    """

    name = "flat"
    wraps_x = False
    rolls_y = True

    def jitter(self, rng: np.random.Generator, amount: int) -> tuple[int, int]:
        """A random roll ``(dy, dx)`` in ``[-amount, amount]`` pixels; ``dy`` is 0 unless ``rolls_y``."""
        dy, dx = (int(v) for v in rng.integers(-amount, amount + 1, size=2))
        return (dy if self.rolls_y else 0), dx

    def roll(self, x: Tensor, dy: int, dx: int) -> Tensor:
        """Roll ``x`` ``(B, C, H, W)`` by ``(dy, dx)`` pixels (content moves down and right)."""
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))

    def gradient(
        self, x: Tensor, gradient_fn: GradientFn, rng: np.random.Generator, *, need: Tensor | None = None
    ) -> Tensor:
        """d objective / d x for ``x`` ``(B, 3, H, W)``, through what the network sees.

        ``rng`` is the frame's random stream, for projections that move their views each step.
        ``need`` (None, or bool ``(B, 1, H, W)``): only these pixels' gradient is used; what the
        network would see of none of them need not be computed (0 there).
        """
        return gradient_fn(x, need)

    def seen(self, x: Tensor) -> Tensor:
        """What the network sees of ``x`` ``(B, 3, H, W)`` when the objective is measured
        (``Dreamer.value``): ``(N, 3, h, w)`` items, each measured on its own and averaged.
        The same pictures as a step's :meth:`gradient`, without its random moves."""
        return x

    def blur(self, x: Tensor, sigma: float) -> Tensor:
        """Gaussian blur of ``x`` ``(B, C, H, W)``; the horizontal edges wrap where ``wraps_x``."""
        # Imported here: kornia's package import is 0.1-0.2 s of start-up, paid only when blurring.
        from kornia.filters import filter2d_separable

        k = 2 * math.ceil(3 * sigma) + 1
        kernel = _gaussian_kernel(k, sigma, x.device, x.dtype)
        if not self.wraps_x:
            return filter2d_separable(x, kernel, kernel, border_type="reflect")
        pad = min(k // 2, x.shape[-1])
        wide = F.pad(x, (pad, pad, 0, 0), mode="circular")
        return filter2d_separable(wide, kernel, kernel, border_type="reflect")[..., pad : pad + x.shape[-1]]

    def resize(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Resample ``x`` ``(B, C, H, W)`` to ``size`` ``(h, w)`` (antialiased bilinear); wraps where ``wraps_x``."""
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        if not self.wraps_x:
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        # Resample a copy padded with the other edge's columns, then cut the padding off again, so
        # the filter sees across the seam. The padding is a whole number of pixels at both sizes,
        # so the cut lands exactly on the unpadded grid.
        width, out_w = x.shape[-1], size[1]
        period = width // math.gcd(width, out_w)  # input pixels per whole number of output pixels
        margin = 2 * math.ceil(width / out_w) + 2  # the antialiasing filter's reach
        pad = min(width, period * math.ceil(margin / period))
        wide = F.pad(x, (pad, pad, 0, 0), mode="circular")
        out_pad = pad * out_w // width
        out = F.interpolate(wide, size=(size[0], out_w + 2 * out_pad), mode="bilinear", align_corners=False, antialias=True)
        return out[..., out_pad : out_pad + out_w]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@functools.lru_cache(maxsize=16)
def _gaussian_kernel(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    """kornia's Gaussian taps ``(1, size)``, made once per size, sigma, device and dtype: built from
    the Python sigma every call (as ``gaussian_blur2d`` does), they are a copy from the host and a
    read of it each step."""
    from kornia.filters import get_gaussian_kernel1d

    return get_gaussian_kernel1d(size, sigma, device=device, dtype=dtype)


FLAT = Projection()
