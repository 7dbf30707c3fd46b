"""How much memory a dream of a given frame size needs, checked before the model loads.

The estimate is a line fitted to the peaks DESIGN.md records (Speed, Memory) on the 2-core
CPU: a fixed part (the process, torch, the model, one pass of two 512² tiles through it)
and a part per pixel of the frame (the frame-sized buffers of the octave pyramid, the
gradient, the flow and its masks, a panorama's views). 1280×720 flat: 1.73 GB measured,
1.6 GiB estimated; 7680×3840 ``vr360``: 10.9 GiB measured, 13.6 GiB estimated. It is an
estimate: a run is refused only where it is larger than the memory free on the device
that dreams, and ``force`` tries anyway.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .errors import ConfigError

__all__ = ["BASE_BYTES", "BYTES_PER_PIXEL", "available_bytes", "check_memory", "estimate_bytes"]

GIB = 2**30
BASE_BYTES = int(1.2 * GIB)  # the process, torch, the model and one pass of tiles
BYTES_PER_PIXEL = 450  # frame-sized buffers, per pixel of the dreamed frame


def estimate_bytes(width: int, height: int) -> int:
    """Memory a dream of ``width`` × ``height`` frames needs at its peak (an estimate)."""
    return BASE_BYTES + BYTES_PER_PIXEL * width * height


def available_bytes(device) -> int | None:
    """Memory free for a run on ``device`` (a ``torch.device``): the host's ``MemAvailable``
    for the CPU, the free device memory on CUDA; None where it cannot be known (then nothing
    is refused)."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(size: tuple[int, int], device, *, force: bool = False, available: int | None = None) -> None:
    """Refuse a dream of ``size`` ``(width, height)`` frames that cannot fit on ``device``.

    ``available`` overrides what :func:`available_bytes` finds (for a caller that knows better).

    Raises:
        ConfigError: the estimate exceeds the free memory, unless ``force`` (then a warning).
    """
    width, height = size
    need = estimate_bytes(width, height)
    free = available_bytes(device) if available is None else available
    if free is None or need <= free:
        return
    where = "on the GPU" if device.type == "cuda" else "here"
    message = f"a {width}x{height} dream needs about {need / GIB:.1f} GiB of memory, and {free / GIB:.1f} GiB is free {where}"
    if force:
        warnings.warn(message + "; trying anyway (--force)", stacklevel=2)
        return
    raise ConfigError(
        message, hint="dream it smaller (--width W or --size WxH), or give --force to try anyway (it is an estimate)"
    )
