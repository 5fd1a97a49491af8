"""MobileNet V1, V2 and V3 (small and large) as 2-D backbones over the k PCA components.

The blocks are the published ones; only the stem stride and the number of stride-2 stages are
adapted to small patches (see docs/models.md): the ImageNet networks downsample 224×224 inputs
32×, which would reduce a 25×25 patch to a single pixel after the third stage. Here the stem has
stride 1 and exactly three stages keep stride 2 (25 → 13 → 7 → 4), at the same depths as the
ImageNet network's 2nd, 3rd and 4th/5th downsamplings, so every layer and channel count is kept.

- V1 (Howard et al. 2017): 3×3 depthwise + BN + ReLU, 1×1 pointwise + BN + ReLU.
- V2 (Sandler et al. 2018): inverted residual with linear bottleneck, ReLU6, expansion t,
  shortcut only when stride 1 and in == out; channels rounded to multiples of 8.
- V3 (Howard et al. 2019, Tables 1 and 2): bneck blocks with h-swish / ReLU, SE with
  hard-sigmoid gate and a bottleneck of a quarter of the expansion channels, where the tables
  place them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from hsi.models import PatchClassifier, check_dropout, check_width, register
from hsi.models import init as inits
from hsi.models.attention import SqueezeExcitation

__all__ = [
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "PooledBackbone",
    "make_divisible",
]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never going more than 10% below it.

    The rounding rule of the MobileNet reference code (``_make_divisible``).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    *,
    groups: int = 1,
    activation: Callable[[], nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias, 'same' padding) → BN → activation (none when ``activation`` is None)."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class PooledBackbone(PatchClassifier):
    """Shared forward of the 2-D backbones: features → global average pool → classifier.

    Weights and inputs are channels-last: on CPU the depthwise and 1×1 convolutions run
    faster in that layout (docs/benchmarks.md); the results are the same up to float rounding.
    """

    features: nn.Sequential
    classifier: nn.Sequential
    channels_last = True

    def __init__(
        self, n_components: int, patch: int, n_classes: int, *, width: float, dropout: float
    ) -> None:
        super().__init__(n_components, patch, n_classes)
        #: the width multiplier and classifier dropout, checked once for every family
        self.width = check_width(width, self._name())
        self.dropout_rate = check_dropout(dropout, self._name())

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# ---- V1 -----------------------------------------------------------------------------------------

# (output channels, stride) of the 13 depthwise-separable layers. ImageNet strides are
# 1,2,1,2,1,2,1,1,1,1,1,2,1 after a stride-2 stem; the last stride-2 (to 1024) is dropped here.
_V1_LAYERS = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 1),
    (1024, 1),
]


@register("mobilenet_v1")
class MobileNetV1(PooledBackbone):
    """MobileNet V1: a stem conv and 13 depthwise-separable convolutions."""

    reference_init = "tf_slim"

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        width: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(n_components, patch, n_classes, width=width, dropout=dropout)
        width, dropout = self.width, self.dropout_rate
        channels = make_divisible(32 * width)
        layers: list[nn.Module] = [conv_bn_act(self.n_components, channels, 3, stride=1)]
        for out, stride in _V1_LAYERS:
            out = make_divisible(out * width)
            layers.append(
                nn.Sequential(
                    conv_bn_act(channels, channels, 3, stride, groups=channels),  # depthwise
                    conv_bn_act(channels, out, 1),  # pointwise
                )
            )
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, self.n_classes))

    def init_reference(self) -> None:
        inits.tf_slim(self)


# ---- V2 -----------------------------------------------------------------------------------------


class InvertedResidual(nn.Module):
    """V2 block: 1×1 expand + ReLU6 → 3×3 depthwise + ReLU6 → 1×1 linear projection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expansion))
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            # linear bottleneck: no activation after the projection
            conv_bn_act(hidden, out_channels, 1, activation=None),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.use_shortcut else self.block(x)


# (expansion t, channels c, repeats n, stride s) of Sandler et al. Table 2. ImageNet strides are
# 1,2,2,2,1,2,1 after a stride-2 stem; the 24-channel stage keeps stride 1 here.
_V2_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


@register("mobilenet_v2")
class MobileNetV2(PooledBackbone):
    """MobileNet V2: stem conv, 17 inverted residual blocks, 1×1 conv to 1280, classifier."""

    reference_init = "torchvision"

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        width: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(n_components, patch, n_classes, width=width, dropout=dropout)
        width, dropout = self.width, self.dropout_rate
        channels = make_divisible(32 * width)
        # as in the reference code the last layer never narrows below 1280
        last = make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [conv_bn_act(self.n_components, channels, 3, activation=nn.ReLU6)]
        for t, c, n, s in _V2_STAGES:
            out = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        layers.append(conv_bn_act(channels, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, self.n_classes))

    def init_reference(self) -> None:
        inits.torchvision(self)


