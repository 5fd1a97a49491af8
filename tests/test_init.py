"""Reference initialisation, layer by layer, for every family; the torch option keeps the old one.

The bounds and spreads below are the rules of the reference implementations (hsi/models/init.py):
Keras glorot_uniform for HybridSN, the CBAM authors' PyTorch code, torchvision for MobileNet V2/V3,
TF-slim for MobileNet V1, Megvii's code for ShuffleNet V1/V2.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hsi.config import TrainConfig
from hsi.errors import ConfigError, ModelError
from hsi.models import create_model
from hsi.models.attention import SqueezeExcitation

K = 15
CONV = (nn.Conv2d, nn.Conv3d)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches (conftest.py)


def build(
    name: str, init: str = "reference", seed: int = 0, patch: int = 25, **options
) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, n_components=K, patch=patch, n_classes=16, init=init, **options)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def layers(model: nn.Module, kinds) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def assert_uniform(weight: torch.Tensor, bound: float, name: str) -> None:
    w = weight.detach().double()
    assert w.abs().max() <= bound + 1e-7, name
    if w.numel() >= 500:  # U(-b, b): mean 0, std b/√3
        assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 0.1, name
        assert abs(w.mean().item()) < 0.1 * bound, name


def assert_normal(weight: torch.Tensor, std: float, name: str) -> None:
    w = weight.detach().double()
    if w.numel() >= 500:
        assert abs(w.std().item() / std - 1) < 0.1, name
        assert abs(w.mean().item()) < 0.1 * std, name


# ---- HybridSN and its attention variants: Keras' glorot_uniform + zero biases -----------------


@pytest.mark.parametrize("name", ["hybridsn", "hybridsn_se", "hybridsn_cbam"])
def test_hybridsn_family_is_glorot_uniform_with_zero_biases(name):
    model = build(name)
    host = [
        (n, m)
        for n, m in layers(model, (*CONV, nn.Linear))
        if not n.startswith("attention") or name == "hybridsn_se"
    ]
    assert len(host) >= 7
    for layer_name, m in host:
        fan_in, fan_out = fans(m.weight)
        assert_uniform(m.weight, math.sqrt(6 / (fan_in + fan_out)), layer_name)
        assert torch.count_nonzero(m.bias) == 0, layer_name


def test_glorot_bound_is_not_pytorchs_default():
    # PyTorch's default for fc1 (18496 → 256 at p=25) is U(±1/√fan_in); glorot's is 2.4× wider:
    # the test above would fail on the old initialisation.
    torch_fc1 = build("hybridsn", init="torch").fc1.weight
    ref_fc1 = build("hybridsn").fc1.weight
    fan_in, fan_out = fans(ref_fc1)
    assert torch_fc1.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
    assert ref_fc1.abs().max() > 2 / math.sqrt(fan_in)
    assert torch.count_nonzero(build("hybridsn", init="torch").fc1.bias) > 0


def test_cbam_follows_its_authors_code():
    cbam = build("hybridsn_cbam").attention
    for m in cbam.channel.mlp:
        if isinstance(m, nn.Linear):
            assert torch.count_nonzero(m.bias) == 0
            # PyTorch's Linear default: U(±1/√fan_in)
            assert_uniform(m.weight, 1 / math.sqrt(m.weight.shape[1]), "mlp")
    conv = cbam.spatial.conv
    assert conv.bias is None
    assert_normal(conv.weight, math.sqrt(2 / fans(conv.weight)[1]), "spatial conv")
    assert torch.count_nonzero(cbam.spatial.norm.weight) == 0
    assert torch.count_nonzero(cbam.spatial.norm.bias) == 0
    # so every spatial gate starts half open
    x = torch.randn(2, cbam.channel.mlp[0].in_features, 5, 5)
    cbam.eval()
    _, spatial = cbam.attention_weights(x)
    assert torch.allclose(spatial, torch.full_like(spatial, 0.5))


# ---- 2-D backbones ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"])
def test_mobilenet_v2_v3_follow_torchvision(name):
    model = build(name)
    classifier = set(model.classifier.modules())
    convs = layers(model, nn.Conv2d)
    se = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    assert se or name == "mobilenet_v2"
    for layer_name, m in convs + [(f"se{i}", s.fc1) for i, s in enumerate(se)]:
        assert_normal(m.weight, math.sqrt(2 / fans(m.weight)[1]), layer_name)
        assert m.bias is None or torch.count_nonzero(m.bias) == 0
    for m in classifier:
        if isinstance(m, nn.Linear):
            assert_normal(m.weight, 0.01, "classifier")
            assert torch.count_nonzero(m.bias) == 0
    for _, bn in layers(model, nn.BatchNorm2d):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_mobilenet_v1_follows_tf_slim():
    model = build("mobilenet_v1")
    truncated_std = 0.09 * 0.8796  # std of N(0, σ) cut at ±2σ
    for layer_name, m in layers(model, (nn.Conv2d, nn.Linear)):
        assert m.weight.abs().max() <= 0.18 + 1e-7, layer_name
        assert_normal(m.weight, truncated_std, layer_name)
        assert m.bias is None or torch.count_nonzero(m.bias) == 0
    for _, bn in layers(model, nn.BatchNorm2d):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


@pytest.mark.parametrize("name", ["shufflenet_v1", "shufflenet_v2"])
def test_shufflenets_follow_megvii(name):
    model = build(name)
    convs = layers(model, nn.Conv2d)
    stem = model.features[0][0]
    assert convs[0][1] is stem
    assert_normal(stem.weight, 0.01, "stem")
    for layer_name, m in convs[1:]:
        assert_normal(m.weight, 1.0 / m.weight.shape[1], layer_name)
    for _, bn in layers(model, nn.BatchNorm2d):
        assert torch.all(bn.weight == 1)
        assert torch.allclose(bn.bias, torch.full_like(bn.bias, 1e-4))
    assert_normal(model.classifier[-1].weight, 0.01, "classifier")
    assert torch.count_nonzero(model.classifier[-1].bias) == 0


# ---- the option ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hybridsn", "mobilenet_v2", "shufflenet_v2"])
def test_torch_init_keeps_pytorch_layer_defaults(name):
    model = build(name, init="torch")
    for layer_name, m in layers(model, (*CONV, nn.Linear)):
        fan_in, _ = fans(m.weight)
        # kaiming_uniform(a=√5) = U(±1/√fan_in), and biases U(±1/√fan_in), rarely all zero
        assert_uniform(m.weight, 1 / math.sqrt(fan_in), layer_name)
        if m.bias is not None and m.bias.numel() > 4:
            assert torch.count_nonzero(m.bias) > 0, layer_name


@pytest.mark.parametrize("init", ["reference", "torch"])
def test_initialisation_is_seeded(init):
    a, b = build("hybridsn_cbam", init=init, seed=3), build("hybridsn_cbam", init=init, seed=3)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    c = build("hybridsn_cbam", init=init, seed=4)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


def test_unknown_init_is_refused():
    with pytest.raises(ModelError, match="init must be one of reference, torch"):
        build("hybridsn", init="glorot")
    with pytest.raises(ConfigError, match="init must be one of reference, torch"):
        TrainConfig(dataset="indian_pines", init="kaiming").validate()


def test_every_model_names_its_rule():
    from hsi.models import list_models, model_class

    rules = {name: model_class(name).reference_init for name in list_models()}
    assert rules["hybridsn"] == "keras" and rules["hybridsn_cbam"] == "keras+cbam"
    assert rules["mobilenet_v1"] == "tf_slim" and rules["mobilenet_v2"] == "torchvision"
    assert rules["shufflenet_v1"] == rules["shufflenet_v2"] == "megvii"


# ---- channels-last backbones -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v1", "shufflenet_v2"]
)
def test_channels_last_gives_the_default_layouts_outputs(name):
    model = build(name, patch=13)
    assert model.channels_last
    assert model.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    plain = build(name, patch=13)
    plain.channels_last = False
    plain.to(memory_format=torch.contiguous_format)
    assert plain.features[0][0].weight.is_contiguous()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, K, 13, 13, generator=g), torch.randint(0, 16, (16,), generator=g)
    # a few steps first: at initialisation the outputs are ~1e-8 and compare nothing
    optimizer = torch.optim.Adam(plain.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(plain(x), y).backward()
        optimizer.step()
    model.load_state_dict(plain.state_dict())
    model.eval(), plain.eval()
    with torch.no_grad():
        a, b = model(x), plain(x)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    model.train(), plain.train()
    losses = []
    for m in (model, plain):
        torch.manual_seed(0)  # the same dropout mask
        losses.append(nn.functional.cross_entropy(m(x), y))
    assert math.isclose(losses[0].item(), losses[1].item(), rel_tol=1e-4)
