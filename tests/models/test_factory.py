"""models/factory.py: networks built from their architecture names."""

import pytest

from dreambridge.models.crepe import CrepeNet
from dreambridge.models.factory import build_model
from dreambridge.models.nets import RawAudioNet


@pytest.mark.parametrize("arch", ["model1", "model2", "ardila6"])
def test_raw_audio_architectures(arch):
    net = build_model(arch, 5, sample_rate=48000)
    assert isinstance(net, RawAudioNet)
    assert (net.arch, net.n_classes, net.sample_rate) == (arch, 5, 48000)


def test_crepe_names_give_the_adapter_at_its_fixed_shape():
    net = build_model("crepe-tiny", 7)
    assert isinstance(net, CrepeNet) and (net.n_classes, net.sample_rate) == (360, 16000)  # 360 pitch bins, 16 kHz


def test_an_unknown_architecture_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown architecture 'model3'; choose one of"):
        build_model("model3", 2)
