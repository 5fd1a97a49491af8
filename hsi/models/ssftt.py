"""SSFTT (Sun, Zhao, Zheng, Wu, "Spectral–Spatial Feature Tokenization Transformer for
Hyperspectral Image Classification", IEEE TGRS 60, 2022, art. 5522214), as its authors' code
defines it: github.com/zgr6010/HSI_SSFTT, ``cls_SSFTT_IP/SSFTTnet.py`` (class ``SSFTTnet``) and
its training script ``cls_SSFTT_IP/IP_train.py`` (PCA 30 with whitening, 13×13 windows).
Written anew from that code; the layers, their order and their initialisation are the same.

Input (N, k, p, p) PCA patches; the model adds the singleton 3-D channel axis itself:

    Conv3d 8 × (3,3,3) + BN3d + ReLU                       → (8, k−2, p−2, p−2)
    reshape to 8·(k−2) channels; Conv2d 64 × 3×3 + BN2d + ReLU → (64, p−4, p−4)
    flatten to n = (p−4)² pixel features X of width 64
    Gaussian-weighted feature tokenizer: A = softmax over pixels of (X·W_aᵀ)ᵀ (L × n),
        T = A · (X·W_v)  → L tokens of width dim (W_a: L×64, W_v: 64×dim, xavier_normal)
    prepend a cls token (zeros), add position embeddings N(0, 0.02²), dropout
    `depth` transformer encoder blocks (pre-norm): x + MHSA(LN(x)), then x + MLP(LN(x))
        MHSA: one Linear dim→3·dim with bias, `heads` heads, scores scaled by dim^−½ (the whole
        width, not the head width, as in the authors' code), Linear dim→dim, dropout
        MLP: Linear dim→mlp_dim, GELU, dropout, Linear mlp_dim→dim, dropout
    the cls token's output → Linear K (no final LayerNorm, no dropout before it)

Defaults are the authors': L = 4 tokens, dim = 64, depth 1, 8 heads, mlp_dim = 8, dropout 0.1
(in the blocks) and 0.1 (on the embeddings). For k = 30, p = 13, K = 16 this has 153,224
parameters, the number of trainable values in the authors' saved ``SSFTTnet_params.pth``; the
count does not depend on p (the tokenizer pools over the pixels).

The authors' code hard-codes the 2-D conv's 8·28 input channels (k = 30); here they follow k.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from hsi.errors import ModelError
from hsi.models import PatchClassifier, check_dropout, check_int_option, register
from hsi.models import init as inits

__all__ = ["SSFTT"]

#: output channels of the 3-D conv and the 2-D conv (fixed in the authors' code)
CONV3D_CHANNELS = 8
CONV2D_CHANNELS = 64


class _Attention(nn.Module):
    """Multi-head self-attention of the authors' code: scores scaled by dim^−½."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        n, tokens, dim = x.shape
        # (N, T, 3·dim) → three (N, heads, T, dim/heads), the head index outermost in each third
        q, k, v = self.qkv(x).view(n, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        # plain matmuls rather than F.scaled_dot_product_attention: the same result for five
        # tokens, and FlopCounterMode (hsi models) counts them
        attention = torch.matmul(q, k.transpose(-2, -1)).mul_(self.scale).softmax(-1)
        out = torch.matmul(attention, v).transpose(1, 2).reshape(n, tokens, dim)
        return self.dropout(self.proj(out))


class _EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        # created in the authors' order (attention before its LayerNorm; neither LayerNorm
        # draws random numbers), so a seeded model draws the same weights as theirs
        self.attention = _Attention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _DenseGradient(torch.autograd.Function):
    """The identity, whose backward lays the gradient out like its (contiguous) input.

    Products that broadcast a parameter's leading dim of 1 (the tokenizer's weights, or the cls
    token over a batch of one) give gradients with other strides for that dim; torchrun's
    DistributedDataParallel then warns that "grad strides do not match bucket view strides",
    which "may impair performance". A copy keeps every value, so training is unchanged bit for
    bit; rewriting the products instead changed the last bits of a batch of one. A node of the
    graph rather than a hook on the parameter, because ``copy.deepcopy`` drops tensor hooks.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        dense, step = [], 1
        for size in reversed(grad.shape):
            dense.insert(0, step)
            step *= size
        if grad.stride() == tuple(dense):
            return grad
        return torch.empty(grad.shape, dtype=grad.dtype, device=grad.device).copy_(grad)


def _dense_gradient(parameter: Tensor) -> Tensor:
    """``parameter``, whose gradient comes back laid out like it (see :class:`_DenseGradient`)."""
    return _DenseGradient.apply(parameter)


@register("ssftt")
class SSFTT(PatchClassifier):
    """SSFTT: a 3-D and a 2-D conv, a Gaussian-weighted tokenizer and a small transformer."""

    # the 3×3×3 and 3×3 valid convolutions eat 2 spectral and 2 + 2 spatial samples
    min_components = 3
    min_patch = 5
    #: the authors' window for every scene (13×13)
    default_patch = 13
    #: the authors' number of PCA components (30, whitened, in their IP_train.py); read by the
    #: configuration when the user gives no --pca
    default_pca = 30  # the authors' setting (cls_SSFTT_IP/IP_train.py)
    reference_init = "ssftt"
    # the valid 3×3×3 and 3×3 convolutions (batch norm and ReLU act per pixel): windows share
    # them, so maps compute them once per tile (PatchClassifier.dense_logits)
    supports_dense = True
    shared_margin = 4

    def __init__(
        self,
        n_components: int,
        patch: int,
        n_classes: int,
        *,
        tokens: int = 4,
        dim: int = 64,
        depth: int = 1,
        heads: int = 8,
        mlp_dim: int = 8,
        dropout: float = 0.1,
        emb_dropout: float = 0.1,
    ) -> None:
        super().__init__(n_components, patch, n_classes)
        name = self._name()
        self.tokens = check_int_option("tokens", tokens, name)
        self.dim = check_int_option("dim", dim, name)
        depth = check_int_option("depth", depth, name)
        self.heads = check_int_option("heads", heads, name)
        mlp_dim = check_int_option("mlp_dim", mlp_dim, name)
        dropout = check_dropout(dropout, name)
        emb_dropout = check_dropout(emb_dropout, name)
        if self.dim % self.heads:
            raise ModelError(f"{name}: dim ({self.dim}) must be divisible by heads ({self.heads})")
        # Modules and parameters are created in the order of the authors' SSFTTnet.__init__,
        # so that after the same torch.manual_seed every weight is drawn identically.
        self.conv3d = nn.Sequential(
            nn.Conv3d(1, CONV3D_CHANNELS, kernel_size=3),
            nn.BatchNorm3d(CONV3D_CHANNELS),
            nn.ReLU(inplace=True),
        )
        self.conv2d = nn.Sequential(
            nn.Conv2d(CONV3D_CHANNELS * (self.n_components - 2), CONV2D_CHANNELS, kernel_size=3),
            nn.BatchNorm2d(CONV2D_CHANNELS),
            nn.ReLU(inplace=True),
        )
        # The tokenizer's weights keep the authors' shapes (1, L, 64) and (1, 64, dim): their
        # xavier_normal spread depends on them (hsi/models/init.py).
        self.token_wa = nn.Parameter(torch.empty(1, self.tokens, CONV2D_CHANNELS))
        self.token_wv = nn.Parameter(torch.empty(1, CONV2D_CHANNELS, self.dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, self.tokens + 1, self.dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.dim))
        # Bare parameters have no PyTorch default: under either --init they start as the
        # authors' code starts them, drawn here, in their order.
        inits.ssftt_tokens(self)
        self.dropout = nn.Dropout(emb_dropout)
        self.blocks = nn.Sequential(
            *(_EncoderBlock(self.dim, self.heads, mlp_dim, dropout) for _ in range(depth))
        )
        self.head = nn.Linear(self.dim, self.n_classes)

    def init_reference(self) -> None:
        inits.ssftt(self)

    def shared_features(self, x: Tensor) -> Tensor:
        """(N, k, H, W) → the 2-D conv's per-pixel features, (N, 64, H−4, W−4)."""
        h = self.conv3d(x.unsqueeze(1))  # (N, 8, k−2, H−2, W−2)
        # (N, 8, k−2, H, W) → (N, 8·(k−2), H, W): channel index = filter·(k−2) + depth
        return self.conv2d(h.flatten(1, 2))

    def tokenize(self, x: Tensor) -> Tensor:
        """(N, k, p, p) patches → the L semantic tokens (N, L, dim) the transformer reads."""
        return self._tokens(self.shared_features(x))

    def _tokens(self, h: Tensor) -> Tensor:
        """(N, 64, p−4, p−4) conv features → the L tokens (N, L, dim)."""
        h = h.flatten(2).transpose(1, 2)  # (N, n, 64): one feature vector per pixel
        # each token is a softmax-weighted average over the pixels of the projected features
        token_wa, token_wv = _dense_gradient(self.token_wa), _dense_gradient(self.token_wv)
        weights = torch.matmul(h, token_wa.transpose(1, 2)).transpose(1, 2).softmax(-1)
        return torch.matmul(weights, torch.matmul(h, token_wv))  # (N, L, dim)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.features_to_logits(self.shared_features(x))

    def features_to_logits(self, h: Tensor) -> Tensor:
        tokens = self._tokens(h)
        cls = _dense_gradient(self.cls_token).expand(tokens.shape[0], -1, -1)
        h = self.dropout(torch.cat((cls, tokens), dim=1) + _dense_gradient(self.pos_embedding))
        h = self.blocks(h)
        return self.head(h[:, 0])
