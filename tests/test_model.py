"""Generator shapes, hint input and configuration validation."""

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
