"""Models: registry and options, faithful architectures, attention, dense HybridSN evaluation."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hsi import models
from hsi.errors import HSIError, ModelError
from hsi.models import count_parameters, create_model, list_models, model_options
from hsi.models.attention import CBAM, SqueezeExcitation
from hsi.models.shufflenet import channel_shuffle
from hsi.models.summary import model_summary

# the networks (trained by gradient); the registry also holds the "svm" baseline
ALL_MODELS = [
    "hybridsn",
    "hybridsn_cbam",
    "hybridsn_se",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "shufflenet_v1",
    "shufflenet_v2",
    "ssftt",
]

# Trainable parameters for k=30, p=25, K=16 with default options. HybridSN's is the published
# 5,122,176. The others were checked against the reference ImageNet counts by building them
# with 3 input channels and 1000 classes (MobileNet V1 4,231,976, V2 3,504,872, V3-Large
# 5,483,032, ShuffleNet V2 1× 2,278,604; V3-Small is torchvision's 2,542,856 plus the SE that the
# paper's Table 2 puts on its last 1×1 conv). A change here means the architecture changed.
PARAMS_K30_P25_K16 = {
    "hybridsn": 5_122_176,
    # CBAM's spatial gate as in its authors' code: a bias-free conv and a BatchNorm (2 params)
    "hybridsn_cbam": 5_164_360,
    "hybridsn_se": 5_164_260,
    "mobilenet_v1": 3_231_152,
    "mobilenet_v2": 2_252_144,
    "mobilenet_v3_large": 4_226_416,
    "mobilenet_v3_small": 1_704_752,
    "shufflenet_v1": 925_936,
    "shufflenet_v2": 1_275_836,
    # the authors' 153,224 at k=30 whatever p (tests/test_ssftt.py)
    "ssftt": 153_224,
}

IMAGENET_PARAMS = {
    "mobilenet_v1": 4_231_976,
    "mobilenet_v2": 3_504_872,
    "mobilenet_v3_large": 5_483_032,
    "mobilenet_v3_small": 2_542_856 + 166_608,
    "shufflenet_v2": 2_278_604,
}

K = 15  # PCA components for the quick tests (HybridSN needs at least 13)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches (conftest.py)


def batch(n: int, bands: int = K, patch: int = 25, n_classes: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, bands, patch, patch, generator=g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


# ---- registry ---------------------------------------------------------------------------------


def test_registry_lists_every_model():
    assert list_models() == sorted([*ALL_MODELS, "svm"])


def test_model_options_and_defaults():
    assert model_options("hybridsn") == {"dropout": 0.4}
    assert model_options("hybridsn_se") == {"reduction": 16, "dropout": 0.4}
    assert model_options("shufflenet_v1") == {"groups": 3, "width": 1.0, "dropout": 0.0}
    for name in ALL_MODELS:
        if name.startswith(("mobilenet", "shufflenet")):
            assert model_options(name)["width"] == 1.0


def test_unknown_model_names_the_choices():
    with pytest.raises(ModelError, match=r"unknown model 'resnet'; choose one of: hybridsn, "):
        create_model("resnet", n_components=30, patch=25, n_classes=16)
    with pytest.raises(ModelError, match="unknown model"):
        model_options("resnet")


def test_unknown_option_names_it_and_the_known_ones():
    with pytest.raises(ModelError, match=r"no option 'groups'.*width=1\.0, dropout=0\.2"):
        create_model("mobilenet_v2", n_components=30, patch=25, n_classes=16, groups=3)
    with pytest.raises(ModelError, match=r"no option 'width'.*dropout=0\.4"):
        create_model("hybridsn", n_components=30, patch=25, n_classes=16, width=2.0)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("mobilenet_v1", {"width": 0}),
        ("mobilenet_v2", {"width": -0.5}),
        ("mobilenet_v3_small", {"width": float("nan")}),
        ("shufflenet_v2", {"width": "wide"}),
        ("shufflenet_v1", {"width": 0.0}),
        ("shufflenet_v1", {"groups": 5}),
        ("shufflenet_v1", {"groups": 0}),
        ("shufflenet_v1", {"groups": True}),
        ("hybridsn_se", {"reduction": 0}),
        ("hybridsn_cbam", {"reduction": 2.5}),
        ("hybridsn", {"dropout": 1.0}),
    ],
)
def test_bad_option_values(name, options):
    with pytest.raises(ModelError):
        create_model(name, n_components=30, patch=25, n_classes=16, **options)


@pytest.mark.parametrize("field", ["n_components", "patch", "n_classes"])
def test_bad_dimensions(field):
    dims = {"n_components": 30, "patch": 25, "n_classes": 16, field: 0}
    with pytest.raises(ModelError, match=field):
        create_model("mobilenet_v2", **dims)


def test_bands_is_the_old_name_of_n_components():
    old = create_model("mobilenet_v3_small", bands=12, patch=9, n_classes=3)
    assert old.n_components == old.bands == 12
    with pytest.raises(ModelError, match="n_components"):
        create_model("mobilenet_v3_small", patch=9, n_classes=3)


def test_model_errors_are_hsi_errors():
    assert issubclass(ModelError, HSIError)


def test_wrong_input_shape_is_a_model_error():
    model = create_model("mobilenet_v3_small", n_components=K, patch=25, n_classes=4)
    with pytest.raises(ModelError, match=r"\(N, 15, 25, 25\)"):
        model(torch.zeros(2, K + 1, 25, 25))


# ---- every model ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_MODELS)
def test_parameter_count(name):
    model = create_model(name, n_components=30, patch=25, n_classes=16)
    assert count_parameters(model) == PARAMS_K30_P25_K16[name]


DOCS_MODELS = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def test_the_docs_model_table_is_the_registrys():
    # docs/models.md's first table (name, options, parameters, multiply-adds) once kept a
    # parameter count that a later change to CBAM had made stale; it must follow the code
    if not DOCS_MODELS.exists():
        pytest.skip("docs/ is not beside the tests (an installed package)")
    text = DOCS_MODELS.read_text(encoding="utf-8")
    table = text[text.index("| name ") :].split("\n\n")[0]
    rows = {}
    for line in table.splitlines():
        m = re.fullmatch(r"\|\s*`(\w+)`\s*\|([^|]*)\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|", line)
        if m:
            rows[m[1]] = (m[2].strip(), int(m[3].replace(",", "")), int(m[4].replace(",", "")))
    assert sorted(rows) == ALL_MODELS
    for name, (options, params, macs) in rows.items():
        summary = model_summary(name, n_components=30, patch=25, n_classes=16, repeats=0)
        defaults = ", ".join(f"{k}={v}" for k, v in model_options(name).items())
        expected = (f"`{defaults}`", summary["params"], summary["macs"])
        assert (options, params, macs) == expected, name


@pytest.mark.parametrize("name", sorted(IMAGENET_PARAMS))
def test_imagenet_configuration_matches_reference_counts(name):
    # The blocks are the published ones: with 3 input channels and 1000 classes the parameter
    # count is the reference implementation's (strides do not change parameter counts).
    model = create_model(name, n_components=3, patch=25, n_classes=1000)
    assert count_parameters(model) == IMAGENET_PARAMS[name]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name, n_components=K, patch=25, n_classes=4)
    x, y = batch(4)
    logits = model(x)
    assert logits.shape == (4, 4) and logits.dtype == torch.float32
    loss = F.cross_entropy(logits, y)
    assert torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        # DistributedDataParallel copies gradients into buckets laid out like the parameters
        # and warns when they differ ("grad strides do not match bucket view strides")
        assert p.grad.stride() == p.stride(), pname
    # a last batch of one sample (training pixels ≡ 1 modulo the batch size) too, and a copy
    # of the model (copy.deepcopy drops tensor hooks)
    for net in (model, copy.deepcopy(model)):
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[:1]), y[:1]).backward()
        for pname, p in net.named_parameters():
            assert p.grad is None or p.grad.stride() == p.stride(), pname


@pytest.mark.parametrize("name", ALL_MODELS)
def test_can_fit_a_small_batch(name):
    # Eight noisy copies of four class templates. Dropout is off: this checks that gradients
    # reach every part of the network and move it, not how well it regularises.
    torch.manual_seed(0)
    model = create_model(name, n_components=K, patch=25, n_classes=4, dropout=0.0)
    g = torch.Generator().manual_seed(1)
    y = torch.arange(8) % 4
    x = torch.randn(4, K, 25, 25, generator=g)[y] + 0.5 * torch.randn(8, K, 25, 25, generator=g)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", ALL_MODELS)
def test_eval_mode_is_deterministic_and_per_sample(name):
    torch.manual_seed(0)
    model = create_model(name, n_components=K, patch=25, n_classes=4).eval()
    x, _ = batch(3)
    with torch.inference_mode():
        first, second = model(x), model(x)
        alone = model(x[1:2])
    assert torch.equal(first, second)
    # batch norm uses running statistics and dropout is off: a patch's logits do not depend on
    # the rest of the batch
    torch.testing.assert_close(alone, first[1:2], rtol=1e-4, atol=1e-5)


DENSE_MODELS = {"hybridsn", "hybridsn_se", "hybridsn_cbam", "ssftt"}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_supports_dense_flag(name):
    model = create_model(name, n_components=K, patch=25, n_classes=4)
    # the 2-D backbones stride and pad: a window's features are not a crop of the scene's
    assert model.supports_dense is (name in DENSE_MODELS)
    if not model.supports_dense:
        with pytest.raises(ModelError, match="dense"):
            model.eval().dense_logits(torch.zeros(K, 30, 30))


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large"])
def test_width_multiplier(name):
    narrow = create_model(name, n_components=K, patch=25, n_classes=4, width=0.5)
    wide = create_model(name, n_components=K, patch=25, n_classes=4, width=1.25)
    base = create_model(name, n_components=K, patch=25, n_classes=4)
    assert count_parameters(narrow) < count_parameters(base) < count_parameters(wide)
    assert narrow.eval()(batch(2)[0]).shape == (2, 4)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_shufflenet_v1_groups(groups):
    model = create_model("shufflenet_v1", n_components=K, patch=25, n_classes=4, groups=groups)
    assert model.eval()(batch(2)[0]).shape == (2, 4)


@pytest.mark.parametrize("width", [0.5, 0.75, 1.5, 2.0])
def test_shufflenet_widths(width):
    for name in ("shufflenet_v1", "shufflenet_v2"):
        model = create_model(name, n_components=K, patch=25, n_classes=4, width=width)
        assert model.eval()(batch(2)[0]).shape == (2, 4)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_other_patch_sizes(name):
    patch = 11
    model = create_model(name, n_components=K, patch=patch, n_classes=3).eval()
    assert model(batch(2, patch=patch)[0]).shape == (2, 3)


# ---- channel shuffle --------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    groups=st.integers(1, 8),
    per_group=st.integers(1, 8),
    batch_size=st.integers(1, 3),
    side=st.integers(1, 3),
)
def test_channel_shuffle_is_the_transpose_permutation(groups, per_group, batch_size, side):
    channels = groups * per_group
    x = torch.randn(batch_size, channels, side, side)
    shuffled = channel_shuffle(x, groups)
    # output channel n·g + i is input channel i·(C/g) + n: (g, n) → (n, g)
    for i in range(groups):
        for n in range(per_group):
            assert torch.equal(shuffled[:, n * groups + i], x[:, i * per_group + n])
    # the transposed grouping undoes it
    assert torch.equal(channel_shuffle(shuffled, per_group), x)


def test_channel_shuffle_example():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_channel_shuffle_rejects_indivisible_groups():
    with pytest.raises(ModelError):
        channel_shuffle(torch.zeros(1, 6, 2, 2), 4)


# ---- attention --------------------------------------------------------------------------------


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_squeeze_excitation(gate):
    torch.manual_seed(0)
    se = SqueezeExcitation(64, reduction=16, gate=gate)
    x = torch.randn(2, 64, 7, 5) * 10  # large inputs push the gates to their limits
    assert se(x).shape == x.shape
    weights = se.attention_weights(x)
    assert weights.shape == (2, 64)
    assert ((weights >= 0) & (weights <= 1)).all()
    torch.testing.assert_close(se(x), x * weights[:, :, None, None])


def test_squeeze_excitation_hidden_width():
    assert SqueezeExcitation(64).fc1.out_features == 8  # 64 / 16 = 4, raised to the floor of 8
    assert SqueezeExcitation(576).fc1.out_features == 36
    assert SqueezeExcitation(576, hidden=144).fc1.out_features == 144


def test_cbam():
    torch.manual_seed(0)
    cbam = CBAM(48)
    x = torch.randn(3, 48, 9, 9) * 10
    assert cbam(x).shape == x.shape
    channel, spatial = cbam.attention_weights(x)
    assert channel.shape == (3, 48) and spatial.shape == (3, 1, 9, 9)
    for w in (channel, spatial):
        assert ((w >= 0) & (w <= 1)).all()
    torch.testing.assert_close(cbam(x), x * channel[:, :, None, None] * spatial)


# ---- HybridSN -----------------------------------------------------------------------------------


def test_hybridsn_published_layers():
    model = create_model("hybridsn", n_components=30, patch=25, n_classes=16)
    assert count_parameters(model) == 5_122_176
    assert model.conv2d.in_channels == 32 * 18
    assert model.fc1.in_features == 64 * 17 * 17
    assert model.dropout.p == 0.4


@pytest.mark.parametrize(
    ("bands", "patch", "message"),
    [
        (12, 25, "at least 13"),
        (30, 7, "at least 9"),
        (30, 24, "odd"),
        (15, 10, "odd"),
    ],
)
def test_hybridsn_rejects_too_small_or_even(bands, patch, message):
    with pytest.raises(ModelError, match=message):
        create_model("hybridsn", n_components=bands, patch=patch, n_classes=16)


def test_hybridsn_smallest_input_works():
    model = create_model("hybridsn", n_components=13, patch=9, n_classes=3).eval()
    assert model(torch.randn(2, 13, 9, 9)).shape == (2, 3)


def all_windows(model, tile: torch.Tensor) -> torch.Tensor:
    """forward() on every p×p window of a (k, H, W) tile, as (K, H−p+1, W−p+1)."""
    p = model.patch
    windows = tile.unfold(1, p, 1).unfold(2, p, 1)  # (k, H', W', p, p)
    rows, cols = windows.shape[1:3]
    with torch.inference_mode():
        logits = model(windows.permute(1, 2, 0, 3, 4).reshape(-1, tile.shape[0], p, p))
    return logits.T.reshape(-1, rows, cols)


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize(
    ("patch", "method"), [(11, "auto"), (11, "direct"), (11, "fft"), (9, "fft"), (13, "fft")]
)
def test_dense_logits_match_every_window(patch, method):
    torch.manual_seed(0)
    model = create_model("hybridsn", n_components=15, patch=patch, n_classes=5).eval()
    half = patch // 2
    # a zero-padded 10×7 scene, as the caller pads it
    tile = F.pad(torch.randn(15, 10, 7), (half, half, half, half))
    with torch.inference_mode():
        dense = model.dense_logits(tile, method=method)
        batched = model.dense_logits(tile[None], method=method)
    assert dense.shape == (5, 10, 7)
    expected = all_windows(model, tile)
    assert expected.std() > 0  # windows differ, so a misplaced window would show
    close(dense, expected)
    close(batched, expected)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_dense_logits_published_size(method):
    # k=30, p=25: the FFT path splits this 40×36 output into 2×2 overlap-save blocks, so the
    # windows checked sit in every block, on block seams and at the corners.
    torch.manual_seed(0)
    model = create_model("hybridsn", n_components=30, patch=25, n_classes=16).eval()
    tile = torch.randn(30, 64, 60)
    with torch.inference_mode():
        dense = model.dense_logits(tile, method=method)
    assert dense.shape == (16, 40, 36)
    spots = [(0, 0), (39, 35), (0, 35), (39, 0), (31, 31), (32, 32), (31, 32), (17, 5), (36, 20)]
    windows = torch.stack([tile[:, i : i + 25, j : j + 25] for i, j in spots])
    with torch.inference_mode():
        expected = model(windows)
    close(torch.stack([dense[:, i, j] for i, j in spots]), expected)


def test_dense_logits_follow_weight_changes():
    # the cached kernel spectrum must not outlive the weights it was computed from
    torch.manual_seed(0)
    model = create_model("hybridsn", n_components=15, patch=25, n_classes=3).eval()
    tile = torch.randn(15, 40, 40)
    with torch.inference_mode():
        before = model.dense_logits(tile, method="fft")
    with torch.no_grad():
        model.fc1.weight.mul_(2.0)
    with torch.inference_mode():
        after = model.dense_logits(tile, method="fft")
        expected = model(tile[None, :, 5:30, 7:32])[0]
    assert not torch.allclose(before, after)
    close(after[:, 5, 7], expected)
    # converting the model moves the weights to new storage: the spectrum follows
    model.double()
    with torch.inference_mode():
        converted = model.dense_logits(tile.double(), method="fft")
    assert converted.dtype == torch.float64
    close(converted.float(), after)


@pytest.mark.parametrize("name", sorted(DENSE_MODELS))
def test_dense_logits_refuses_training_mode(name):
    # batch norm (SSFTT) would use the tile's statistics, dropout would stay on
    model = create_model(name, n_components=15, patch=11, n_classes=5)
    with pytest.raises(ModelError, match="eval mode"):
        model.dense_logits(torch.zeros(15, 20, 20))


@pytest.mark.parametrize("name", sorted(DENSE_MODELS))
def test_dense_logits_rejects_bad_tiles(name):
    model = create_model(name, n_components=15, patch=11, n_classes=5).eval()
    for shape in [(14, 20, 20), (15, 10, 20), (2, 15, 20, 20), (15, 20)]:
        with pytest.raises(ModelError, match="dense_logits"):
            model.dense_logits(torch.zeros(shape))


def _with_batch_norm_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Running statistics away from (0, 1), so that eval-mode batch norm does act."""
    g = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            n = module.running_mean.numel()
            module.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model


