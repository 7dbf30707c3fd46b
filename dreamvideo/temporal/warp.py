"""Warp the previous frame onto the current one along the source flow.

One convention everywhere: pixel ``(x, y)`` has its centre at integer
coordinates, ``flow_cur_to_prev`` is ``float32`` in pixels, ``(dx, dy)``, and
the warped image at ``x`` is the previous image sampled bilinearly at
``x + flow_cur_to_prev(x)``; samples beyond the edge take the edge value, except
across the seam of an equirect panorama (``wrap_x``), where they come from the
other edge.

Bilinear sampling is a low-pass filter: applied once per frame it compounds, so the
dream's detail is sampled with ``mode="lanczos"`` (Lanczos-4, 8×8 taps) where it is
resampled once per shot (:mod:`.shot`); frames and masks stay bilinear, as the
metrics' warp is.

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

__all__ = ["WARP_MODES", "flow_to_tensor", "to_device", "warp", "warp_array"]

WARP_MODES = ("bilinear", "bicubic", "lanczos")
_LANCZOS_A = 4  # Lanczos-a: taps from -a+1 to a on each axis (OpenCV's INTER_LANCZOS4)


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
    mode: str = "bilinear",
) -> torch.Tensor:
    """Resample the previous image onto the current frame's grid.

    Bilinear (``mode``), border padding, ``grid_sample`` with ``align_corners=True`` on
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
        mode: ``bilinear``, ``bicubic`` (``grid_sample``'s, Keys a = -0.75) or ``lanczos``
            (Lanczos-4: sharper, and slower: 0.7 s at 960×540 on a loaded 2-core CPU, where
            bilinear takes 0.03 s).

    Returns:
        ``(B, C, H, W)`` on the image's device and dtype: ``image`` sampled at
        ``x + flow_cur_to_prev(x)``.
    """
    import torch
    import torch.nn.functional as F

    if mode not in WARP_MODES:
        raise ValueError(f"unknown warp mode {mode!r}; expected one of {', '.join(WARP_MODES)}")
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
    if mode == "lanczos":
        return _lanczos(source, coords, wrap_x=wrap_x).to(image.dtype)
    if wrap_x:
        # x in [0, W) on a copy with column 0 repeated after column W-1: the samples near the
        # seam interpolate across it.
        coords = torch.stack([torch.remainder(coords[..., 0], w), coords[..., 1]], dim=-1)
        source = torch.cat([source, source[..., :1]], dim=-1)
    # grid_sample's align_corners=True coordinates: -1 and 1 are the centres of the edge pixels
    src_h, src_w = source.shape[-2:]
    grid = torch.stack([coords[..., 0] * (2 / max(src_w - 1, 1)) - 1, coords[..., 1] * (2 / max(src_h - 1, 1)) - 1], dim=-1)
    grid = grid.expand(batch, -1, -1, -1)
    warped = F.grid_sample(source, grid, mode=mode, padding_mode="border", align_corners=True)
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


def _lanczos(source: torch.Tensor, coords: torch.Tensor, *, wrap_x: bool) -> torch.Tensor:
    """``source`` ``(B, C, H, W)`` float32 sampled at pixel ``coords`` ``(B or 1, H, W, 2)`` with a
    Lanczos-4 kernel (8×8 taps, weights normalised); taps beyond the edge take the edge value
    (``x`` wraps with ``wrap_x``). OpenCV's ``remap`` on the CPU (ten times faster there than
    the gathers; it rounds positions to 1/32 pixel), torch gathers elsewhere."""
    if source.device.type == "cpu":
        return _lanczos_remap(source, coords, wrap_x=wrap_x)
    return _lanczos_gather(source, coords, wrap_x=wrap_x)


def _lanczos_gather(source: torch.Tensor, coords: torch.Tensor, *, wrap_x: bool) -> torch.Tensor:
    """:func:`_lanczos` with torch gathers, 64 a pixel."""
    import torch

    batch, channels, h, w = source.shape
    # positions beyond the edge take the edge value, as grid_sample's border padding gives
    x, y = coords[..., 0], coords[..., 1].clamp(0, h - 1)
    if not wrap_x:
        x = x.clamp(0, w - 1)
    x0, y0 = torch.floor(x), torch.floor(y)
    taps = range(1 - _LANCZOS_A, _LANCZOS_A + 1)
    # the tap at x0 + i weighs L(x - x0 - i), L(d) = sinc(d) sinc(d / a)
    weights_x = torch.stack([_lanczos_kernel(x - x0 - i) for i in taps])
    weights_y = torch.stack([_lanczos_kernel(y - y0 - j) for j in taps])
    weights_x, weights_y = weights_x / weights_x.sum(0), weights_y / weights_y.sum(0)
    columns = [torch.remainder(x0 + i, w) if wrap_x else (x0 + i).clamp(0, w - 1) for i in taps]
    flat = source.reshape(batch, channels, h * w)
    count = coords.shape[1] * coords.shape[2]
    out = torch.zeros(batch, channels, count, device=source.device)
    for j, row_weight in zip(taps, weights_y):
        row_start = (y0 + j).clamp(0, h - 1) * w
        for column, column_weight in zip(columns, weights_x):
            index = (row_start + column).long().reshape(-1, 1, count).expand(batch, channels, count)
            out += torch.gather(flat, 2, index) * (row_weight * column_weight).reshape(-1, 1, count)
    return out.reshape(batch, channels, *coords.shape[1:3])


def _lanczos_remap(source: torch.Tensor, coords: torch.Tensor, *, wrap_x: bool) -> torch.Tensor:
    """:func:`_lanczos` with ``cv2.remap``'s ``INTER_LANCZOS4`` on host tensors."""
    import torch

    h = source.shape[-2]
    coords = coords.expand(source.shape[0], -1, -1, -1).numpy()
    items = []
    for image, where in zip(source.permute(0, 2, 3, 1).numpy(), coords):
        map_x, map_y = np.ascontiguousarray(where[..., 0]), np.clip(where[..., 1], 0, h - 1)
        image = np.ascontiguousarray(image)
        border = cv2.BORDER_REPLICATE
        if wrap_x:
            # BORDER_WRAP wraps rows too: rows replicated above and below keep the taps off it
            image = cv2.copyMakeBorder(image, _LANCZOS_A, _LANCZOS_A, 0, 0, cv2.BORDER_REPLICATE)
            map_y += _LANCZOS_A
            border = cv2.BORDER_WRAP
        else:
            map_x = np.clip(map_x, 0, image.shape[1] - 1)
        sampled = cv2.remap(image, map_x, map_y, cv2.INTER_LANCZOS4, borderMode=border)
        items.append(torch.from_numpy(sampled.reshape(h, *sampled.shape[1:2], -1)))
    return torch.stack(items).permute(0, 3, 1, 2)


def _lanczos_kernel(distance: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.sinc(distance) * torch.sinc(distance / _LANCZOS_A) * (distance.abs() < _LANCZOS_A)
