"""Channel and spatial attention: Squeeze-and-Excitation (Hu et al. 2018) and CBAM (Woo et al.
2018).

Both work on (N, C, H, W) maps. Each module has an ``attention_weights`` method returning the gates
it multiplies the input by (values in [0, 1]), so they can be inspected or plotted.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from hsi.errors import ModelError

__all__ = ["CBAM", "ChannelAttention", "SpatialAttention", "SqueezeExcitation"]

Gate = Literal["sigmoid", "hard_sigmoid"]


def _gate(kind: str) -> nn.Module:
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "hard_sigmoid":
        # relu6(x + 3) / 6, the piecewise-linear sigmoid of MobileNetV3
        return nn.Hardsigmoid()
    raise ModelError(f"attention gate must be 'sigmoid' or 'hard_sigmoid', got {kind!r}")


def _hidden_channels(channels: int, reduction: int, min_hidden: int) -> int:
    if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
        raise ModelError(f"reduction must be an integer >= 1, got {reduction!r}")
    # A floor on the bottleneck keeps narrow maps (e.g. 32 channels at r=16) from a 2-unit MLP.
    return max(min_hidden, channels // reduction)


class SqueezeExcitation(nn.Module):
    """SE block: global average pool → FC (C→C/r) → ReLU → FC (C/r→C) → gate → rescale channels.

    ``hidden`` overrides the bottleneck width (MobileNetV3 fixes it to a quarter of the
    expansion channels, rounded to a multiple of 8); by default it is
    ``max(min_hidden, channels // reduction)``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        min_hidden: int = 8,
        hidden: int | None = None,
        gate: Gate = "sigmoid",
    ) -> None:
        super().__init__()
        hidden = hidden if hidden is not None else _hidden_channels(channels, reduction, min_hidden)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = _gate(gate)

    def attention_weights(self, x: Tensor) -> Tensor:
        """Per-channel gates of shape (N, C), each in [0, 1]."""
        squeezed = x.mean(dim=(2, 3))
        return self.gate(self.fc2(torch.relu(self.fc1(squeezed))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention_weights(x)[:, :, None, None]


class ChannelAttention(nn.Module):
    """CBAM channel attention: a shared MLP over the average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16, *, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = _hidden_channels(channels, reduction, min_hidden)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )

    def attention_weights(self, x: Tensor) -> Tensor:
        """Per-channel gates of shape (N, C), each in [0, 1]."""
        return torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention_weights(x)[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM spatial attention: a k×k conv + batch norm over the channel-wise average and max maps.

    As in the CBAM authors' code (a bias-free conv, then BN with momentum 0.01), whose
    initialisation sets the BN scale to 0 so that every gate starts at ½.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ModelError(f"spatial attention kernel must be odd and >= 1, got {kernel_size}")
        # 'same' padding: the gate map is aligned with the feature map it multiplies.
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.BatchNorm2d(1, momentum=0.01)

    def attention_weights(self, x: Tensor) -> Tensor:
        """Per-position gates of shape (N, 1, H, W), each in [0, 1]."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.norm(self.conv(pooled)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention_weights(x)


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def attention_weights(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The channel gates (N, C) and the spatial gates (N, 1, H, W) applied to ``x``."""
        channel = self.channel.attention_weights(x)
        spatial = self.spatial.attention_weights(x * channel[:, :, None, None])
        return channel, spatial

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial(self.channel(x))
