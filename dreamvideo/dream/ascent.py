"""Google-style DeepDream: gradient ascent over an octave pyramid, with jitter and tiles.

Images here are ``float32 (1, 3, H, W)`` tensors in [0, 1] on the model's device.
Only the dreamed detail (dream − base) is carried from one octave up to the
next, so each octave re-reads the sharp base image at its own size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import Tensor

from ..config import DreamSettings, parse_fast
from ..errors import ConfigError
from .objectives import LOGITS, Objective
from .projection import FLAT, Projection

__all__ = [
    "NEED_WEIGHT",
    "Dreamer",
    "channels_last",
    "frame_rng",
    "image_to_tensor",
    "octave_sizes",
    "resolve_device",
    "tensor_to_image",
    "tile_grid",
]

# A sparse dream (``Dreamer.dream(..., sparse=True)``) leaves pixels whose step weight is at most
# NEED_WEIGHT as they are (a step would move them by at most 1 % of one) and computes no tile or
# view that sees none of the others; it keeps _NEED_MARGIN pixels of context around those, as far
# as the gradient's blur and a view's bilinear sampling reach.
NEED_WEIGHT = 0.01
_NEED_MARGIN = 8


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
    """Host image ``(H, W, 3)`` (uint8, or float in [0, 1]) → ``float32 (1, 3, H, W)`` in [0, 1].

    To CUDA the samples go as they are (a quarter of the bytes for uint8), through pinned
    memory without blocking the host, and are converted there.
    """
    if torch.device(device).type == "cuda":
        tensor = torch.from_numpy(np.ascontiguousarray(image)).pin_memory().to(device, non_blocking=True)
        tensor = tensor.permute(2, 0, 1)[None].float()
        return tensor / 255.0 if image.dtype == np.uint8 else tensor
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


def channels_last(fast: frozenset[str], device: torch.device) -> bool:
    """Whether the network runs on channels-last tensors: when asked (``--fast channels-last``),
    and always on the CPU, where oneDNN's kernels are faster so: one Lite0 step took 8.0 vs 9.0 ms
    at 64x64, 22.5 vs 27.3 ms at 224x126, 130 vs 157-174 ms at 512x512 and 0.86 vs 0.99-1.17 s
    at 1280x720 (2-core CPU; the same dream within 2e-4)."""
    return "channels-last" in fast or device.type == "cpu"


def octave_sizes(
    height: int,
    width: int,
    *,
    scale: float,
    octaves: int | None = None,
    base_width: int | None = None,
    min_side: int = 32,
) -> list[tuple[int, int]]:
    """Pyramid sizes ``(h, w)``, smallest first, ending at the full size (or the base size, see below).

    Anchored to the picture (``base_width`` given): the smallest octave is
    ``base_width`` wide whatever the frame size and each octave is ``scale`` times
    the one below, up to the frame (an octave within half a step of the frame is
    left out: the frame itself takes its place). A frame narrower than the base
    is dreamed at the base width only (its detail is then resized to the frame),
    so a small preview shows the large structures of a full-size dream.
    ``octaves`` then keeps only that many of the finest.

    Anchored to the pixels (``base_width`` None, the classic pyramid):
    ``octaves`` levels (default 4), each ``scale`` times smaller than the one above.

    Octaves whose shorter side would fall below ``min_side`` (the smallest input
    the network accepts) are dropped, except the full size.
    """
    if base_width is None:
        factors = [scale**i for i in range(4 if octaves is None else octaves)]
    else:
        widths, w = [], float(base_width)
        while w < width * (1 - 1e-6):
            widths.append(w)
            w *= scale
        if widths and width / widths[-1] < 1 + (scale - 1) / 2:
            widths.pop()  # within half a step of the frame: the frame takes its place
        factors = [1.0] + [width / w for w in reversed(widths)]
        if width < base_width / (1 + (scale - 1) / 2):
            factors = [width / base_width]  # a small frame is dreamed at the base width, then made small
        if octaves is not None:
            factors = factors[:octaves]
    sizes = []
    for i, factor in enumerate(factors):
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


def _mean_abs(grad: Tensor, need: Tensor | None) -> Tensor:
    """Mean ``|grad|`` per item, ``(B, 1, 1, 1)``: over every pixel, or over those in ``need``."""
    if need is None:
        return grad.abs().mean(dim=(1, 2, 3), keepdim=True)
    total = (grad.abs() * need).sum(dim=(1, 2, 3), keepdim=True)
    return total / (need.sum(dim=(1, 2, 3), keepdim=True) * grad.shape[1]).clamp(min=1)


@contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on within the block when ``on``, as it was after it."""
    if not on:
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _feather(length: int, overlap: int, device: torch.device) -> Tensor:
    """1-D blending window: ramps up over ``overlap`` pixels at both ends, never 0."""
    i = torch.arange(length, device=device, dtype=torch.float32)
    ramp = torch.minimum(i + 1, length - i) / (overlap + 1)
    return ramp.clamp(max=1.0)


