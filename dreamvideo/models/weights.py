"""Where pretrained weights come from, and reading them into a state dict.

Downloaded weights live where ``torch.hub.load_state_dict_from_url`` (and so
torchvision) keeps them: ``$TORCH_HOME/hub/checkpoints/<file name>``. Every
failure a user can cause or fix becomes a one-line ``ModelError`` with a hint.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ModelError

__all__ = [
    "WeightsSource",
    "WeightsStatus",
    "hub_checkpoints_dir",
    "read_state_dict",
    "fetch_pretrained",
    "DOWNLOAD_TIMEOUT_S",
]

DOWNLOAD_TIMEOUT_S = 30.0


def hub_checkpoints_dir() -> Path:
    """The torch hub cache folder for weights, read from ``$TORCH_HOME`` now."""
    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's pretrained state dict comes from.

    Either a file some installed package ships (``locate`` finds it) or a URL
    downloaded into the torch hub cache on first use (``url``).

    Attributes:
        file_name: the state dict's file name.
        description: one line for people, e.g. where it comes from.
        url: download address; the file goes into :func:`hub_checkpoints_dir`.
        locate: returns the packaged file's path, or None if the package is missing.
        install_hint: one line saying how to install the package that ships the file.
    """

    file_name: str
    description: str
    url: str | None = None
    locate: Callable[[], Path | None] | None = None
    install_hint: str = ""

    def local_path(self) -> Path | None:
        """Where the file is or would be; None if its package is not installed."""
        if self.locate is not None:
            return self.locate()
        return hub_checkpoints_dir() / self.file_name


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a model's pretrained weights are on this machine.

    Attributes:
        present: the file exists at ``path``.
        path: where the weights are or would be (None: their package is missing).
        source: human description of where they come from.
        hint: how to get them when they are missing.
    """

    present: bool
    path: Path | None
    source: str
    hint: str = ""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torch.hub opens the URL without a timeout; a dead network would hang it.
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _download(url: str, path: Path) -> None:
    """Download ``url`` to ``path`` as torch.hub does (temp file, then rename)."""
    # torch.hub's convention: a file name "name-<sha256 prefix>.ext" carries its hash.
    match = re.search(r"-([a-f0-9]{6,})\.", path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        torch.hub.download_url_to_file(url, str(path), match[1] if match else None, progress=True)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a state dict with ``torch.load(weights_only=True)`` onto the CPU.

    Raises:
        ModelError: the file is missing, unreadable, or not a ``{name: tensor}`` mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(
            f"cannot read weights file {path} as a state dict ({_one_line(e)})",
            hint="save one with torch.save(model.state_dict(), PATH)",
        ) from e
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise ModelError(
            f"weights file {path} is not a state dict (a mapping of names to tensors)",
            hint="save one with torch.save(model.state_dict(), PATH)",
        )
    return dict(state)


def fetch_pretrained(model: str, source: WeightsSource) -> dict[str, Tensor]:
    """Find (or, for a URL source, download) a model's pretrained weights and read them.

    Raises:
        ModelError: naming the model, the file and the folder it belongs in,
            when the file is missing and cannot be downloaded.
    """
    path = source.local_path()
    if path is not None and path.is_file():
        return read_state_dict(path)
    if source.url is None or path is None:
        raise ModelError(
            f"no weights for model {model!r}: {source.description} is not installed", hint=source.install_hint
        )
    try:
        _download(source.url, path)
    except Exception as e:
        raise ModelError(
            f"no weights for model {model!r}: {source.file_name} is not in {path.parent} "
            f"and downloading it failed ({_one_line(e)})",
            hint=f"put {source.file_name} (from {source.url}) into {path.parent}, or pass --weights PATH",
        ) from e
    return read_state_dict(path)
