"""What the dream maximises: small composable objectives.

Sign convention: an objective's value is *maximised* by gradient ascent; a
larger value means a stronger dream. ``a + b``, ``a - b``, ``2.0 * a`` and
``-a`` combine objectives; the layers they need are the union of both.

An objective is called with ``acts``, a dict from layer name to activation
``(B, C, h, w)``, plus the key ``"logits"`` ``(B, classes)`` when
``uses_logits`` is true.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..config import parse_channels, parse_layers
from ..errors import ConfigError
from ..models.registry import imagenet_class

__all__ = [
    "Objective",
    "channel_energy",
    "class_logit",
    "guide_match",
    "layer_energy",
    "objective_from_settings",
    "settings_layers",
]

LOGITS = "logits"


class Objective:
    """A scalar to maximise, computed from named activations.

    Args:
        fn: maps ``acts`` (layer name → tensor) to a scalar tensor.
        layers: the layer names ``fn`` reads.
        name: a readable description, e.g. ``"energy(blocks.10)"``.
        uses_logits: whether ``fn`` reads ``acts["logits"]``.
    """

    def __init__(
        self,
        fn: Callable[[dict[str, Tensor]], Tensor],
        *,
        layers: Sequence[str],
        name: str,
        uses_logits: bool = False,
    ) -> None:
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))
        self.name = name
        self.uses_logits = uses_logits

    def __call__(self, acts: dict[str, Tensor]) -> Tensor:
        return self.fn(acts)

    def __add__(self, other: Objective) -> Objective:
        return Objective(
            lambda acts: self(acts) + other(acts),
            layers=self.layers + other.layers,
            name=f"{self.name} + {other.name}",
            uses_logits=self.uses_logits or other.uses_logits,
        )

    def __neg__(self) -> Objective:
        return -1.0 * self

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)

    def __mul__(self, scale: float) -> Objective:
        if not isinstance(scale, (int, float)):
            return NotImplemented
        return Objective(
            lambda acts: scale * self(acts),
            layers=self.layers,
            name=f"{scale:g}*{self.name}",
            uses_logits=self.uses_logits,
        )

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def layer_energy(layer: str) -> Objective:
    """Mean squared activation of ``layer``: the classic DeepDream objective."""
    return Objective(lambda acts: acts[layer].pow(2).mean(), layers=[layer], name=f"energy({layer})")


def channel_energy(layer: str, channels: Sequence[int]) -> Objective:
    """Mean squared activation of the chosen ``channels`` of ``layer``.

    Raises:
        ConfigError: (when evaluated) if a channel index exceeds the layer's width.
    """
    index = list(channels)

    def fn(acts: dict[str, Tensor]) -> Tensor:
        act = acts[layer]
        if max(index) >= act.shape[1]:
            raise ConfigError(
                f"channel {max(index)} is out of range for layer {layer!r}",
                hint=f"it has channels 0-{act.shape[1] - 1}",
            )
        return act[:, index].pow(2).mean()

    return Objective(fn, layers=[layer], name=f"energy({layer}[{_short(index)}])")


def guide_match(layer: str, guide_features: Tensor) -> Objective:
    """Move ``layer``'s features towards a guide image's (the original notebook's guide).

    Each feature vector is pushed towards the guide feature it best matches
    (largest dot product), so the dream borrows the guide's motifs.

    Args:
        layer: the layer both are read at.
        guide_features: the guide's activation at ``layer``, ``(1, C, h, w)``.
    """
    guide = guide_features.detach().flatten(2)[0]  # (C, N)

    def fn(acts: dict[str, Tensor]) -> Tensor:
        x = acts[layer].flatten(2)  # (B, C, M)
        with torch.no_grad():
            best = torch.einsum("bcm,cn->bmn", x, guide).argmax(dim=2)  # (B, M)
        matched = guide[:, best].permute(1, 0, 2)  # (B, C, M)
        return (x * matched).sum(dim=1).mean()

    return Objective(fn, layers=[layer], name=f"guide({layer})")


def class_logit(index: int) -> Objective:
    """The logit of ImageNet class ``index`` (models with a classifier only)."""

    def fn(acts: dict[str, Tensor]) -> Tensor:
        logits = acts[LOGITS]
        if index >= logits.shape[1]:
            raise ConfigError(f"class {index} is out of range: the model has {logits.shape[1]} classes")
        return logits[:, index].mean()

    return Objective(fn, layers=[], name=f"logit({index})", uses_logits=True)


def settings_layers(settings, model) -> tuple[tuple[str, float], ...]:
    """The ``(name, weight)`` layers a DreamSettings dreams: ``--layers``, else the model's default
    layer; none for a class logit."""
    if settings.logit is not None:
        return ()
    return parse_layers(settings.layers) if settings.layers else ((model.default_layer, 1.0),)


def objective_from_settings(settings, model, *, guide_image: Tensor | None = None) -> Objective:
    """Build the objective a DreamSettings asks for.

    Args:
        settings: a ``DreamSettings``.
        model: the loaded ``DreamModel`` (for its default layer and the guide's features).
        guide_image: ``(1, 3, H, W)`` in [0, 1] on the model's device, when ``settings.guide`` is set.

    Raises:
        ModelError: an unknown layer (from ``model.check_layers``).
    """
    if settings.logit is not None:
        return class_logit(imagenet_class(settings.logit))
    layers = settings_layers(settings, model)
    model.check_layers([name for name, _ in layers])
    channels = parse_channels(settings.channels) if settings.channels else None
    guide_feats = {}
    if guide_image is not None:
        with torch.no_grad():
            guide_feats = model.activations(guide_image, [name for name, _ in layers])
    total: Objective | None = None
    for name, weight in layers:
        if guide_image is not None:
            term = guide_match(name, guide_feats[name])
        elif channels is not None:
            term = channel_energy(name, channels)
        else:
            term = layer_energy(name)
        term = term if weight == 1.0 else weight * term
        total = term if total is None else total + term
    assert total is not None
    return total


def _short(index: list[int]) -> str:
    return ",".join(map(str, index[:6])) + (",…" if len(index) > 6 else "")