@pytest.mark.parametrize("name", ["hybridsn_se", "hybridsn_cbam", "ssftt"])
# windows per batch: all 70 at once, two of the 7-wide rows, part of a row, one by one
@pytest.mark.parametrize("per_batch", [None, 14, 3, 1])
def test_shared_feature_dense_logits_match_every_window(name, per_batch, monkeypatch):
    """The attention variants and SSFTT share their first convolutions between windows and run
    the rest per window: the same logits as ``forward`` on each window, in any batching."""
    torch.manual_seed(0)
    model = create_model(name, n_components=15, patch=11, n_classes=5)
    model = _with_batch_norm_statistics(model).eval()
    if per_batch is not None:
        features = model.shared_features(torch.zeros(1, 15, model.patch, model.patch))
        monkeypatch.setattr(models, "_DENSE_CROP_ELEMENTS", per_batch * features.numel())
    tile = F.pad(torch.randn(15, 10, 7), (5, 5, 5, 5))
    with torch.inference_mode():
        dense = model.dense_logits(tile)
        batched = model.dense_logits(tile[None])
    assert dense.shape == (5, 10, 7)
    expected = all_windows(model, tile)
    assert expected.std() > 0
    close(dense, expected)
    close(batched, expected)


@pytest.mark.parametrize("name", ["hybridsn_se", "ssftt"])
def test_shared_feature_dense_logits_run_only_the_masked_windows(name, monkeypatch):
    """With a mask, only its windows go through the per-window layers (most of the work), so a
    sparsely labeled scene maps no slower densely than by patches; the others' logits are NaN."""
    torch.manual_seed(0)
    model = create_model(name, n_components=15, patch=11, n_classes=5).eval()
    tile = F.pad(torch.randn(15, 10, 7), (5, 5, 5, 5))
    mask = torch.zeros(10, 7, dtype=torch.bool)
    mask[[0, 3, 3, 9], [0, 2, 6, 6]] = True
    seen = []
    per_window = model.features_to_logits
    monkeypatch.setattr(model, "features_to_logits", lambda h: seen.append(len(h)) or per_window(h))
    with torch.inference_mode():
        dense = model.dense_logits(tile, mask=mask)
    assert sum(seen) == 4
    expected = all_windows(model, tile)
    close(dense[:, mask], expected[:, mask])
    assert dense[:, ~mask].isnan().all()
    with pytest.raises(ModelError, match="mask"):
        model.dense_logits(tile, mask=mask.T)


