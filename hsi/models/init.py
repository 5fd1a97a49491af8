"""Initialisation rules of the reference implementations, one per model family.

A network's starting weights are part of its recipe: HybridSN under PyTorch's layer defaults
(kaiming_uniform(a=√5) kernels, non-zero uniform biases) sits on the one-class plateau for
epochs, while the Keras defaults of the authors' code (glorot_uniform kernels, zero biases)
leave it within a few epochs (docs/benchmarks.md). Each family names its rule here and applies
it through :meth:`hsi.models.PatchClassifier.initialise`:

- ``keras`` — HybridSN and its attention variants' host layers: the authors' Keras code
  (gokriznastic/HybridSN) uses Keras' defaults, glorot_uniform kernels
  U(±√(6/(fan_in+fan_out))) and zero biases.
- ``cbam`` — the CBAM authors' PyTorch code (Jongchan/attention-module): the channel MLP keeps
  PyTorch's Linear weights with zero biases; the spatial gate's conv is kaiming_normal
  (fan_out) and its batch norm starts at γ = 0, β = 0, so every spatial gate opens at
  sigmoid(0) = ½.
- ``torchvision`` — MobileNet V2 and V3 as in torchvision: kaiming_normal (fan_out) convs,
  zero biases, BN γ = 1, β = 0, Linear N(0, 0.01) with zero bias; the SE layers, 1×1 convs in
  torchvision, get the conv rule.
- ``tf_slim`` — MobileNet V1 as in the authors' TF-slim release (mobilenet_v1_arg_scope): every
  conv and the logits layer truncated_normal(σ = 0.09, cut at 2σ), zero biases, BN γ = 1, β = 0.
- ``megvii`` — ShuffleNet V1 and V2 as in the authors' code (megvii-model/ShuffleNet-Series):
  the stem conv N(0, 0.01), every other conv N(0, 1/weight.shape[1]) (one over its input
  channels per group: 1.0 for a depthwise conv), BN γ = 1, β = 0.0001, Linear N(0, 0.01) with
  zero bias.
- ``ssftt`` — SSFTT as in the authors' PyTorch code (zgr6010/HSI_SSFTT, ``SSFTTnet.py``): the
  tokenizer's W_a (1, L, 64) and W_v (1, 64, dim) xavier_normal, with those shapes' fans
  (std √(2/(64·L + 64)) and √(2/(64·dim + 64))); position embeddings N(0, 0.02²); the cls token
  zeros; the classifier Linear xavier_uniform with bias N(0, 10⁻¹²) (std 1e-6). Every other
  layer — both convs, both batch norms, the LayerNorms and the encoder's Linears — keeps
  PyTorch's defaults, as there: the code defines a ``_weights_init`` (kaiming_normal for Linear
  and Conv3d) but never applies it. The tokenizer, position and cls parameters have no PyTorch
  default, so :func:`ssftt_tokens` draws them at construction under either ``init``; the rule
  itself re-draws the classifier, the last layer built, so a model seeded like the authors'
  script starts with exactly their weights.

``init="torch"`` keeps PyTorch's layer defaults, to reproduce runs made before this rule existed.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from hsi.errors import ModelError

__all__ = [
    "INITS",
    "Init",
    "cbam",
    "check_init",
    "keras_glorot",
    "megvii",
    "ssftt",
    "ssftt_tokens",
    "tf_slim",
    "torchvision",
]

Init = Literal["reference", "torch"]
INITS: tuple[str, ...] = ("reference", "torch")

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_init(init: str) -> str:
    if init not in INITS:
        raise ModelError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    return init


def keras_glorot(module: nn.Module) -> None:
    """glorot_uniform kernels and zero biases for every conv and Linear below ``module``."""
    for m in module.modules():
        if isinstance(m, (*_CONV, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def cbam(module: nn.Module) -> None:
    """The CBAM authors' rule for a :class:`hsi.models.attention.CBAM` module."""
    for m in module.channel.mlp.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()  # their MLP keeps PyTorch's Linear default...
            nn.init.zeros_(m.bias)  # ...but every bias of the network is zeroed
    spatial = module.spatial
    nn.init.kaiming_normal_(spatial.conv.weight, mode="fan_out")
    nn.init.zeros_(spatial.norm.weight)
    nn.init.zeros_(spatial.norm.bias)


def torchvision(module: nn.Module) -> None:
    """torchvision's MobileNet V2/V3 rule; ``classifier`` Linears N(0, 0.01), others as convs."""
    classifier = set(getattr(module, "classifier", nn.Sequential()).modules())
    for m in module.modules():
        if isinstance(m, _CONV) or (isinstance(m, nn.Linear) and m not in classifier):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORM):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def tf_slim(module: nn.Module, std: float = 0.09) -> None:
    """TF-slim's MobileNet V1 rule: truncated normal (±2σ) kernels, zero biases, BN = identity."""
    for m in module.modules():
        if isinstance(m, (*_CONV, nn.Linear)):
            nn.init.trunc_normal_(m.weight, 0, std, -2 * std, 2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORM):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def megvii(module: nn.Module, stem: nn.Module) -> None:
    """The ShuffleNet authors' rule; ``stem`` is the first conv (their ``first_conv``)."""
    for m in module.modules():
        if isinstance(m, _CONV):
            std = 0.01 if m is stem else 1.0 / m.weight.shape[1]
            nn.init.normal_(m.weight, 0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORM):
            nn.init.ones_(m.weight)
            nn.init.constant_(m.bias, 0.0001)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def ssftt_tokens(model: nn.Module) -> None:
    """The SSFTT authors' draws for its bare parameters, in their order (SSFTTnet.__init__)."""
    nn.init.xavier_normal_(model.token_wa)
    nn.init.xavier_normal_(model.token_wv)
    nn.init.normal_(model.pos_embedding, std=0.02)
    nn.init.zeros_(model.cls_token)


def ssftt(model: nn.Module) -> None:
    """The SSFTT authors' classifier: xavier_uniform weight, bias N(0, 1e-6²)."""
    nn.init.xavier_uniform_(model.head.weight)
    nn.init.normal_(model.head.bias, std=1e-6)
