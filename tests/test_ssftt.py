"""SSFTT: shapes, the authors' size and initialisation, bad sizes, and a run through the app.

The reference is the authors' code, github.com/zgr6010/HSI_SSFTT, cls_SSFTT_IP/SSFTTnet.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_config
from torch import nn
from typer.testing import CliRunner

from hsi.bundle import ModelBundle
from hsi.cli import app
from hsi.errors import ModelError
from hsi.models import count_parameters, create_model, model_class, model_options
from hsi.models.ssftt import SSFTT
from hsi.models.summary import model_summary

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches (conftest.py)


def build(
    n_components: int = 30, patch: int = 13, n_classes: int = 16, seed: int = 0, **kw
) -> SSFTT:
    torch.manual_seed(seed)
    return create_model("ssftt", n_components=n_components, patch=patch, n_classes=n_classes, **kw)


# ---- architecture -----------------------------------------------------------------------------


def test_registered_with_the_authors_defaults():
    cls = model_class("ssftt")
    assert cls is SSFTT
    assert (cls.default_patch, cls.default_pca, cls.min_patch, cls.min_components) == (13, 30, 5, 3)
    assert cls.reference_init == "ssftt" and cls.shared_margin == 4
    assert model_options("ssftt") == {
        "tokens": 4,
        "dim": 64,
        "depth": 1,
        "heads": 8,
        "mlp_dim": 8,
        "dropout": 0.1,
        "emb_dropout": 0.1,
    }


@pytest.mark.parametrize(
    ("n", "n_components", "patch", "classes"),
    [(1, 30, 13, 16), (3, 30, 13, 16), (2, 15, 11, 4), (5, 3, 5, 2), (2, 8, 25, 9)],
)
def test_output_shape(n, n_components, patch, classes):
    model = build(n_components, patch, classes).eval()
    with torch.inference_mode():
        logits = model(torch.randn(n, n_components, patch, patch))
    assert logits.shape == (n, classes) and logits.dtype == torch.float32
    assert model.tokenize(torch.randn(n, n_components, patch, patch)).shape == (n, 4, 64)


def test_parameter_count_is_the_authors():
    # k = 30, p = 13, K = 16, layer by layer as in SSFTTnet.py:
    #   Conv3d 1→8, 3×3×3, bias           8·27 + 8            =     224
    #   BatchNorm3d(8)                    2·8                 =      16
    #   Conv2d 8·28=224 → 64, 3×3, bias   64·224·9 + 64       = 129,088
    #   BatchNorm2d(64)                   2·64                =     128
    #   token_wA (1, 4, 64), token_wV (1, 64, 64)   256 + 4,096 =   4,352
    #   pos_embedding (1, 5, 64), cls_token (1, 1, 64) 320 + 64 =     384
    #   encoder: LayerNorm 128, to_qkv 64·192 + 192 = 12,480, out Linear 64·64 + 64 = 4,160,
    #            LayerNorm 128, MLP 64·8 + 8 = 520 and 8·64 + 64 = 576         =  17,992
    #   Linear 64 → 16                    64·16 + 16          =   1,040
    #                                                  total  = 153,224
    # which is also the number of trainable values in the authors' trained state dict
    # (cls_SSFTT_IP/cls_params/SSFTTnet_params.pth, without the batch norms' running stats).
    model = build()
    assert count_parameters(model) == 153_224
    assert model.conv2d[0].in_channels == 8 * 28
    assert model.token_wa.shape == (1, 4, 64) and model.token_wv.shape == (1, 64, 64)
    assert sum(p.numel() for p in model.blocks.parameters()) == 17_992
    # the tokenizer pools over the pixels: the size does not depend on the window
    assert count_parameters(build(patch=25)) == 153_224


def test_multiply_adds_by_hand():
    k, p, n_cls, L, d = 30, 13, 16, 4, 64
    n = (p - 4) ** 2  # pixels after the two valid convs
    macs = (
        8 * (k - 2) * (p - 2) ** 2 * 27  # 3-D conv
        + 64 * n * 8 * (k - 2) * 9  # 2-D conv
        + n * 64 * L + n * 64 * d + L * n * d  # tokenizer: X·W_aᵀ, X·W_v, A·V
        + (L + 1) * d * 3 * d + 2 * (L + 1) ** 2 * d + (L + 1) * d * d  # attention
        + 2 * (L + 1) * d * 8  # MLP
        + d * n_cls  # classifier
    )  # fmt: skip
    assert (
        model_summary("ssftt", n_components=k, patch=p, n_classes=n_cls, repeats=0)["macs"] == macs
    )
    assert macs == 11_647_264


def test_too_small_or_wrong_sizes_are_model_errors():
    with pytest.raises(ModelError, match="ssftt needs a patch size of at least 5, got 3"):
        build(patch=3)
    with pytest.raises(ModelError, match="ssftt needs at least 3 PCA components"):
        build(n_components=2)
    with pytest.raises(ModelError, match="odd"):
        build(patch=12)
    with pytest.raises(ModelError, match=r"dim \(60\) must be divisible by heads \(8\)"):
        build(dim=60)
    for options in ({"tokens": 0}, {"depth": 1.5}, {"heads": True}, {"emb_dropout": 1.0}):
        with pytest.raises(ModelError):
            build(**options)
    with pytest.raises(ModelError, match=r"\(N, 30, 13, 13\)"):
        build()(torch.zeros(2, 30, 11, 11))


def test_options_change_the_transformer():
    model = build(tokens=6, dim=32, depth=2, heads=4, mlp_dim=16, dropout=0.0, emb_dropout=0.0)
    assert model.pos_embedding.shape == (1, 7, 32) and len(model.blocks) == 2
    assert model.tokenize(torch.randn(2, 30, 13, 13)).shape == (2, 6, 32)
    assert model.eval()(torch.randn(2, 30, 13, 13)).shape == (2, 16)


def test_tokens_are_softmax_weighted_averages_over_the_pixels():
    model = build(n_components=10, patch=9).eval()
    x = torch.randn(2, 10, 9, 9)
    with torch.no_grad():
        features = model.conv2d(model.conv3d(x.unsqueeze(1)).flatten(1, 2))  # (2, 64, 5, 5)
        pixels = features.flatten(2).transpose(1, 2)  # (2, 25, 64)
        tokens = model.tokenize(x)
        for i in range(2):
            for t in range(4):
                weights = torch.softmax(pixels[i] @ model.token_wa[0, t], dim=0)  # over pixels
                expected = weights @ (pixels[i] @ model.token_wv[0])
                torch.testing.assert_close(tokens[i, t], expected, rtol=1e-5, atol=1e-6)


def test_attention_scales_by_the_whole_width():
    # the authors' Attention: scale = dim ** -0.5 (1/8 at dim 64), not (dim / heads) ** -0.5
    model = build()
    assert model.blocks[0].attention.scale == 64**-0.5


# ---- initialisation ---------------------------------------------------------------------------


def authors_initial_weights(seed: int) -> list[torch.Tensor]:
    """The draws SSFTTnet.__init__ makes, in its order, with plain torch calls (k=30, K=16)."""
    torch.manual_seed(seed)
    conv3d, bn3d = nn.Conv3d(1, 8, 3), nn.BatchNorm3d(8)
    conv2d, bn2d = nn.Conv2d(8 * 28, 64, 3), nn.BatchNorm2d(64)
    wa = nn.init.xavier_normal_(torch.empty(1, 4, 64))
    wv = nn.init.xavier_normal_(torch.empty(1, 64, 64))
    pos = nn.init.normal_(torch.empty(1, 5, 64), std=0.02)
    cls = torch.zeros(1, 1, 64)
    qkv, out = nn.Linear(64, 192), nn.Linear(64, 64)
    ln1, fc1, fc2, ln2 = nn.LayerNorm(64), nn.Linear(64, 8), nn.Linear(8, 64), nn.LayerNorm(64)
    head = nn.Linear(64, 16)
    nn.init.xavier_uniform_(head.weight)
    nn.init.normal_(head.bias, std=1e-6)
    tensors = [conv3d.weight, conv3d.bias, bn3d.weight, bn3d.bias, conv2d.weight, conv2d.bias]
    tensors += [bn2d.weight, bn2d.bias, wa, wv, pos, cls, qkv.weight, qkv.bias, out.weight]
    tensors += [out.bias, ln1.weight, ln1.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias]
    return tensors + [ln2.weight, ln2.bias, head.weight, head.bias]


@pytest.mark.parametrize("seed", [0, 5])
def test_seeded_reference_init_draws_the_authors_weights(seed):
    model = build(seed=seed)
    ours = [model.conv3d[0].weight, model.conv3d[0].bias, model.conv3d[1].weight]
    ours += [model.conv3d[1].bias, model.conv2d[0].weight, model.conv2d[0].bias]
    ours += [model.conv2d[1].weight, model.conv2d[1].bias, model.token_wa, model.token_wv]
    ours += [model.pos_embedding, model.cls_token]
    block = model.blocks[0]
    ours += [block.attention.qkv.weight, block.attention.qkv.bias, block.attention.proj.weight]
    ours += [block.attention.proj.bias, block.norm1.weight, block.norm1.bias]
    ours += [block.mlp[0].weight, block.mlp[0].bias, block.mlp[3].weight, block.mlp[3].bias]
    ours += [block.norm2.weight, block.norm2.bias, model.head.weight, model.head.bias]
    assert len(ours) == len(list(model.parameters()))
    for i, (a, b) in enumerate(zip(ours, authors_initial_weights(seed), strict=True)):
        assert torch.equal(a.detach(), b.detach()), i


def spread_ok(weight: torch.Tensor, std: float, tol: float = 0.15) -> bool:
    w = weight.detach().double()
    return abs(w.std().item() / std - 1) < tol and abs(w.mean().item()) < 3 * std / w.numel() ** 0.5


def test_reference_init_layer_by_layer():
    model = build()
    # tokenizer: xavier_normal with the fans of the (1, L, 64) and (1, 64, dim) tensors:
    # fan_in = size(1)·64, fan_out = size(0)·64
    assert spread_ok(model.token_wa, math.sqrt(2 / (4 * 64 + 64)))  # 0.079
    assert spread_ok(model.token_wv, math.sqrt(2 / (64 * 64 + 64)), tol=0.05)  # 0.022
    assert spread_ok(model.pos_embedding, 0.02)
    assert torch.count_nonzero(model.cls_token) == 0
    # classifier: xavier_uniform, bias N(0, 1e-6): non-zero but tiny
    head = model.head
    bound = math.sqrt(6 / (64 + 16))
    assert head.weight.abs().max() <= bound and head.weight.abs().max() > 0.8 * bound
    assert 0 < head.bias.abs().max() < 1e-5
    # everything else keeps PyTorch's defaults: kaiming_uniform(a=√5) = U(±1/√fan_in) weights,
    # U(±1/√fan_in) biases, BN and LayerNorm γ = 1, β = 0
    layers = [model.conv3d[0], model.conv2d[0], *model.blocks[0].modules()]
    for layer in layers:
        if isinstance(layer, (nn.Conv3d, nn.Conv2d, nn.Linear)):
            fan_in = layer.weight[0].numel()
            assert layer.weight.abs().max() <= 1 / math.sqrt(fan_in)
            assert 0 < layer.bias.abs().max() <= 1 / math.sqrt(fan_in)
    norms = [model.conv3d[1], model.conv2d[1], model.blocks[0].norm1, model.blocks[0].norm2]
    for norm in norms:
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_torch_init_keeps_the_classifier_default_and_the_authors_tokens():
    reference, plain = build(seed=2), build(seed=2, init="torch")
    # bare parameters have no PyTorch default: the authors' draws under both options
    for name in ("token_wa", "token_wv", "pos_embedding", "cls_token", "conv2d.0.weight"):
        assert torch.equal(reference.state_dict()[name], plain.state_dict()[name]), name
    # PyTorch's Linear default: U(±1/8) weights and U(±1/8) biases
    assert plain.head.weight.abs().max() <= 1 / 8 < reference.head.weight.abs().max()
    assert plain.head.bias.abs().max() > 1e-3


@pytest.mark.parametrize("init", ["reference", "torch"])
def test_initialisation_is_seeded(init):
    a, b, c = build(seed=3, init=init), build(seed=3, init=init), build(seed=4, init=init)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert not torch.equal(a.token_wa, c.token_wa)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_eval_is_per_sample_and_training_moves_every_parameter():
    model = build(n_components=15, patch=9, n_classes=4).eval()
    x = torch.randn(3, 15, 9, 9)
    with torch.inference_mode():
        torch.testing.assert_close(model(x[1:2]), model(x)[1:2], rtol=1e-4, atol=1e-5)
    model.train()
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ---- through the app --------------------------------------------------------------------------


def test_train_run_and_predict_from_the_bundle(scene_file, tmp_path, monkeypatch):
    """`hsi train --model ssftt` then `hsi predict` with its bundle: the same map."""
    import hsi.experiment as experiment
    import hsi.stages as stages

    maps = []
    real = experiment.predict_indices

    def spy(*args, **kwargs):
        maps.append(real(*args, **kwargs))
        return maps[-1]

    monkeypatch.setattr(stages, "predict_indices", spy)  # the map of the training run
    monkeypatch.setattr(experiment, "predict_indices", spy)  # hsi predict
    config = tiny_config(scene_file, model="ssftt", patch=7, epochs=2)
    result = experiment.train_run(config, run_dir=tmp_path / "run")
    run = result.run_dir
    assert run.is_dir() and (run / "model.pt").is_file() and (run / "metrics.json").is_file()
    assert result.metrics["training"]["init_rule"] == "ssftt"
    assert result.metrics["training"]["epochs_run"] == 2

    bundle = ModelBundle.load(run / "model.pt")
    assert bundle.model_name == "ssftt" and bundle.patch == 7
    assert isinstance(bundle.build_model(), SSFTT)
    out = tmp_path / "map.png"
    experiment.predict_run(scene_file, out, bundle_path=run, cube_key="cube", device="cpu")
    assert len(maps) == 2
    trained_ids = np.asarray(bundle.class_ids)[maps[0]]
    np.testing.assert_array_equal(np.load(tmp_path / "map.npy"), trained_ids)


def test_hsi_models_lists_ssftt():
    res = CliRunner().invoke(app, ["models", "--no-timing", "--pca", "30", "--patch", "13"])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if "ssftt" in line)
    assert "153,224" in row and "does not fit" not in row


def test_its_defaults_fill_the_config(monkeypatch):
    """No --pca / --patch given: the model's own (SSFTT: 30 components, 13×13 windows)."""
    from hsi.config import TrainConfig

    config = TrainConfig(scene="x.npy", labels="x.npy", model="ssftt").validate()
    assert (config.pca, config.patch) == (30, 13)
    monkeypatch.setattr(SSFTT, "default_pca", 20)  # read from the model, not a global constant
    assert TrainConfig(scene="x.npy", labels="x.npy", model="ssftt").validate().pca == 20
    given = TrainConfig(scene="x.npy", labels="x.npy", model="ssftt", pca=15, patch=9).validate()
    assert (given.pca, given.patch) == (15, 9)