# ---- summary ----------------------------------------------------------------------------------


def test_model_summary_counts_hybridsn_exactly():
    summary = model_summary("hybridsn", repeats=1, batch=2, train_batch=2)
    assert set(summary) == {"name", "params", "macs", "ms_per_patch", "train_samples_per_s"}
    assert summary["name"] == "hybridsn" and summary["params"] == 5_122_176
    k, p, n = 30, 25, 16
    macs = (
        8 * (k - 6) * (p - 2) ** 2 * 7 * 9
        + 16 * (k - 10) * (p - 4) ** 2 * 8 * 5 * 9
        + 32 * (k - 12) * (p - 6) ** 2 * 16 * 3 * 9
        + 64 * (p - 8) ** 2 * 32 * (k - 12) * 9
        + 64 * (p - 8) ** 2 * 256
        + 256 * 128
        + 128 * n
    )
    assert summary["macs"] == macs
    assert summary["ms_per_patch"] > 0 and math.isfinite(summary["ms_per_patch"])
    assert summary["train_samples_per_s"] > 0 and math.isfinite(summary["train_samples_per_s"])


def test_model_summary_with_options():
    summary = model_summary(
        "shufflenet_v1", n_components=K, patch=11, n_classes=3, repeats=1, batch=2, groups=8
    )
    assert summary["params"] == count_parameters(
        create_model("shufflenet_v1", n_components=K, patch=11, n_classes=3, groups=8)
    )
    assert summary["macs"] > 0


def test_model_summary_without_timing():
    summary = model_summary("mobilenet_v3_small", n_components=K, patch=11, repeats=0)
    assert summary["ms_per_patch"] is None and summary["params"] > 0
    assert summary["train_samples_per_s"] is None


def test_model_summary_of_the_svm_has_no_figures_before_a_fit():
    summary = model_summary("svm", n_components=K, patch=1, repeats=1)
    assert summary == {
        "name": "svm",
        "params": None,
        "macs": None,
        "ms_per_patch": None,
        "train_samples_per_s": None,
    }
