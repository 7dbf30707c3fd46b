"""How far a dream on one path (a GPU, a fast path) is from the same dream on another, measured
against how far the dream moved the picture at all: a bound in absolute pixels would pass a path
that dreams nothing wherever the dream itself moves the pixels less than the bound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

__all__ = ["COMPARED", "COSINE", "GAP", "detail_cosine", "detail_gap", "exact_float32", "flat_dream", "sparse_dream"]


def detail_gap(dreamed: Tensor, reference: Tensor, source: Tensor, *, where: Tensor | None = None) -> Tensor:
    """Per item ``(B,)``: mean ``|dreamed − reference|`` over mean ``|reference − source|`` (all
    ``(B, C, H, W)``; ``where``, bool ``(B or 1, 1, H, W)``, the pixels to compare, default all).
    0 for the same dream; 1 for a path that does not dream at all."""
    mask = torch.ones_like(source[:, :1], dtype=torch.bool) if where is None else where
    mask = mask.expand_as(source).float()
    apart = ((dreamed - reference).abs() * mask).flatten(1).sum(1)
    moved = ((reference - source).abs() * mask).flatten(1).sum(1)
    return apart / moved.clamp(min=1e-12)


def detail_cosine(dreamed: Tensor, reference: Tensor, source: Tensor) -> Tensor:
    """Per item ``(B,)``: the cosine between the two dreams' details (dream − source); 0 for a path
    that does not dream."""
    return torch.nn.functional.cosine_similarity((dreamed - source).flatten(1), (reference - source).flatten(1), dim=1)


# A dream short enough to be compared pixel by pixel across devices: the dream is chaotic (a 1e-6
# change of the source moved a 2-octave, 4-step dream's detail by 0.38 of itself on the CPU; at
# 1 step per octave by 0.0002, and a 1e-5 change by 0.04), so these run one step per octave.
COMPARED = dict(octaves=2, steps=1, base_width=64, seed=3, tile=512)
GAP = 0.2  # detail_gap below this on a path that computes the same dream (fp32)
COSINE = 0.6  # detail_cosine above this on a reduced-precision path (bf16 on the CPU: 0.77)


@contextmanager
def exact_float32() -> Iterator[None]:
    """TF32 off for convolutions and matmuls within the block (as it was after it): a comparison
    of float32 paths, not of TF32's 10-bit mantissa (which the chaos above would amplify)."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def flat_dream(model, **overrides) -> tuple[Tensor, Tensor]:
    """``(source, dream)`` on the CPU: a 128x96 photo dreamed at ``COMPARED`` (two octaves, 48x64 and
    96x128) by ``model`` on its device; ``overrides`` change the settings (to break it on purpose)."""
    from dreamvideo.config import DreamSettings
    from dreamvideo.dream import Dreamer, image_to_tensor, layer_energy

    from ..conftest import photo

    source = image_to_tensor(photo("astronaut", (128, 96)))
    dreamer = Dreamer(model, layer_energy("blocks.6"), DreamSettings(**{**COMPARED, **overrides}))
    return source, dreamer.dream(source.to(model.device), frame_index=3).cpu()


def sparse_dream(model, **overrides) -> tuple[Tensor, Tensor, Tensor]:
    """``(source, dream, weighted)`` on the CPU: a 256x128 panorama dreamed sparsely through its views
    (a 16x20 patch weighted, the rest 0) by ``model`` on its device, one step at a 96 px tile; the
    dream moves only the patch and its margin, so compare there (``weighted``)."""
    from dreamvideo.config import DreamSettings
    from dreamvideo.dream import Dreamer, image_to_tensor, objective_from_settings
    from dreamvideo.panorama.projection import EquirectViews

    from ..panorama.fields import panorama

    settings = DreamSettings(**{**dict(tile=96, steps=1, base_width=96, seed=3), **overrides})
    weight = torch.zeros(1, 1, 128, 256)
    weight[..., 56:72, 30:50] = 1.0
    source = image_to_tensor(panorama("workshop", 256))
    dreamer = Dreamer(model, objective_from_settings(settings, model), settings, projection=EquirectViews())
    device = model.device
    dream = dreamer.dream(source.to(device), frame_index=2, step_weight=weight.to(device), sparse=True)
    return source, dream.cpu(), weight > 0
