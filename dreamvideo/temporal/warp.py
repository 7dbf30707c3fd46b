"""Warp the previous frame onto the current one along the source flow.

One convention everywhere: pixel ``(x, y)`` has its centre at integer
coordinates, ``flow_cur_to_prev`` is ``float32`` in pixels, ``(dx, dy)``, and
the warped image at ``x`` is the previous image sampled bilinearly at
``x + flow_cur_to_prev(x)``; samples beyond the edge take the edge value, except
across the seam of an equirect panorama (``wrap_x``), where they come from the
other edge.

:func:`warp` is the one used on frames, by the pipeline and by the metrics.
:func:`warp_array` is its host twin for masks and checks that stay in numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that use it: the flow worker processes import this
# module (through occlusion and cuts, for warp_array) and must stay free of torch. The warp is
# torch's own grid_sample rather than kornia's remap around it: importing kornia cost a video
# run 0.1-0.3 s at its first carried frame, and nothing else on that path needs it.

__all__ = ["flow_to_tensor", "to_device", "warp", "warp_array"]


def flow_to_tensor(
    flow: np.ndarray, device: torch.device | str | None = None, *, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Move a host flow field to a device tensor, optionally resized there.

    Args:
        flow: float ``(h, w, 2)`` in pixels of its own grid, ``(dx, dy)``.
        device: where the tensor goes; ``None`` for the CPU. A CUDA copy goes through
            pinned memory without blocking the host.
        size: ``(H, W)`` to resize to on the device (bilinear, half-pixel centres like
            ``cv2.INTER_LINEAR``), vectors scaled with it; None keeps the flow's size.

    Returns:
        float32 ``(1, 2, H, W)``, channel 0 is ``dx``, channel 1 is ``dy``.
    """
    import torch
    import torch.nn.functional as F

    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected flow of shape (H, W, 2), got {flow.shape}")
    tensor = to_device(np.ascontiguousarray(flow, dtype=np.float32), device).permute(2, 0, 1).unsqueeze(0)
    if size is not None and tuple(size) != tuple(flow.shape[:2]):
        h, w = size
        tensor = F.interpolate(tensor, size=(h, w), mode="bilinear", align_corners=False)
        # Scaled by Python numbers: a tensor of them would be a copy from the host every frame.
        tensor = torch.cat([tensor[:, :1] * (w / flow.shape[1]), tensor[:, 1:] * (h / flow.shape[0])], dim=1)
    return tensor


def to_device(array: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """A host array as a tensor on ``device``: to CUDA through pinned memory, not blocking the host
    (ordered on the current stream, so the kernels that use it wait for it, the host does not)."""
    import torch

    tensor = torch.from_numpy(array)
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def warp(
    image: torch.Tensor,
    flow_cur_to_prev: torch.Tensor | np.ndarray,
    *,
    wrap_x: bool = False,
) -> torch.Tensor:
    """Resample the previous image onto the current frame's grid.

    Bilinear, border padding, ``grid_sample`` with ``align_corners=True`` on
    pixel-centre coordinates. Grid and sampling run in float32 whatever the
    image dtype (a bfloat16 grid is off by pixels at video widths); the result
    is cast back.

    Args:
        image: the previous frame's values, ``(B, C, H, W)``, any float dtype and device.
        flow_cur_to_prev: ``(B, 2, H, W)`` or ``(1, 2, H, W)`` tensor, or host
            ``(H, W, 2)`` array, in pixels: where each current pixel comes from
            in the previous frame.
        wrap_x: the left and right edges are neighbours (equirect): ``x`` wraps
            around the width instead of stopping at the edge.

    Returns:
        ``(B, C, H, W)`` on the image's device and dtype: ``image`` sampled at
        ``x + flow_cur_to_prev(x)``.
    """
    import torch
    import torch.nn.functional as F

    if isinstance(flow_cur_to_prev, np.ndarray):
        flow_cur_to_prev = flow_to_tensor(flow_cur_to_prev, image.device)
    if image.ndim != 4:
        raise ValueError(f"expected an image of shape (B, C, H, W), got {tuple(image.shape)}")
    batch, _, h, w = image.shape
    if (
        flow_cur_to_prev.ndim != 4
        or flow_cur_to_prev.shape[1] != 2
        or flow_cur_to_prev.shape[0] not in (1, batch)
        or flow_cur_to_prev.shape[-2:] != image.shape[-2:]
    ):
        raise ValueError(
            f"flow of shape {tuple(flow_cur_to_prev.shape)} does not fit an image of shape "
            f"{tuple(image.shape)}; expected (B or 1, 2, {h}, {w})"
        )
    flow = flow_cur_to_prev.to(device=image.device, dtype=torch.float32)
    # (1, H, W, 2): each pixel's own (x, y)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=torch.float32),
        torch.arange(w, device=image.device, dtype=torch.float32),
        indexing="ij",
    )
    coords = torch.stack([xs, ys], dim=-1)[None] + flow.permute(0, 2, 3, 1)
    source = image.float()
    if wrap_x:
        # x in [0, W) on a copy with column 0 repeated after column W-1: the samples near the
        # seam interpolate across it.
        coords = torch.stack([torch.remainder(coords[..., 0], w), coords[..., 1]], dim=-1)
        source = torch.cat([source, source[..., :1]], dim=-1)
    # grid_sample's align_corners=True coordinates: -1 and 1 are the centres of the edge pixels
    src_h, src_w = source.shape[-2:]
    grid = torch.stack([coords[..., 0] * (2 / max(src_w - 1, 1)) - 1, coords[..., 1] * (2 / max(src_h - 1, 1)) - 1], dim=-1)
    grid = grid.expand(batch, -1, -1, -1)
    warped = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return warped.to(image.dtype)


def warp_array(image: np.ndarray, flow_cur_to_prev: np.ndarray, *, wrap_x: bool = False) -> np.ndarray:
    """Host version of :func:`warp` with ``cv2.remap``, same convention.

    About 6x faster than :func:`warp` on the CPU, but for uint8 images OpenCV
    quantises the bilinear weights to 1/32 pixel: use it for masks and checks,
    not for frames.

    Args:
        image: the previous frame's values, ``(H, W)`` or ``(H, W, C)``, uint8 or float32.
        flow_cur_to_prev: float32 ``(H, W, 2)`` in pixels.
        wrap_x: as in :func:`warp`.

    Returns:
        ``image`` sampled at ``x + flow_cur_to_prev(x)``, same shape and dtype.
    """
    h, w = image.shape[:2]
    if flow_cur_to_prev.shape != (h, w, 2):
        raise ValueError(
            f"flow of shape {flow_cur_to_prev.shape} does not fit an image of shape {image.shape}"
        )
    flow = np.asarray(flow_cur_to_prev, dtype=np.float32)
    map_x = np.arange(w, dtype=np.float32) + flow[..., 0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    border = cv2.BORDER_REPLICATE
    if wrap_x:
        # Columns wrap (sampling across the seam as warp does); rows are clamped, which is
        # BORDER_REPLICATE's edge. Half the time of wrapping x by hand at 3840x1920.
        np.clip(map_y, 0, h - 1, out=map_y)
        border = cv2.BORDER_WRAP
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=border)
    return warped.reshape(image.shape)
