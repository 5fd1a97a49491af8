"""HybridSN (Roy et al., "HybridSN: Exploring 3-D–2-D CNN Feature Hierarchy for Hyperspectral
Image Classification", IEEE GRSL 17(2), 2020), exactly as published, and two attention variants.

Input (N, k, p, p) PCA patches; the model adds the singleton 3-D channel axis itself:

    Conv3d  8 × (7,3,3) + ReLU  →  Conv3d 16 × (5,3,3) + ReLU  →  Conv3d 32 × (3,3,3) + ReLU
    reshape (32, k−12, p−6, p−6) → (32·(k−12), p−6, p−6)
    Conv2d 64 × 3×3 + ReLU  →  flatten 64·(p−8)²
    Linear 256 + ReLU, Dropout 0.4, Linear 128 + ReLU, Dropout 0.4, Linear K

No padding and no batch norm anywhere. For k=30, p=25, K=16 this has 5,122,176 parameters.

Every layer before the classifier is a stride-1 valid convolution, so the network is a sliding
window: :meth:`HybridSN.dense_logits` evaluates it fully convolutionally over a padded scene tile,
sharing the convolutions between overlapping windows, with the first Linear layer run as a
(p−8)×(p−8) convolution (via blocked FFTs, which is where nearly all the work lies).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hsi.errors import ModelError
from hsi.models import PatchClassifier, check_dropout, check_int_option, register
from hsi.models import init as inits
from hsi.models.attention import CBAM, SqueezeExcitation

__all__ = ["HybridSN", "HybridSNCBAM", "HybridSNSE"]

DenseMethod = Literal["auto", "direct", "fft"]

# Largest number of FFT blocks transformed at once: bounds the spectra held in memory
# (256 output channels × 48 × 25 complex values ≈ 2.5 MB per block and stage at p = 25).
_FFT_BLOCKS_PER_CHUNK = 32


@register("hybridsn")
class HybridSN(PatchClassifier):
    """HybridSN as published: three 3-D convolutions, one 2-D convolution, three dense layers."""

    supports_dense = True
    # each (7,3,3), (5,3,3), (3,3,3) valid 3-D conv eats 6+4+2 spectral and 2+2+2 spatial
    # samples, and the 3×3 2-D conv two more spatial ones
    min_components = 13
    min_patch = 9
    # windows share the 3-D block (:meth:`shared_features`); plain HybridSN's own dense path
    # shares everything up to fc1
    shared_margin = 6
    reference_init = "keras"

    def __init__(
        self, n_components: int, patch: int, n_classes: int, *, dropout: float = 0.4
    ) -> None:
        super().__init__(n_components, patch, n_classes)
        dropout = check_dropout(dropout, self._name())
        self.spectral_depth = self.n_components - 12
        self.feature_side = self.patch - 8
        self.conv3d_1 = nn.Conv3d(1, 8, kernel_size=(7, 3, 3))
        self.conv3d_2 = nn.Conv3d(8, 16, kernel_size=(5, 3, 3))
        self.conv3d_3 = nn.Conv3d(16, 32, kernel_size=(3, 3, 3))
        # where the attention variants put their module; a no-op (and no parameters) here
        self.attention: nn.Module = nn.Identity()
        self.conv2d = nn.Conv2d(32 * self.spectral_depth, 64, kernel_size=3)
        self.fc1 = nn.Linear(64 * self.feature_side**2, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, self.n_classes)
        self.dropout = nn.Dropout(dropout)
        self._spectrum_cache: tuple[tuple[Tensor, int, int], Tensor] | None = None

    def init_reference(self) -> None:
        # The authors' Keras layers (an SE block placed in that code would be Keras layers too).
        inits.keras_glorot(self)

    @property
    def spectral_channels(self) -> int:
        """Channels of the 2-D map after the 3-D block's reshape: 32·(k−12)."""
        return 32 * self.spectral_depth

    def shared_features(self, x: Tensor) -> Tensor:
        """(N, k, H, W) → the reshaped 3-D features, (N, 32·(k−12), H−6, W−6)."""
        # in-place ReLUs: a conv's backward does not need its output, and dense evaluation of a
        # whole tile is memory-bound
        h = x.unsqueeze(1)
        h = F.relu(self.conv3d_1(h), inplace=True)
        h = F.relu(self.conv3d_2(h), inplace=True)
        h = F.relu(self.conv3d_3(h), inplace=True)
        # (N, 32, k−12, H', W') → (N, 32·(k−12), H', W'): channel index = filter·(k−12) + depth
        return h.flatten(1, 2)

    def _conv_features(self, h: Tensor) -> Tensor:
        """Reshaped 3-D features → the 64-channel map after the 2-D conv, (N, 64, H'−2, W'−2)."""
        return F.relu(self.conv2d(self.attention(h)), inplace=True)

    def features_to_logits(self, h: Tensor) -> Tensor:
        h = self._conv_features(h).flatten(1)
        h = self.dropout(torch.relu(self.fc1(h)))
        h = self.dropout(torch.relu(self.fc2(h)))
        return self.fc3(h)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.features_to_logits(self.shared_features(x))

    # ---- dense (fully-convolutional) evaluation -----------------------------------------------

    def dense_logits(
        self, x: Tensor, *, method: DenseMethod = "auto", mask: Tensor | None = None
    ) -> Tensor:
        """Logits for every p×p window of a zero-padded scene tile, computed in one pass.

        ``x`` is a reduced tile of shape (k, Hp, Wp) or (1, k, Hp, Wp); the result has shape
        (K, Hp−p+1, Wp−p+1) and its [:, i, j] equals ``forward`` on the window whose top-left
        corner is (i, j), up to float rounding. Only valid in eval mode (dropout is then the
        identity). Memory grows with the tile's area: tile big scenes with a p−1 halo.

        ``method`` picks how the first Linear layer, run as a 64→256 convolution with a
        (p−8)×(p−8) kernel, is computed: ``"direct"`` (``F.conv2d``), ``"fft"`` (overlap-save
        blocked FFT convolution, ~10× fewer operations at p = 25) or ``"auto"`` (FFT for
        large kernels and tiles, direct otherwise). ``mask`` is accepted for the generic
        path's signature and ignored: here every window shares all the work, so the whole tile
        costs little more than a few of its windows.
        """
        x = self.check_dense_tile(x)
        _check_dense_method(method)
        weight = self.fc1.weight
        with torch.no_grad():
            h = self._conv_features(self.shared_features(x.to(weight.dtype)[None]))[0]
            # h: (64, Hp−8, Wp−8)
            kernel = weight.view(256, 64, self.feature_side, self.feature_side)
            out_h, out_w = h.shape[1] - self.feature_side + 1, h.shape[2] - self.feature_side + 1
            fft = method == "fft" or (method == "auto" and self._fft_pays(out_h, out_w))
            h = self._fft_correlate(h, kernel) if fft else F.conv2d(h[None], kernel)[0]
            # bias and ReLU of fc1, then fc2 and fc3 as 1×1 convolutions (matmuls over pixels)
            h = torch.relu_(h.reshape(256, -1) + self.fc1.bias[:, None])
            h = torch.relu_(torch.addmm(self.fc2.bias[:, None], self.fc2.weight, h))
            h = torch.addmm(self.fc3.bias[:, None], self.fc3.weight, h)
        return h.view(self.n_classes, out_h, out_w)

    def _fft_pays(self, out_h: int, out_w: int) -> bool:
        # Direct cost ∝ s² per output pixel; FFT cost is roughly flat per pixel but has a fixed
        # price (the kernel's spectrum), so it wins for big kernels over enough pixels.
        return self.feature_side >= 9 and out_h * out_w >= 256

    def _fft_block(self) -> int:
        """FFT side for overlap-save: ~3× the kernel, with only factors 2, 3 and 5."""
        n = max(8, 3 * self.feature_side - 3)
        while n % 2 or not _is_smooth(n):
            n += 1
        return n

    def _kernel_spectrum(self, kernel: Tensor, block: int) -> Tensor:
        """conj(rfft2(kernel, block×block)) as (frequencies, 256, 64), cached per weights.

        The cache keeps an alias of the weight's storage: while it lives, that address cannot be
        reused, so an unchanged data pointer plus an unchanged version counter (bumped by every
        in-place update: optimiser steps, ``load_state_dict``) prove the weights are the same;
        ``.to()``/``.double()`` move the data and so invalidate it. Writing through
        ``weight.data`` bypasses the version counter: call ``model.train()`` after doing that.
        """
        weight = self.fc1.weight
        if self._spectrum_cache is not None:
            (alias, version, cached_block), spectrum = self._spectrum_cache
            if (
                cached_block == block
                and alias.data_ptr() == weight.data_ptr()
                and alias.dtype == weight.dtype
                and alias.device == weight.device
                and version == weight._version
            ):
                return spectrum
        self._spectrum_cache = None  # free the old spectrum before building the new one
        spectrum = _rfft2_small_kernel(kernel, block)  # (block, block//2+1, 256, 64)
        spectrum = spectrum.reshape(-1, *kernel.shape[:2]).conj_physical_()
        self._spectrum_cache = ((weight.detach(), weight._version, block), spectrum)
        return spectrum

    def train(self, mode: bool = True) -> HybridSN:
        # Weights are about to change: drop the cached spectrum rather than keep ~160 MB alive.
        if mode:
            self._spectrum_cache = None
        return super().train(mode)

    def _fft_correlate(self, h: Tensor, kernel: Tensor) -> Tensor:
        """Valid cross-correlation of h (C, H, W) with kernel (O, C, s, s) by overlap-save FFTs."""
        channels, height, width = h.shape
        out_channels, side = kernel.shape[0], kernel.shape[-1]
        block = self._fft_block()
        step = block - side + 1  # valid outputs per block side
        out_h, out_w = height - side + 1, width - side + 1
        rows, cols = math.ceil(out_h / step), math.ceil(out_w / step)
        pad_w, pad_h = (cols - 1) * step + block - width, (rows - 1) * step + block - height
        # (C, rows, cols, block, block) view of the overlapping blocks
        blocks = F.pad(h, (0, pad_w, 0, pad_h)).unfold(1, block, step).unfold(2, block, step)
        blocks = blocks.reshape(channels, rows * cols, block, block)
        spectrum = self._kernel_spectrum(kernel, block)
        inverse_rows, inverse_cols = _inverse_dft_matrices(block, step, spectrum.dtype, h.device)
        out = h.new_empty(step, step, out_channels, rows * cols)
        for start in range(0, rows * cols, _FFT_BLOCKS_PER_CHUNK):
            chunk = blocks[:, start : start + _FFT_BLOCKS_PER_CHUNK]
            n = chunk.shape[1]
            # (C, n, B, B/2+1) → (freq, C, n): one (O×C)·(C×n) complex product per frequency
            freq = torch.fft.rfft2(chunk).reshape(channels, n, -1).permute(2, 0, 1).contiguous()
            prod = torch.bmm(spectrum, freq).view(block, -1)  # (u, v·O·n)
            # Inverse transform of only the `step`×`step` samples that are free of wrap-around,
            # as two dense DFT matmuls: measured several times faster than irfft2 + cropping.
            prod = (inverse_rows @ prod).view(step, block // 2 + 1, -1)  # (x, v, O·n)
            prod = torch.matmul(inverse_cols, prod).real  # (x, y, O·n)
            out[..., start : start + n] = prod.view(step, step, out_channels, n)
        # (x, y, O, rows·cols) → (O, rows·x, cols·y)
        out = out.view(step, step, out_channels, rows, cols).permute(2, 3, 0, 4, 1)
        return out.reshape(out_channels, rows * step, cols * step)[:, :out_h, :out_w]


def _check_dense_method(method: str) -> None:
    if method not in ("auto", "direct", "fft"):
        raise ModelError(f"dense method must be 'auto', 'direct' or 'fft', got {method!r}")


def _inverse_dft_matrices(
    block: int, step: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Matrices giving the first ``step``×``step`` samples of a real 2-D inverse DFT of size
    ``block`` from its half spectrum (B, B/2+1): over u (step, B), then over v (step, B/2+1),
    the latter weighting each v ≠ 0, B/2 twice (its conjugate twin is not stored) and taking 1/B².
    """
    freq = torch.arange(block, dtype=torch.float64, device=device)
    pos = torch.arange(step, dtype=torch.float64, device=device)
    angle = 2 * math.pi * torch.outer(pos, freq) / block
    rows = torch.polar(torch.ones_like(angle), angle)
    half = block // 2 + 1
    weight = torch.full((half,), 2.0, dtype=torch.float64, device=device)
    weight[0] = 1.0
    if block % 2 == 0:
        weight[-1] = 1.0
    cols = rows[:, :half] * (weight / block**2)
    return rows.to(dtype), cols.to(dtype)


def _is_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def _rfft2_small_kernel(kernel: Tensor, block: int) -> Tensor:
    """rfft2 of an (O, C, s, s) kernel zero-padded to block×block, laid out (B, B/2+1, O, C).

    The kernel fills only an s×s corner of the block, so two dense DFT matmuls over its s rows
    and columns beat padding it and running the FFT, and they produce the frequency-major layout
    the batched product needs without another copy.
    """
    side = kernel.shape[-1]
    dtype = torch.complex128 if kernel.dtype == torch.float64 else torch.complex64
    freq = torch.arange(block, dtype=torch.float64, device=kernel.device)
    pos = torch.arange(side, dtype=torch.float64, device=kernel.device)
    angle = -2 * math.pi * torch.outer(freq, pos) / block
    rows = torch.polar(torch.ones_like(angle), angle).to(dtype)  # (B, s)
    cols = rows[: block // 2 + 1]  # (B/2+1, s)
    # w[o, c, a, b] → (a, b, o·c); sum over b with cols, then over a with rows
    flat = kernel.permute(2, 3, 0, 1).reshape(side, side, -1).to(dtype)
    half = torch.matmul(cols, flat)  # (a, v, o·c)
    full = rows @ half.view(side, -1)  # (u, v·o·c)
    return full.view(block, block // 2 + 1, *kernel.shape[:2])


class _HybridSNAttention(HybridSN):
    """HybridSN with an attention block (``attention_block``) on the reshaped 3-D features.

    The block's gates pool each window's whole feature map, so windows no longer share the 2-D
    conv and the dense layers; they still share the 3-D block, which the generic dense path of
    :class:`PatchClassifier` computes once per tile.
    """

    attention_block: type[nn.Module]

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        reduction: int = 16,
        dropout: float = 0.4,
    ) -> None:
        super().__init__(n_components, patch, n_classes, dropout=dropout)
        reduction = check_int_option("reduction", reduction, self._name())
        self.attention = self.attention_block(self.spectral_channels, reduction)

    def dense_logits(
        self, x: Tensor, *, method: DenseMethod = "auto", mask: Tensor | None = None
    ) -> Tensor:
        """Logits for the windows of a padded tile (those of ``mask``, if given; NaN for the
        others), sharing the 3-D block between windows.

        ``method`` is checked as HybridSN's is and otherwise unused: here ``fc1`` runs on each
        window's own gated features, not as a convolution over the tile.
        """
        x = self.check_dense_tile(x)
        _check_dense_method(method)
        return PatchClassifier.dense_logits(self, x, mask=mask)


@register("hybridsn_se")
class HybridSNSE(_HybridSNAttention):
    """HybridSN with a Squeeze-and-Excitation block on the reshaped 3-D features.

    The SE gates the 32·(k−12) channels of the reshaped map, i.e. each (3-D filter, spectral
    position) pair: a learned, per-patch spectral attention, applied before the 2-D conv mixes
    the spectral positions together.
    """

    attention_block = SqueezeExcitation


@register("hybridsn_cbam")
class HybridSNCBAM(_HybridSNAttention):
    """HybridSN with CBAM (channel then spatial attention) on the reshaped 3-D features."""

    attention_block = CBAM
    reference_init = "keras+cbam"

    def init_reference(self) -> None:
        super().init_reference()
        inits.cbam(self.attention)
