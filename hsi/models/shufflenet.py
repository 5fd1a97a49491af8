"""ShuffleNet V1 (Zhang et al. 2018) and V2 (Ma et al. 2018) as 2-D backbones over PCA n_components.

As for the MobileNets, the blocks and stage layouts are the published ones and only the stem is
adapted to small patches: the ImageNet stem (3×3 stride-2 conv, then 3×3 stride-2 max-pool)
would shrink a 25×25 patch to 7×7 before the first stage, and the three stride-2 stages to 1×1.
Here the stem conv has stride 1 and no max-pool, so the stages see 25 → 13 → 7 → 4.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hsi.errors import ModelError
from hsi.models import init as inits
from hsi.models import register
from hsi.models.mobilenet import PooledBackbone, conv_bn_act

__all__ = ["ShuffleNetV1", "ShuffleNetV2", "channel_shuffle"]


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Permute the channels of (N, C, ...) from a (groups, C/groups) to a (C/groups, groups) grid.

    Output channel ``n·groups + g`` is input channel ``g·(C/groups) + n``: each group of the next
    grouped conv then sees one channel from every group of the previous one. Shuffling again
    with ``C // groups`` groups undoes it.
    """
    channels = x.shape[1]
    if groups < 1 or channels % groups:
        raise ModelError(f"cannot shuffle {channels} channels in {groups} groups")
    return (
        x.reshape(x.shape[0], groups, channels // groups, *x.shape[2:])
        .transpose(1, 2)
        .reshape(x.shape)
    )


# ---- V1 -----------------------------------------------------------------------------------------

# output channels of stages 2, 3, 4 for each group count (Zhang et al. Table 1)
_V1_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
_V1_REPEATS = (4, 8, 4)  # units per stage, the first of each with stride 2
_V1_STEM = 24


class ShuffleV1Unit(nn.Module):
    """1×1 group conv + BN + ReLU → shuffle → 3×3 depthwise (stride) + BN → 1×1 group conv + BN.

    Stride 1: add the input, then ReLU. Stride 2: concatenate a 3×3 stride-2 average pool of the
    input, then ReLU (the branch produces ``out − in`` channels so the concatenation has ``out``).
    """

    def __init__(
        self, in_channels: int, out_channels: int, groups: int, stride: int, first_grouped: bool
    ) -> None:
        super().__init__()
        self.stride = stride
        self.groups = groups
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        mid = out_channels // 4
        # The very first unit sees only the 24 stem channels: the paper leaves its first
        # pointwise conv ungrouped.
        self.first_groups = groups if first_grouped else 1
        self.compress = conv_bn_act(in_channels, mid, 1, groups=self.first_groups)
        self.depthwise = conv_bn_act(mid, mid, 3, stride, groups=mid, activation=None)
        self.expand = conv_bn_act(mid, branch_out, 1, groups=groups, activation=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.compress(x)
        if self.first_groups > 1:
            h = channel_shuffle(h, self.first_groups)
        h = self.expand(self.depthwise(h))
        if self.shortcut is None:
            return torch.relu(x + h)
        return torch.relu(torch.cat([self.shortcut(x), h], dim=1))


def _v1_channels(groups: int, width: float) -> tuple[int, ...]:
    # Stage widths scale with the "ShuffleNet s×" multiplier; a multiple of 4·groups keeps the
    # bottleneck (out/4) divisible by the group count.
    unit = 4 * groups
    return tuple(max(unit, round(c * width / unit) * unit) for c in _V1_CHANNELS[groups])


@register("shufflenet_v1")
class ShuffleNetV1(PooledBackbone):
    """ShuffleNet V1 with ``groups`` ∈ {1, 2, 3, 4, 8} and width multiplier ``width`` (s×)."""

    reference_init = "megvii"

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        groups: int = 3,
        width: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(n_components, patch, n_classes, width=width, dropout=dropout)
        width, dropout = self.width, self.dropout_rate
        if isinstance(groups, bool) or groups not in _V1_CHANNELS:
            raise ModelError(f"{self._name()}: groups must be one of 1, 2, 3, 4, 8, got {groups!r}")
        layers: list[nn.Module] = [conv_bn_act(self.n_components, _V1_STEM, 3)]
        channels = _V1_STEM
        for stage, (out, repeats) in enumerate(
            zip(_v1_channels(groups, width), _V1_REPEATS, strict=True)
        ):
            for i in range(repeats):
                first = stage == 0 and i == 0
                layers.append(ShuffleV1Unit(channels, out, groups, 2 if i == 0 else 1, not first))
                channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, self.n_classes))

    def init_reference(self) -> None:
        inits.megvii(self, stem=self.features[0][0])


# ---- V2 -----------------------------------------------------------------------------------------

# stage 2, 3, 4 and conv5 channels of Ma et al. Table 5 for the published widths
_V2_CHANNELS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
_V2_REPEATS = (4, 8, 4)
_V2_STEM = 24


def _v2_channels(width: float) -> tuple[int, ...]:
    if width in _V2_CHANNELS:
        return _V2_CHANNELS[width]
    # Between the published widths, scale the 1.0× stages (kept even for the channel split);
    # conv5 follows the table: 1024 up to 1.5×, 2048 beyond.
    stages = tuple(max(4, round(c * width / 4) * 4) for c in _V2_CHANNELS[1.0][:3])
    return (*stages, 1024 if width <= 1.5 else 2048)


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 unit.

    Stride 1: split the channels in half; one half passes through, the other goes through
    1×1 conv + BN + ReLU → 3×3 depthwise + BN → 1×1 conv + BN + ReLU; concatenate, shuffle (2).
    Stride 2: no split; both branches downsample (left: 3×3 depthwise stride 2 + BN → 1×1 conv +
    BN + ReLU; right: as above with a stride-2 depthwise), each giving half the output channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels % 2:
            raise ModelError(f"ShuffleNet V2 needs an even channel count, got {out_channels}")
        self.stride = stride
        half = out_channels // 2
        branch_in = in_channels if stride == 2 else in_channels // 2
        if stride == 2:
            self.left = nn.Sequential(
                conv_bn_act(in_channels, in_channels, 3, 2, groups=in_channels, activation=None),
                conv_bn_act(in_channels, half, 1),
            )
        else:
            self.left = None
        self.right = nn.Sequential(
            conv_bn_act(branch_in, half, 1),
            conv_bn_act(half, half, 3, stride, groups=half, activation=None),
            conv_bn_act(half, half, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.left is None:
            kept, x = x.chunk(2, dim=1)
            out = torch.cat([kept, self.right(x)], dim=1)
        else:
            out = torch.cat([self.left(x), self.right(x)], dim=1)
        return channel_shuffle(out, 2)


@register("shufflenet_v2")
class ShuffleNetV2(PooledBackbone):
    """ShuffleNet V2 with width multiplier ``width`` (the paper's 0.5×, 1×, 1.5×, 2× tables)."""

    reference_init = "megvii"

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
        *stages, last = _v2_channels(width)
        layers: list[nn.Module] = [conv_bn_act(self.n_components, _V2_STEM, 3)]
        channels = _V2_STEM
        for out, repeats in zip(stages, _V2_REPEATS, strict=True):
            for i in range(repeats):
                layers.append(ShuffleV2Unit(channels, out, 2 if i == 0 else 1))
                channels = out
        layers.append(conv_bn_act(channels, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, self.n_classes))

    def init_reference(self) -> None:
        inits.megvii(self, stem=self.features[0][0])
