"""Typed config: presets parse, overrides coerce, bad values name the flag."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("yaml")

from irodori.config import ConfigError, config_from_dict, config_to_dict, load_config, parse_overrides, preset_names  # noqa: E402


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_parses(name):
    cfg = load_config(name)
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_overrides_are_typed():
    cfg = load_config("tiny", ["--data.crop_size=96", "--optim.lr", "0.01", "--model.channels=8,16", "--model.enc_blocks=1,1", "--model.dec_blocks=1"])
    assert cfg.data.crop_size == 96 and isinstance(cfg.data.crop_size, int)
    assert cfg.optim.lr == 0.01
    assert cfg.model.channels == (8, 16)
    written_as_yaml = load_config("tiny", ["--model.channels=[8, 16]", "--model.enc_blocks=[1,1]",
                                           "--model.dec_blocks=[1]"])
    assert written_as_yaml.model.channels == (8, 16) and written_as_yaml.model.dec_blocks == (1,)


@pytest.mark.parametrize("override,message", [
    (["--data.crop_size=100"], "data.crop_size"),
    (["--optim.lr=-1"], "optim.lr"),
    (["--data.manga_prob=2"], "data.manga_prob"),
    (["--steps=abc"], "steps"),
    (["--nope=1"], "unknown config key 'nope'; known: "),
    (["--optim.lrr=0.1"], "unknown config key 'optim.lrr'; did you mean 'optim.lr'"),  # a typo gets a guess
    (["--step=10"], "did you mean 'steps'"),
    (["--optim.schedule=linear"], "optim.schedule"),
    (["--encoder_bn=fixed"], "encoder_bn must be"),
    (["--threads=-1"], r"threads must be >= 0 \(0: torch's own choice\), not -1"),  # torch's traceback: helper 74
    (["--encoder_bn=frozen", "--model.encoder=efficientnet-lite0", "--model.channels=[8,8,8,8,8]",
      "--model.enc_blocks=[1,1,1,1,1]", "--model.dec_blocks=[1,1,1,1]", "--encoder_init=scratch"],
     "statistics it freezes must be learnt"),
    (["--model.encoder=efficientnet-lite0"], r"^model.encoder=efficientnet-lite0 has 5 levels"),  # named once
])
def test_bad_values_name_the_flag(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", override)


def test_parse_overrides_needs_values():
    assert parse_overrides(["--a.b=1", "--c", "2"]) == {"a": {"b": "1"}, "c": "2"}
    with pytest.raises(ConfigError):
        parse_overrides(["--a.b"])
    with pytest.raises(ConfigError):
        parse_overrides(["positional"])


def test_unknown_preset_is_clear():
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("no-such-preset")
