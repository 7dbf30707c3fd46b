"""Fixtures for the model tests: no test here touches the network or the real torch hub cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from dreamvideo.models import DreamModel, load_model


class NoNetwork(OSError):
    pass


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty ``$TORCH_HOME`` and a torch hub that fails to download anything."""

    def fail(url: str, dst: str, *args: object, **kwargs: object) -> None:
        raise NoNetwork(f"no network in tests: {url}")

    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    return home


@pytest.fixture(scope="session")
def lite0() -> DreamModel:
    """EfficientNet-Lite0 with its packaged ImageNet weights, on the CPU."""
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def googlenet_state_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised GoogLeNet state dict shaped like torchvision's file (aux heads included)."""
    torch.manual_seed(0)
    network = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path_factory.mktemp("weights") / "googlenet-random.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def googlenet(googlenet_state_file: Path) -> DreamModel:
    """GoogLeNet with random weights, on the CPU."""
    return load_model("googlenet", weights=googlenet_state_file)
