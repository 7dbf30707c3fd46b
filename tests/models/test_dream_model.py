"""DreamModel: activations by layer name, gradients to the input, early stopping, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dreamvideo.errors import ModelError
from dreamvideo.models import DreamModel, dream_model, get_spec, layer_names, list_models, load_model


def test_attributes(lite0: DreamModel) -> None:
    assert lite0.name == "efficientnet-lite0"
    assert lite0.default_layer == "blocks.10"
    assert lite0.device == torch.device("cpu")
    assert lite0.layer_names() == layer_names("efficientnet-lite0")


def test_gradients_flow_to_the_input(lite0: DreamModel) -> None:
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    acts = lite0.activations(x, ["blocks.10"])
    acts["blocks.10"].square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(p.grad is None for p in lite0.network.parameters())


def test_stops_after_the_deepest_layer(lite0: DreamModel) -> None:
    ran = []
    handles = [
        lite0.network._blocks[4].register_forward_hook(lambda *_: ran.append("blocks.4")),
        lite0.network._conv_head.register_forward_hook(lambda *_: ran.append("conv_head")),
        lite0.network._fc.register_forward_hook(lambda *_: ran.append("fc")),
    ]
    x = torch.rand(1, 3, 64, 64)
    try:
        lite0.activations(x, ["stem"])
        assert ran == []
        lite0.activations(x, ["blocks.3", "stem"])
        assert ran == []
        lite0.activations(x, ["head"])
        assert ran == ["blocks.4", "conv_head"]
    finally:
        for handle in handles:
            handle.remove()
    # Our own hooks are registered once and kept (compile and CUDA graphs need a fixed module):
    # running again adds none, and they do nothing outside `activations`.
    counts = [len(m._forward_hooks) for m in lite0.network.modules()]
    lite0.activations(x, ["head", "blocks.3", "stem"])
    assert [len(m._forward_hooks) for m in lite0.network.modules()] == counts
    assert lite0.network(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_values_and_order(lite0: DreamModel) -> None:
    x = torch.rand(2, 3, 96, 80)
    acts = lite0.activations(x, ["head", "stem", "blocks.10", "stem"])
    assert list(acts) == ["head", "stem", "blocks.10"]
    with torch.no_grad():
        pooled = acts["head"].mean((2, 3))
        torch.testing.assert_close(lite0.network._fc(pooled), lite0.logits(x))
    torch.testing.assert_close(acts["stem"], lite0.activations(x, "stem")["stem"])


def test_non_square_odd_input(lite0: DreamModel) -> None:
    x = torch.rand(1, 3, 37, 53, requires_grad=True)
    acts = lite0.activations(x, ["stem", "blocks.10", "head"])
    # TF "SAME" padding: each stride-2 step gives ceil(n / 2).
    assert acts["stem"].shape == (1, 32, 19, 27)
    assert acts["blocks.10"].shape == (1, 112, 3, 4)
    assert acts["head"].shape == (1, 1280, 2, 2)
    acts["head"].mean().backward()
    assert x.grad.shape == x.shape


def test_normalisation_inside(lite0: DreamModel) -> None:
    """The network sees [-1, 1] input: mid-grey becomes zero."""
    x = torch.full((1, 3, 32, 32), 0.5)
    with torch.no_grad():
        expected = lite0.network.stem_act(lite0.network._bn0(lite0.network._conv_stem(torch.zeros_like(x))))
    torch.testing.assert_close(lite0.activations(x, "stem")["stem"], expected)


def test_unknown_layer_short_list(lite0: DreamModel) -> None:
    with pytest.raises(ModelError) as info:
        lite0.activations(torch.rand(1, 3, 32, 32), ["blocks.99"])
    assert str(info.value) == "unknown layer 'blocks.99' for model 'efficientnet-lite0'"
    assert "stem, blocks.0, blocks.1" in info.value.hint and "head" in info.value.hint


def test_unknown_layer_long_list(googlenet: DreamModel) -> None:
    with pytest.raises(ModelError, match="unknown layer 'inception4x' for model 'googlenet'") as info:
        googlenet.check_layers(["inception4c", "inception4x"])
    assert "inception4c" in info.value.hint and "`dreamvideo models googlenet`" in info.value.hint
    assert "\n" not in info.value.hint


def test_multiple_taps_survive_in_place_ops(googlenet: DreamModel) -> None:
    """GoogLeNet's relu runs in place on the bn output; a tap taken before it must keep its values."""
    x = torch.rand(1, 3, 64, 64)
    both = googlenet.activations(x, ["conv1.bn", "inception4c"])
    alone = googlenet.activations(x, ["conv1.bn"])
    assert (both["conv1.bn"] < 0).any()
    torch.testing.assert_close(both["conv1.bn"], alone["conv1.bn"])


@pytest.fixture
def capture_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """--fast compile through "aot_eager": the same graph capture and autograd, no generated code."""
    monkeypatch.setattr(dream_model, "COMPILE_BACKEND", "aot_eager")