class Dreamer:
    """Gradient ascent of one objective on a batch of images, octave by octave.

    Images are ``float32 (B, 3, H, W)`` in [0, 1]: tiles of one frame, views of a
    panorama, the eyes of a stereo frame, or independent frames. Each item's
    gradient is normalised on its own, so a batch dreams every item as if alone.

    Args:
        model: a loaded ``DreamModel``.
        objective: what to maximise (see ``objectives``).
        settings: pyramid, steps, step size, strength, jitter, smoothing, tile size, seed.
        grey: keep a grey image grey (the gradient is averaged over the colour channels).
        projection: what the picture is (``FLAT``, or a panorama's projection); it decides
            what the network sees and how edges behave when rolling, blurring and resizing.
    """

    MAX_BATCH = 8  # items (tiles, views) per forward pass: bounds memory on large frames
    # On the CPU a batch is no faster than its items one by one, and 8 tiles of 512² through
    # the network took the peak RSS of a 1280x720 dream to 3.3 GB: at most this many there.
    CPU_MAX_BATCH = 2
    # A pass holds at most that many items of PASS_PIXELS each: larger ones go fewer at a time,
    # so a pass never needs more memory than eight (two on the CPU) 512² tiles.
    PASS_PIXELS = 512 * 512
    # --tile's default: CPU_TILE on the CPU (its memory, above), CUDA_TILE on CUDA, where tiling
    # only costs work: quarter-overlap tiles of 512 put 1.9x a 1080p frame's pixels through the
    # network, and 2.1x the views of a 3840x1920 panorama (views 1459 px at the top octave).
    CPU_TILE = 512
    CUDA_TILE = 1536

    def __init__(
        self,
        model,
        objective: Objective,
        settings: DreamSettings,
        *,
        grey: bool = False,
        projection: Projection = FLAT,
    ) -> None:
        self.model = model
        self.objective = objective
        self.settings = settings
        self.grey = grey
        self.projection = projection
        self.device = model.device
        self._fast = parse_fast(settings.fast) if settings.fast else frozenset()
        self._autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
            next((p for p in ("bf16", "fp16") if p in self._fast), ""), None
        )
        self._memory_format = torch.channels_last if channels_last(self._fast, self.device) else torch.contiguous_format
        self._compile = "compile" in self._fast
        # --fast cudnn: the shapes are fixed within a clip, so cuDNN may time its kernels once per
        # shape; switched on around this Dreamer's passes only, never for the rest of the process.
        self._cudnn_benchmark = "cudnn" in self._fast and self.device.type == "cuda"
        self.tile = settings.tile or (self.CUDA_TILE if self.device.type == "cuda" else self.CPU_TILE)
        # Told after every step of a dream (steps done, steps in the dream): progress inside a
        # frame, for frames that take minutes (a large panorama). Set with ``reporting_steps``.
        self.on_step: Callable[[int, int], None] | None = None

    @contextmanager
    def reporting_steps(self, on_step: Callable[[int, int], None]) -> Iterator[None]:
        """Call ``on_step(done, total)`` after each ascent step of every dream in the block."""
        before, self.on_step = self.on_step, on_step
        try:
            yield
        finally:
            self.on_step = before

    @property
    def streams_per_item(self) -> bool:
        """Whether ``dream`` can give each item of a batch its own random stream (``frame_index``
        a sequence): on the flat projection only, since a panorama's views turn with one stream."""
        return self.projection.name == "flat"

    def octave_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The pyramid for a ``height`` × ``width`` picture, smallest first (see ``octave_sizes``)."""
        s = self.settings
        return octave_sizes(
            height,
            width,
            scale=s.octave_scale,
            octaves=s.octaves,
            base_width=s.base_width if s.pyramid == "anchored" else None,
            min_side=self.model.spec.min_size,
        )

    def scaled_steps(self, steps: int) -> int:
        """``steps`` under ``--strength``: times sqrt(strength), rounded, at least 1 (0 at strength 0)."""
        strength = self.settings.strength
        if strength <= 0 or steps <= 0:
            return 0
        return max(1, round(steps * math.sqrt(strength)))

    def dream(
        self,
        image: Tensor,
        *,
        steps: int | None = None,
        frame_index: int | Sequence[int] = 0,
        rng: np.random.Generator | None = None,
        step_weight: Tensor | None = None,
        sparse: bool = False,
    ) -> Tensor:
        """Dream ``image`` ``(B, 3, H, W)`` in [0, 1]; returns the same shape.

        Args:
            steps: steps per octave before ``--strength`` (default ``settings.steps``);
                0 returns the image.
            frame_index: with ``settings.seed``, picks the random stream (jitter, views). A
                sequence gives each item its own (independent frames dreamed as one batch): each
                then dreams as it would alone with its index. Only the flat projection's random
                stream is per item: a panorama's views turn with the one stream of its frame.
            rng: a random stream to use instead (e.g. shared by the eyes of a stereo frame).
            step_weight: ``(B or 1, 1, H, W)``, each pixel's share of every step (0: it stays as
                it is, 1: a full step), resized with each octave; None for 1 everywhere.
            sparse: with ``step_weight``, compute only the tiles and views that see pixels
                weighing more than ``NEED_WEIGHT`` (see :meth:`needed`), and normalise each step
                over those pixels: for a few pixels to dream in a large frame that cannot be
                cropped (a panorama's views see the whole sphere).
        """
        s = self.settings
        steps = self.scaled_steps(s.steps if steps is None else steps)
        if steps == 0:
            return image
        if rng is None and isinstance(frame_index, Sequence):
            if len(frame_index) != image.shape[0]:
                raise ValueError(f"{len(frame_index)} frame indices for a batch of {image.shape[0]}")
            if not self.streams_per_item:
                raise ValueError("a random stream per item needs the flat projection")
            rng = [frame_rng(s.seed, i) for i in frame_index]
        elif rng is None:
            rng = frame_rng(s.seed, frame_index)
        height, width = image.shape[-2:]
        detail = None
        sizes = self.octave_sizes(height, width)
        done, total = 0, steps * len(sizes)
        for size in sizes:
            base = self.projection.resize(image, size)
            detail = torch.zeros_like(base) if detail is None else self.projection.resize(detail, size)
            x = (base + detail).clamp(0, 1)
            weight = None if step_weight is None else self.projection.resize(step_weight, size)
            need = self.needed(weight) if sparse and weight is not None else None
            for _ in range(steps):
                x = self.step(x, rng, width=width, weight=weight, need=need)
                done += 1
                if self.on_step is not None:
                    self.on_step(done, total)
            detail = x - base
        return (image + self.projection.resize(detail, (height, width))).clamp(0, 1)

    def step(
        self,
        x: Tensor,
        rng: np.random.Generator | list[np.random.Generator],
        *,
        width: int | None = None,
        weight: Tensor | None = None,
        need: Tensor | None = None,
    ) -> Tensor:
        """One ascent step on ``x`` ``(B, 3, h, w)``: jitter, gradient, normalise per item, move, clamp.

        ``rng`` is the frame's random stream, or one per item (each item jittered on its own).
        ``width`` is the full frame's width, so an anchored jitter can scale with the octave.
        ``weight`` ``(B or 1, 1, h, w)`` scales the move per pixel (see ``dream``'s ``step_weight``).
        ``need`` (from :meth:`needed`, bool ``(B or 1, 1, h, w)``): the gradient is computed only
        for the tiles and views that see these pixels, and normalised over them; None: everywhere.
        """
        s = self.settings
        jitter = s.jitter_px
        if s.pyramid == "anchored":
            jitter = round(jitter * x.shape[-1] / s.base_width)
        # A roll of more than a quarter of a small octave would tear it apart rather than jitter it.
        jitter = min(jitter, min(x.shape[-2:]) // 4)
        rngs = rng if isinstance(rng, list) else [rng]
        shifts = [self.projection.jitter(r, jitter) for r in rngs]
        rolled = self._roll(x, shifts)
        if need is not None:
            need = need.expand(x.shape[0], -1, -1, -1)
        rolled_need = None if need is None else self._roll(need, shifts)
        grad = self.projection.gradient(rolled, self.gradient, rngs[0], need=rolled_need)
        grad = self._roll(grad, [(-dy, -dx) for dy, dx in shifts])
        if s.smoothing > 0:
            grad = self.projection.blur(grad, s.smoothing)
        if self.grey:
            grad = grad.mean(dim=1, keepdim=True).expand_as(grad)
        grad = grad / (_mean_abs(grad, need) + 1e-12)
        if weight is not None:
            grad = grad * weight
        return (x + s.step_size * math.sqrt(s.strength) * grad).clamp(0, 1)

    def _roll(self, x: Tensor, shifts: list[tuple[int, int]]) -> Tensor:
        """``x`` rolled by one ``(dy, dx)`` for the whole batch, or one per item."""
        if len(shifts) == 1:
            return self.projection.roll(x, *shifts[0])
        return torch.cat([self.projection.roll(item[None], dy, dx) for item, (dy, dx) in zip(x, shifts)])

    def needed(self, weight: Tensor) -> Tensor | None:
        """The pixels a step weighted by ``weight`` ``(B or 1, 1, h, w)`` must dream: bool, same
        shape: those weighing more than ``NEED_WEIGHT``, and ``_NEED_MARGIN`` pixels around them
        (spread by the projection's blur, so across the seam and along the polar rows where it
        wraps and widens); None when that is every pixel. Reads one flag back from the device."""
        mask = weight > NEED_WEIGHT
        if bool(mask.all()):
            return None
        return self.projection.blur(mask.to(weight.dtype), _NEED_MARGIN / 3) > 0

    def gradient(self, x: Tensor, need: Tensor | None = None) -> Tensor:
        """d objective / d x for ``x`` ``(B, 3, H, W)``, each item on its own.

        Items larger than ``--tile`` are cut into overlapping tiles whose gradients are
        blended with a feathered window; tiles go through the network in batches. With
        ``need`` (bool ``(B, 1, H, W)``) an item or tile with none of its pixels is skipped and
        its gradient is 0 (choosing them reads the flags back from the device).
        """
        height, width = x.shape[-2:]
        tile = self.tile
        if height <= tile and width <= tile:
            if need is None:
                return self._batched_gradient(x)
            grad = torch.zeros_like(x)
            items = need.flatten(1).any(dim=1).nonzero()[:, 0]
            if len(items):
                grad[items] = self._batched_gradient(x[items])
            return grad
        overlap = tile // 4
        th, tw = min(tile, height), min(tile, width)
        corners = [(y0, x0) for y0 in tile_grid(height, th, overlap) for x0 in tile_grid(width, tw, overlap)]
        if need is None:  # every item at every corner
            chosen: list[tuple[tuple[int, int], slice | Tensor]] = [(corner, slice(None)) for corner in corners]
            counts = [x.shape[0]] * len(corners)
        else:  # the items that have a needed pixel in the tile, at each corner
            wanted = torch.stack([need[..., y0 : y0 + th, x0 : x0 + tw].flatten(1).any(dim=1) for y0, x0 in corners])
            # (corner, item) pairs, corner-major: the one read back, their number; the items index
            # on the device, as slices of it.
            pairs = wanted.nonzero()
            per_corner = np.bincount(pairs[:, 0].cpu().numpy(), minlength=len(corners)).tolist()
            starts = np.cumsum([0] + per_corner)
            chosen = [
                (corner, pairs[start : start + n, 1]) for corner, start, n in zip(corners, starts, per_corner) if n
            ]
            counts = [n for n in per_corner if n]
        grad = torch.zeros_like(x)
        if not chosen:
            return grad
        tiles = torch.cat([x[items, :, y0 : y0 + th, x0 : x0 + tw] for (y0, x0), items in chosen])
        tile_grads = self._batched_gradient(tiles).split(counts)
        weight = torch.zeros((1 if need is None else x.shape[0], 1, height, width), device=x.device)
        window = _feather(th, overlap, x.device)[:, None] * _feather(tw, overlap, x.device)[None, :]
        for ((y0, x0), items), g in zip(chosen, tile_grads):
            grad[items, :, y0 : y0 + th, x0 : x0 + tw] += g * window
            weight[items, :, y0 : y0 + th, x0 : x0 + tw] += window
        return grad / weight.clamp(min=1e-12)  # 0 where no tile was computed

    def _batched_gradient(self, x: Tensor) -> Tensor:
        """The gradient of each item of ``x`` ``(N, 3, h, w)`` on its own, ``MAX_BATCH`` items per
        pass (``CPU_MAX_BATCH`` on the CPU), fewer where they are larger than 512² (``PASS_PIXELS``).

        The objective's value is summed over the items of a pass, so each item's gradient
        is that of its own objective (the objectives mean over one item's activations).
        """
        items = self.MAX_BATCH if self.device.type != "cpu" else self.CPU_MAX_BATCH
        per_pass = max(1, min(items, items * self.PASS_PIXELS // (x.shape[-2] * x.shape[-1])))
        grads = []
        with _cudnn_benchmark(self._cudnn_benchmark):
            for chunk in x.split(per_pass):
                chunk = chunk.detach().contiguous(memory_format=self._memory_format).requires_grad_(True)
                with torch.enable_grad():
                    with torch.autocast(self.device.type, dtype=self._autocast) if self._autocast else nullcontext():
                        value = self._per_item_values(chunk).sum()
                    (grad,) = torch.autograd.grad(value.float(), chunk)
                grads.append(grad.contiguous())
        return torch.cat(grads)

    def _per_item_values(self, x: Tensor) -> Tensor:
        """The objective of each item of ``x`` ``(N, 3, h, w)``: ``(N,)``."""
        if x.shape[0] == 1:
            return self.objective(self._activations(x)).reshape(1)
        acts = self._activations(x)
        return torch.stack([self.objective({k: v[i : i + 1] for k, v in acts.items()}) for i in range(x.shape[0])])

    def value(self, image: Tensor) -> float:
        """The objective on ``image`` ``(1, 3, H, W)``, without gradients, as the dream sees it.

        Measured on what the network sees through the projection (a panorama's views:
        the equirect pixels themselves are not what the dream raises), each seen item on
        the same tiles the dream uses, averaged with the tiles' pixel counts, so a large
        frame never needs more memory to measure than to dream.
        """
        with torch.no_grad():
            seen = self.projection.seen(image)
            return sum(self._tiled_value(item[None]) for item in seen) / seen.shape[0]

    def _tiled_value(self, x: Tensor) -> float:
        """The objective on one item ``x`` ``(1, 3, h, w)``: the mean over its ``--tile`` tiles."""
        height, width = x.shape[-2:]
        tile = self.tile
        if height <= tile and width <= tile:
            return float(self.objective(self._activations(x)))
        overlap = tile // 4
        th, tw = min(tile, height), min(tile, width)
        corners = [(y0, x0) for y0 in tile_grid(height, th, overlap) for x0 in tile_grid(width, tw, overlap)]
        total = sum(float(self.objective(self._activations(x[..., y0 : y0 + th, x0 : x0 + tw]))) for y0, x0 in corners)
        return total / len(corners)

    def _activations(self, x: Tensor) -> dict[str, Tensor]:
        # Compiled for the steps only: measuring (no gradient) is rare and would compile again.
        compiled = self._compile and torch.is_grad_enabled()
        acts = self.model.activations(x, self.objective.layers, compiled=compiled) if self.objective.layers else {}
        if self.objective.uses_logits:
            acts[LOGITS] = self.model.logits(x)
        return acts