# ---- V3 -----------------------------------------------------------------------------------------


class Bneck(nn.Module):
    """V3 block: 1×1 expand → k×k depthwise → (SE) → 1×1 linear projection, with shortcut."""

    def __init__(
        self,
        in_channels: int,
        kernel_size: int,
        expanded: int,
        out_channels: int,
        use_se: bool,
        activation: Callable[[], nn.Module],
        stride: int,
    ) -> None:
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expanded != in_channels:  # the first block's "expansion" 16 → 16 is no layer at all
            layers.append(conv_bn_act(in_channels, expanded, 1, activation=activation))
        layers.append(
            conv_bn_act(
                expanded, expanded, kernel_size, stride, groups=expanded, activation=activation
            )
        )
        if use_se:
            layers.append(
                SqueezeExcitation(
                    expanded, hidden=make_divisible(expanded // 4), gate="hard_sigmoid"
                )
            )
        layers.append(conv_bn_act(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.use_shortcut else self.block(x)


_RE, _HS = nn.ReLU, nn.Hardswish

# (kernel, expansion, out, SE, activation, stride) of Howard et al. 2019 Table 1 (large) and
# Table 2 (small). ImageNet: stride-2 stem and four stride-2 bnecks; here the stem and the first
# stride-2 bneck have stride 1.
_V3_LARGE = [
    (3, 16, 16, False, _RE, 1),
    (3, 64, 24, False, _RE, 1),  # ImageNet: stride 2
    (3, 72, 24, False, _RE, 1),
    (5, 72, 40, True, _RE, 2),
    (5, 120, 40, True, _RE, 1),
    (5, 120, 40, True, _RE, 1),
    (3, 240, 80, False, _HS, 2),
    (3, 200, 80, False, _HS, 1),
    (3, 184, 80, False, _HS, 1),
    (3, 184, 80, False, _HS, 1),
    (3, 480, 112, True, _HS, 1),
    (3, 672, 112, True, _HS, 1),
    (5, 672, 160, True, _HS, 2),
    (5, 960, 160, True, _HS, 1),
    (5, 960, 160, True, _HS, 1),
]
_V3_SMALL = [
    (3, 16, 16, True, _RE, 1),  # ImageNet: stride 2
    (3, 72, 24, False, _RE, 2),
    (3, 88, 24, False, _RE, 1),
    (5, 96, 40, True, _HS, 2),
    (5, 240, 40, True, _HS, 1),
    (5, 240, 40, True, _HS, 1),
    (5, 120, 48, True, _HS, 1),
    (5, 144, 48, True, _HS, 1),
    (5, 288, 96, True, _HS, 2),
    (5, 576, 96, True, _HS, 1),
    (5, 576, 96, True, _HS, 1),
]


class _MobileNetV3(PooledBackbone):
    reference_init = "torchvision"
    _config: list[tuple[int, int, int, bool, Callable[[], nn.Module], int]]
    _last_conv: int  # the 1×1 conv after the bnecks (6× the last bneck's output)
    _last_conv_se: bool  # Table 2 puts an SE on it in the small model
    _head: int  # the NBN 1×1 conv (a Linear on the pooled vector) before the classifier

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        width: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(n_components, patch, n_classes, width=width, dropout=dropout)
        width, dropout = self.width, self.dropout_rate
        channels = make_divisible(16 * width)
        layers: list[nn.Module] = [conv_bn_act(self.n_components, channels, 3, activation=_HS)]
        for kernel, expanded, out, use_se, act, stride in self._config:
            out = make_divisible(out * width)
            layers.append(
                Bneck(channels, kernel, make_divisible(expanded * width), out, use_se, act, stride)
            )
            channels = out
        last = make_divisible(self._last_conv * width)
        layers.append(conv_bn_act(channels, last, 1, activation=_HS))
        if self._last_conv_se:
            layers.append(
                SqueezeExcitation(last, hidden=make_divisible(last // 4), gate="hard_sigmoid")
            )
        self.features = nn.Sequential(*layers)
        head = make_divisible(self._head * width)
        self.classifier = nn.Sequential(
            nn.Linear(last, head),
            _HS(),
            nn.Dropout(dropout),
            nn.Linear(head, self.n_classes),
        )

    def init_reference(self) -> None:
        inits.torchvision(self)


@register("mobilenet_v3_large")
class MobileNetV3Large(_MobileNetV3):
    """MobileNet V3-Large (Howard et al. 2019, Table 1)."""

    _config = _V3_LARGE
    _last_conv = 960
    _last_conv_se = False
    _head = 1280


@register("mobilenet_v3_small")
class MobileNetV3Small(_MobileNetV3):
    """MobileNet V3-Small (Howard et al. 2019, Table 2)."""

    _config = _V3_SMALL
    _last_conv = 576
    _last_conv_se = True
    _head = 1024
