"""Google-style DeepDream: gradient ascent over an octave pyramid, with jitter and tiles.

Images here are ``float32 (1, 3, H, W)`` tensors in [0, 1] on the model's device.
Only the dreamed detail (dream − base) is carried from one octave up to the
next, so each octave re-reads the sharp base image at its own size.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from ..config import DreamSettings
from ..errors import ConfigError
from .objectives import LOGITS, Objective

__all__ = [
    "Dreamer",
    "frame_rng",
    "image_to_tensor",
    "octave_sizes",
    "resolve_device",
    "tensor_to_image",
    "tile_grid",
]

def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto|cpu|cuda|mps`` to a device; ``auto`` picks cuda, then mps, then cpu.

    Raises:
        ConfigError: a device that this machine does not have.
    """
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available", hint="use --device auto or cpu")
    if name == "mps" and not has_mps:
        raise ConfigError("--device mps: no Apple GPU is available", hint="use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu, cuda or mps")
    return torch.device(name)


def image_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """Host image ``(H, W, 3)`` (uint8, or float in [0, 1]) → ``float32 (1, 3, H, W)`` in [0, 1]."""
    array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].to(device)


def tensor_to_image(tensor: Tensor, *, dtype: type = np.uint8) -> np.ndarray:
    """``(1, 3, H, W)`` in [0, 1] → host ``(H, W, 3)``: uint8 (rounded) or float32."""
    array = tensor.detach()[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()
    if dtype == np.uint8:
        return (array * 255.0 + 0.5).astype(np.uint8)
    return array.astype(dtype)


def frame_rng(seed: int, frame_index: int) -> np.random.Generator:
    """The random stream of one frame: a function of ``(seed, frame index)`` only."""
    return np.random.default_rng([seed, frame_index])


def octave_sizes(
    height: int, width: int, *, octaves: int, scale: float, min_side: int = 32
) -> list[tuple[int, int]]:
    """Pyramid sizes ``(h, w)``, smallest first, ending at the full size.

    Octaves whose shorter side would fall below ``min_side`` (the smallest input
    the network accepts) are dropped.
    """
    sizes = []
    for i in range(octaves):
        factor = scale**i
        h, w = round(height / factor), round(width / factor)
        if min(h, w) < min_side and i > 0:
            break
        sizes.append((h, w))
    return sizes[::-1]


def tile_grid(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of equal tiles of ``tile`` covering ``[0, length)`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _feather(length: int, overlap: int, device: torch.device) -> Tensor:
    """1-D blending window: ramps up over ``overlap`` pixels at both ends, never 0."""
    i = torch.arange(length, device=device, dtype=torch.float32)
    ramp = torch.minimum(i + 1, length - i) / (overlap + 1)
    return ramp.clamp(max=1.0)


class Dreamer:
    """Gradient ascent of one objective on images, octave by octave.

    Args:
        model: a loaded ``DreamModel``.
        objective: what to maximise (see ``objectives``).
        settings: octaves, steps, step size, jitter, smoothing, tile size, seed.
        grey: keep a grey image grey (the gradient is averaged over the colour channels).
    """

    def __init__(self, model, objective: Objective, settings: DreamSettings, *, grey: bool = False) -> None:
        self.model = model
        self.objective = objective
        self.settings = settings
        self.grey = grey
        self.device = model.device

    def dream(self, image: Tensor, *, steps: int | None = None, frame_index: int = 0) -> Tensor:
        """Dream ``image`` ``(1, 3, H, W)`` in [0, 1]; returns the same shape.

        Args:
            steps: steps per octave (default ``settings.steps``); 0 returns the image.
            frame_index: with ``settings.seed``, picks the jitter stream.
        """
        s = self.settings
        steps = s.steps if steps is None else steps
        if steps == 0:
            return image
        rng = frame_rng(s.seed, frame_index)
        height, width = image.shape[-2:]
        detail = None
        sizes = octave_sizes(height, width, octaves=s.octaves, scale=s.octave_scale, min_side=self.model.spec.min_size)
        for size in sizes:
            base = _resize(image, size)
            detail = torch.zeros_like(base) if detail is None else _resize(detail, size)
            x = (base + detail).clamp(0, 1)
            for _ in range(steps):
                x = self.step(x, rng)
            detail = x - base
        return (image + detail).clamp(0, 1)

    def step(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        """One ascent step on ``x`` ``(1, 3, H, W)``: jitter, gradient, normalise, move, clamp."""
        s = self.settings
        # A roll of more than a quarter of a small octave would tear it apart rather than jitter it.
        jitter = min(s.jitter, min(x.shape[-2:]) // 4)
        dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
        grad = self.gradient(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
        grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
        if s.smoothing > 0:
            k = 2 * math.ceil(3 * s.smoothing) + 1
            grad = gaussian_blur2d(grad, (k, k), (s.smoothing, s.smoothing), border_type="reflect")
        if self.grey:
            grad = grad.mean(dim=1, keepdim=True).expand_as(grad)
        grad = grad / (grad.abs().mean() + 1e-12)
        return (x + s.step_size * grad).clamp(0, 1)

    def gradient(self, x: Tensor) -> Tensor:
        """d objective / d x for ``x`` ``(1, 3, H, W)``, in overlapping feathered tiles when large."""
        height, width = x.shape[-2:]
        tile = self.settings.tile
        if height <= tile and width <= tile:
            return self._tile_gradient(x)
        overlap = tile // 4
        th, tw = min(tile, height), min(tile, width)
        grad = torch.zeros_like(x)
        weight = torch.zeros((1, 1, height, width), device=x.device)
        window = _feather(th, overlap, x.device)[:, None] * _feather(tw, overlap, x.device)[None, :]
        for y0 in tile_grid(height, th, overlap):
            for x0 in tile_grid(width, tw, overlap):
                g = self._tile_gradient(x[..., y0 : y0 + th, x0 : x0 + tw])
                grad[..., y0 : y0 + th, x0 : x0 + tw] += g * window
                weight[..., y0 : y0 + th, x0 : x0 + tw] += window
        return grad / weight

    def _tile_gradient(self, x: Tensor) -> Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            value = self.objective(self._activations(x))
            (grad,) = torch.autograd.grad(value, x)
        return grad

    def value(self, image: Tensor) -> float:
        """The objective on ``image`` ``(1, 3, H, W)`` in one piece, without gradients."""
        with torch.no_grad():
            return float(self.objective(self._activations(image)))

    def _activations(self, x: Tensor) -> dict[str, Tensor]:
        acts = self.model.activations(x, self.objective.layers) if self.objective.layers else {}
        if self.objective.uses_logits:
            acts[LOGITS] = self.model.logits(x)
        return acts


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
