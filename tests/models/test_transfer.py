"""Transfer learning that runs by name, offline: a CIFAR-10 backbone pretrained once and cached, ImageNet
weights only where Keras has them, any keras.applications network by name, fine-tuning by name or count."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.errors import ModelError
from kerasforge.models.zoo.transfer import FineTune, find_base, transfer


@pytest.fixture
def backbone_cache(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("KFORGE_DATA_DIR", str(shared_data))
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KFORGE_OFFLINE", "1")
    from kerasforge.console import set_quiet

    set_quiet(False)
    return tmp_path / "cache" / "backbones"


@pytest.mark.slow
def test_auto_offline_pretrains_a_cifar10_backbone_once_then_reuses_it(backbone_cache, capsys):
    tiny = {"examples": 60, "epochs": 1}
    model = transfer((32, 32, 3), 2, weights="auto", alpha=0.35, pretrain=tiny, augment=False)
    said = capsys.readouterr()
    assert "pretrained on CIFAR-10 first" in said.out + said.err
    (cached,) = backbone_cache.glob("MobileNetV2-*.weights.h5")
    base = find_base(model)
    assert base.name == "base_cifar10" and not base.trainable
    fresh = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    fresh.load_weights(cached)
    for mine, theirs in zip(base.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))  # the cached weights, not random
    again = transfer((64, 64, 3), 2, weights="cifar10", alpha=0.35, pretrain=tiny, augment=False)
    said = capsys.readouterr()
    assert "reusing the MobileNetV2 backbone" in said.out + said.err  # any image size, same weights
    assert find_base(again).count_params() == base.count_params()


def test_imagenet_weights_offline_are_a_clear_error(monkeypatch):
    monkeypatch.setenv("KFORGE_OFFLINE", "1")
    with pytest.raises(ModelError, match="ImageNet weights for VGG16") as caught:
        transfer((32, 32, 3), 2, application="VGG16", weights="imagenet")
    assert "cifar10" in caught.value.message and "weights file" in caught.value.message


def test_networks_by_name_with_their_own_input_scaling():
    x = np.full((1, 32, 32, 3), 0.5, dtype="float32")
    vgg = transfer((32, 32, 3), 3, application="VGG16", weights="random", augment=False)
    caffe = vgg.get_layer("to_caffe_bgr")
    rgb = np.zeros((1, 1, 1, 3), dtype="float32")
    rgb[..., 0] = 1.0  # pure red at full scale -> BGR: the last channel is 255 - its mean
    np.testing.assert_allclose(np.asarray(caffe(rgb))[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-3)
    assert vgg.predict(x, verbose=0).shape == (1, 3)
    efficient = transfer((32, 32, 3), 2, application="EfficientNetB0", weights="random", augment=False)
    assert efficient.get_layer("to_0_255") is not None and find_base(efficient).name == "base_random"
    with pytest.raises(ModelError, match="Did you mean 'ResNet50'"):
        transfer((32, 32, 3), 2, application="ResNet5O", weights="random")


def test_fine_tune_by_layer_name_pattern_on_any_nested_base():
    model = transfer((32, 32, 3), 2, weights="random", alpha=0.35, augment=False)
    model.get_layer("base_random").name = "my_backbone"  # no base_ prefix: found as the largest nested model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    tune = FineTune(at_epoch=0, pattern=r"^block_16_|^Conv_1$", learning_rate=1e-4)
    x = np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 3)).astype("float32")
    model.fit(x, np.arange(8) % 2, epochs=1, batch_size=8, callbacks=[tune], verbose=0)
    base = find_base(model)
    unfrozen = {layer.name for layer in base.layers if layer.trainable and layer.weights}
    assert unfrozen and all(n.startswith("block_16_") or n == "Conv_1" for n in unfrozen)
    assert not any("_BN" in n or n.endswith("bn") for n in unfrozen)
    with pytest.raises(ModelError, match="not a regular expression"):
        FineTune(pattern="block_(")