@pytest.mark.parametrize(
    ("model", "layers"),
    [("lite0", ["head", "stem", "blocks.10"]), ("googlenet", ["conv1.bn", "inception4c"])],
)
def test_compiled_activations_equal_the_hooks(model: str, layers: list[str], capture_only, request) -> None:
    """The truncated graph of --fast compile: one graph (fullgraph: no break), the hooks' values,
    in the order asked, gradients to the input; a tap changed in place later (GoogLeNet's relu
    after conv1.bn) keeps its own values."""
    network: DreamModel = request.getfixturevalue(model)
    x = torch.rand(2, 3, 80, 64, requires_grad=True)
    compiled = network.activations(x, layers, compiled=True)
    hooked = network.activations(x, layers)
    assert list(compiled) == list(hooked)
    for name in layers:
        torch.testing.assert_close(compiled[name], hooked[name], atol=1e-5, rtol=0)
    (grad,) = torch.autograd.grad(compiled[layers[-1]].square().mean(), x)
    (reference,) = torch.autograd.grad(network.activations(x, layers)[layers[-1]].square().mean(), x)
    torch.testing.assert_close(grad, reference, atol=1e-6, rtol=1e-4)


def test_compiled_graph_stops_at_the_deepest_layer(lite0: DreamModel, capture_only) -> None:
    truncated = dream_model._TruncatedNetwork(lite0, ["blocks.3"])
    targets = [str(node.target) for node in truncated.graph.graph.nodes if node.op == "call_module"]
    assert any(t.startswith("_blocks.3.") for t in targets)
    assert not any(t.startswith(("_blocks.4.", "_conv_head", "_fc")) for t in targets)


def test_googlenet_activation_shape(googlenet: DreamModel) -> None:
    acts = googlenet.activations(torch.rand(1, 3, 224, 224), [googlenet.default_layer])
    assert acts["inception4c"].shape == (1, 512, 14, 14)


def test_too_small_input(lite0: DreamModel) -> None:
    with pytest.raises(ModelError, match="too small"):
        lite0.activations(torch.rand(1, 3, 16, 64), ["stem"])


def test_logits_require_a_classifier(lite0: DreamModel) -> None:
    spec = dataclasses.replace(lite0.spec, has_logits=False)
    model = DreamModel(spec, lite0.network, lite0.device)
    with pytest.raises(ModelError, match="no class logits"):
        model.logits(torch.rand(1, 3, 32, 32))


def test_unknown_model() -> None:
    with pytest.raises(ModelError, match="unknown model 'deepdream9000'"):
        load_model("deepdream9000")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda() -> None:
    model = load_model("efficientnet-lite0", device="cuda")
    x = torch.rand(1, 3, 64, 64, device="cuda", requires_grad=True)
    model.activations(x, [model.default_layer])[model.default_layer].mean().backward()
    assert x.grad is not None and x.grad.device.type == "cuda"


def test_folding_batch_norms_keeps_every_layer_and_gradient(tmp_path, googlenet_state_file) -> None:
    # Norms with real statistics (the random file's are 0 and 1), so that folding changes the weights.
    state = torch.load(googlenet_state_file, weights_only=True)
    generator = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if key.endswith(("bn.running_mean", "bn.bias")):
            state[key] = torch.randn(value.shape, generator=generator) * 0.5
        elif key.endswith(("bn.running_var", "bn.weight")):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
    path = tmp_path / "googlenet-stats.pth"
    torch.save(state, path)
    plain, folded = load_model("googlenet", weights=path), load_model("googlenet", weights=path)
    # conv1.conv is tapped raw: folded, its output would be the norm's. Every other block folds.
    assert folded.fold_batch_norms(keep=["conv1.conv"]) == 56
    norms = [name for name, m in folded.network.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms == ["conv1.bn"]
    assert isinstance(folded.network.get_submodule("conv2.bn"), torch.nn.Identity)
    layers = ["conv1.conv", "conv1.bn", "conv2.bn", "conv2", "inception4c"]
    x = torch.rand(2, 3, 96, 96)
    grads = []
    for model in (plain, folded):
        x_model = x.clone().requires_grad_(True)
        acts = model.activations(x_model, layers)
        grads.append((acts, torch.autograd.grad(sum(a.square().mean() for a in acts.values()), x_model)[0]))
    (plain_acts, plain_grad), (folded_acts, folded_grad) = grads
    for name in layers:
        torch.testing.assert_close(folded_acts[name], plain_acts[name], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(folded_grad, plain_grad, rtol=1e-3, atol=1e-6)
    # A raw convolution that was folded cannot be tapped afterwards: it would give the norm's output.
    with pytest.raises(RuntimeError, match="keep those layers"):
        folded.activations(x, ["conv2.conv"])


def test_batch_norms_fold_before_the_first_tap() -> None:
    model = load_model("efficientnet-lite0")
    model.activations(torch.rand(1, 3, 64, 64), ["blocks.2"])
    with pytest.raises(RuntimeError, match="before the first activations"):
        model.fold_batch_norms()


def test_the_dreamer_runs_the_folded_network() -> None:
    from dreamvideo.config import DreamSettings
    from dreamvideo.dream import make_dreamer

    dreamer = make_dreamer(DreamSettings(octaves=1, steps=1, base_width=64, device="cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in dreamer.model.network.modules())
    out = dreamer.dream(torch.rand(1, 3, 64, 96), frame_index=0)
    assert out.shape == (1, 3, 64, 96) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_folds_and_taps_its_default_layer(name: str) -> None:
    """Folding traces the network with torch.fx: every registered architecture must trace (on the
    meta device: shapes only, no weights)."""
    spec = get_spec(name)
    with torch.device("meta"):
        network = spec.builder().eval().requires_grad_(False)
        model = DreamModel(spec, network, torch.device("meta"))
        folded = model.fold_batch_norms(keep=[model.default_layer])
        size = max(spec.min_size, 96)
        act = model.activations(torch.empty(1, 3, size, size), [model.default_layer])[model.default_layer]
    assert act.ndim == 4
    assert (folded > 0) == (not name.startswith("vgg"))  # VGG has no batch norms
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())
