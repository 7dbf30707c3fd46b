"""Objectives compose, read the right layers, and each one rises under ascent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import (
    Dreamer,
    channel_energy,
    class_logit,
    guide_match,
    image_to_tensor,
    layer_energy,
    objective_from_settings,
)
from dreamvideo.errors import ConfigError, ModelError

from ..conftest import photo


def acts():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(1, 4, 3, 3, generator=g), "b": torch.randn(1, 2, 5, 5, generator=g)}


def test_energy_is_mean_square():
    a = acts()
    assert torch.isclose(layer_energy("a")(a), a["a"].pow(2).mean())
    assert torch.isclose(channel_energy("a", [1, 3])(a), a["a"][:, [1, 3]].pow(2).mean())


def test_composition_arithmetic_names_and_layers():
    a = acts()
    ea, eb = layer_energy("a"), layer_energy("b")
    combo = ea + 0.5 * eb - ea
    assert torch.isclose(combo(a), 0.5 * eb(a))
    assert combo.layers == ("a", "b")
    assert combo.name == "energy(a) + 0.5*energy(b) + -1*energy(a)"
    assert torch.isclose((-ea)(a), -ea(a))
    assert (ea + class_logit(3)).layers == ("a",)
    assert (ea + class_logit(3)).uses_logits


def test_channel_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="channel 9 is out of range"):
        channel_energy("a", [9])(acts())


def test_from_settings_weighted_layers_and_channels(lite0):
    obj = objective_from_settings(DreamSettings(layers="blocks.10:1,blocks.6:0.5"), lite0)
    assert obj.layers == ("blocks.10", "blocks.6")
    assert "0.5*energy(blocks.6)" in obj.name
    obj = objective_from_settings(DreamSettings(channels="1,3-4"), lite0)
    assert obj.name == f"energy({lite0.default_layer}[1,3,4])"
    assert objective_from_settings(DreamSettings(), lite0).name == f"energy({lite0.default_layer})"


def test_from_settings_unknown_layer_lists_what_exists(lite0):
    with pytest.raises(ModelError, match="unknown layer 'blocks.99'") as info:
        objective_from_settings(DreamSettings(layers="blocks.99"), lite0)
    assert info.value.hint


@pytest.mark.parametrize(
    "make",
    [
        lambda m: channel_energy("blocks.6", [0, 5, 17]),
        lambda m: class_logit(285),
        lambda m: layer_energy("stem") + 0.5 * layer_energy("blocks.4"),
    ],
    ids=["channels", "logit", "weighted-sum"],
)
def test_each_objective_rises(lite0, make):
    dreamer = Dreamer(lite0, make(lite0), DreamSettings(octaves=1, steps=1, jitter=4))
    x = image_to_tensor(photo("coffee", (96, 96)))
    before = dreamer.value(x)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = dreamer.step(x, rng)
    assert dreamer.value(x) > before + 0.1 * abs(before)


def test_guide_pulls_features_towards_the_guide(lite0):
    guide = image_to_tensor(photo("chelsea", (96, 96)))
    source = image_to_tensor(photo("rocket", (96, 96)))
    layer = "blocks.6"
    obj = objective_from_settings(DreamSettings(layers=layer), lite0, guide_image=guide)
    assert obj.name == f"guide({layer})"
    dreamed = Dreamer(lite0, obj, DreamSettings(octaves=2, steps=6)).dream(source)

    def similarity(image):
        with torch.no_grad():
            f = lite0.activations(image, [layer])[layer].mean(dim=(2, 3))
            g = lite0.activations(guide, [layer])[layer].mean(dim=(2, 3))
        return float(torch.nn.functional.cosine_similarity(f, g))

    assert similarity(dreamed) > similarity(source) + 0.05
    assert guide_match(layer, torch.zeros(1, 3, 2, 2)).layers == (layer,)
