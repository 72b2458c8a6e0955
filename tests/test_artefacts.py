"""The shipped checkpoints load with their typed configs, which round-trip to the saved dicts."""
import pytest
import torch

from course_lib import artefacts, train, unet
from course_lib.runtime import DATA_DIR


@pytest.mark.parametrize("name", list(artefacts.ARTEFACTS))
def test_config_is_typed_and_round_trips(name):
    loaded = artefacts.load(name)
    model, config, losses = loaded                       # still unpacks as a 3-tuple
    assert loaded.model is model and loaded.config is config and loaded.losses is losses
    assert type(config).__name__ == artefacts.ARTEFACTS[name].config
    saved = torch.load(DATA_DIR / artefacts.ARTEFACTS[name].file, weights_only=True)["config"]
    assert config.asdict() == saved and type(config).from_dict(saved) == config


def test_builders_take_a_config_or_a_dict():
    from_config, from_dict = unet.build(train.UNET_CONFIG), unet.build(train.UNET_CONFIG.asdict())
    assert [p.shape for p in from_config.parameters()] == [p.shape for p in from_dict.parameters()]
    with pytest.raises(TypeError, match="no field 'bass'"):
        unet.UNetConfig.from_dict({"bass": 16})
    assert train.UNET_CONFIG["base"] == train.UNET_CONFIG.base == 16  # dict-style read kept
