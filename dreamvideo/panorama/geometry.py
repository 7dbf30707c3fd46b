"""Sphere geometry of equirectangular frames and perspective views (torch).

Conventions: world axes x right, y up, z forward. An equirectangular frame of
``H × W`` pixels has longitude along the width, pixel centre ``u`` at longitude
``(u + 0.5) / W · 360° − 180°`` (left and right edges are neighbours), and
latitude along the height, pixel centre ``v`` at ``90° − (v + 0.5) / H · 180°``
(the top row is the zenith). A perspective view is square, ``n × n``, with a
field of view ``fov`` across its width; its rotation ``R`` (3×3) has the
camera's right, up and forward axes as columns, so a camera ray ``c`` points
at ``R @ c`` in the world. View coordinates ``(a, b)`` are in [-1, 1] across
the view, ``a`` to the right, ``b`` down (``grid_sample``'s convention with
``align_corners=False``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "cube_rotations",
    "equirect_directions",
    "directions_to_equirect",
    "look_at",
    "random_rotation",
    "random_rotation_array",
    "RowBoxFilter",
    "row_box_filter",
    "sample_equirect",
    "view_coordinates",
    "view_rays",
]


def equirect_directions(height: int, width: int, *, device=None, dtype=torch.float32) -> Tensor:
    """Unit world directions of the pixel centres of an equirect frame: ``(H, W, 3)``."""
    lon = (torch.arange(width, device=device, dtype=torch.float64) + 0.5) / width * (2 * math.pi) - math.pi
    lat = math.pi / 2 - (torch.arange(height, device=device, dtype=torch.float64) + 0.5) / height * math.pi
    lat, lon = lat[:, None], lon[None, :]
    cos_lat = torch.cos(lat)
    x = cos_lat * torch.sin(lon)
    y = torch.sin(lat).expand(height, width)
    z = cos_lat * torch.cos(lon)
    dirs = torch.stack([x, y, z], dim=-1)
    return dirs.to(dtype)


def directions_to_equirect(dirs: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Equirect pixel coordinates ``(u, v)`` (pixel centres at integers) of directions ``(..., 3)``.

    ``u`` lies in ``[-0.5, W - 0.5)``; ``v`` in ``[-0.5, H - 0.5]``.
    """
    x, y, z = dirs.unbind(-1)
    lon = torch.atan2(x, z)
    lat = torch.atan2(y, torch.sqrt(x * x + z * z))
    u = (lon + math.pi) / (2 * math.pi) * width - 0.5
    v = (math.pi / 2 - lat) / math.pi * height - 0.5
    return u, v


def sample_equirect(image: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Bilinear samples of ``image`` ``(B, C, H, W)`` at pixel coordinates ``u, v`` ``(B or 1, h, w)``.

    Longitude wraps across the seam; latitude is clamped to the first and last rows'
    centres (within half a pixel of a pole every sample is nearly that row's mean anyway).
    Returns ``(B, C, h, w)``.
    """
    _, _, height, width = image.shape
    wide = F.pad(image, (1, 1, 0, 0), mode="circular")  # column W+1 is column 0 again, and 0 is W-1
    u = torch.remainder(u + 0.5, width) - 0.5  # [-0.5, W - 0.5)
    gx = (u + 1) / (width + 1) * 2 - 1
    gy = v.clamp(0, height - 1) / max(height - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).to(image.dtype)
    if grid.shape[0] != image.shape[0]:
        grid = grid.expand(image.shape[0], *grid.shape[1:])
    return F.grid_sample(wide, grid, mode="bilinear", padding_mode="border", align_corners=True)


def view_rays(size: int, fov_deg: float, *, device=None, dtype=torch.float32) -> Tensor:
    """Camera-frame rays ``(n, n, 3)`` (not unit length, z = 1) through the pixel centres of a square view."""
    t = math.tan(math.radians(fov_deg) / 2)
    a = (torch.arange(size, device=device, dtype=dtype) + 0.5) / size * 2 - 1
    x = a[None, :].expand(size, size) * t
    y = -a[:, None].expand(size, size) * t
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)


def view_coordinates(dirs: Tensor, rotation: Tensor, fov_deg: float) -> tuple[Tensor, Tensor, Tensor]:
    """Where world directions ``(..., 3)`` fall in a view: ``(a, b, in_front)``.

    ``a, b`` are view coordinates (in [-1, 1] inside the view); ``in_front`` is True
    where the direction is in front of the camera (behind it ``a, b`` mean nothing).
    """
    cam = dirs @ rotation.to(dirs.dtype)  # = (R^T d) for each row vector d
    t = math.tan(math.radians(fov_deg) / 2)
    z = cam[..., 2]
    safe = torch.where(z > 1e-6, z, torch.ones_like(z))
    return cam[..., 0] / (safe * t), -cam[..., 1] / (safe * t), z > 1e-6


def look_at(forward: tuple[float, float, float], up: tuple[float, float, float] = (0.0, 1.0, 0.0)) -> Tensor:
    """The rotation (float64 3×3, columns right, up, forward) of a camera looking along ``forward``."""
    f = torch.tensor(forward, dtype=torch.float64)
    f = f / f.norm()
    u = torch.tensor(up, dtype=torch.float64)
    if torch.abs(torch.dot(f, u / u.norm())) > 0.999:
        u = torch.tensor((0.0, 0.0, -1.0 if f[1] > 0 else 1.0), dtype=torch.float64)
    r = torch.linalg.cross(u, f)
    r = r / r.norm()
    return torch.stack([r, torch.linalg.cross(f, r), f], dim=1)


def cube_rotations() -> list[Tensor]:
    """The six cube-face cameras: front, right, back, left, up, down (float64 3×3 each)."""
    forwards = [(0, 0, 1), (1, 0, 0), (0, 0, -1), (-1, 0, 0), (0, 1, 0), (0, -1, 0)]
    return [look_at(tuple(float(c) for c in f)) for f in forwards]


def random_rotation(rng: np.random.Generator, max_tilt: float | None = None) -> Tensor:
    """A random rotation (float64 3×3 tensor) from ``rng``: :func:`random_rotation_array`'s."""
    return torch.from_numpy(random_rotation_array(rng, max_tilt))


def random_rotation_array(rng: np.random.Generator, max_tilt: float | None = None) -> np.ndarray:
    """A random rotation (float64 3×3, numpy: made on the host, for the host) from ``rng``.

    ``max_tilt`` None: drawn uniformly from all rotations (a random unit quaternion).
    Otherwise a uniform turn about the vertical axis, then a tilt of up to ``max_tilt``
    degrees about a random horizontal axis, so views stay nearly upright.
    """
    if max_tilt is None:
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
    else:
        yaw = rng.uniform(0, 2 * math.pi)
        axis_angle = rng.uniform(0, 2 * math.pi)
        tilt = math.radians(max_tilt) * math.sqrt(rng.uniform(0, 1))  # uniform over the cap's area (small tilts)
        # q = q_tilt * q_yaw; q_yaw about y, q_tilt about (cos a, 0, sin a)
        cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
        ct, st = math.cos(tilt / 2), math.sin(tilt / 2)
        ax, az = math.cos(axis_angle), math.sin(axis_angle)
        t = np.array([ct, st * ax, 0.0, st * az])
        yq = np.array([cy, 0.0, sy, 0.0])
        w = t[0] * yq[0] - t[1] * yq[1] - t[2] * yq[2] - t[3] * yq[3]
        x = t[0] * yq[1] + t[1] * yq[0] + t[2] * yq[3] - t[3] * yq[2]
        y = t[0] * yq[2] - t[1] * yq[3] + t[2] * yq[0] + t[3] * yq[1]
        z = t[0] * yq[3] + t[1] * yq[2] - t[2] * yq[1] + t[3] * yq[0]
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=np.float64,
    )


class RowBoxFilter:
    """Circular horizontal box filter with one width per row, planned once for a frame size.

    Which rows it changes, how far each chunk of rows is padded and the widths themselves
    depend only on the widths, so they are decided here on the host, once; :meth:`__call__`
    then runs on the device without reading anything back from it (no host synchronisation).

    Args:
        widths: ``(H,)`` box widths in pixels, one per row (fractional allowed; values of 1
            or less leave the row as it is, values of ``W`` or more give the row's mean).
        width: the frame's width ``W``.
        device: where the frames to filter live (the widths are kept there, float32).
        chunk: rows per pass: memory stays a few rows' worth whatever the frame size.
    """

    def __init__(self, widths: Tensor | np.ndarray, width: int, *, device=None, chunk: int = 64) -> None:
        host = np.clip(torch.as_tensor(widths).detach().cpu().double().numpy(), 1.0, float(width))
        self.height, self.width = len(host), width
        self.chunks: list[tuple[int, int, int, Tensor]] = []  # (top, bottom, pad, widths (h,) on the device)
        for top in range(0, len(host), chunk):
            rows = host[top : top + chunk]
            if (rows <= 1.0).all():
                continue
            pad = min(width, math.ceil(float(rows.max()) / 2) + 1)
            self.chunks.append((top, top + len(rows), pad, torch.tensor(rows, dtype=torch.float32, device=device)))

    def __call__(self, image: Tensor) -> Tensor:
        """``image`` ``(B, C, H, W)`` filtered: the exact area average of each piecewise-constant row over
        ``[u - width/2, u + width/2]``, wrapping at the seam. Computed in float32 (see ``_box_rows``)."""
        if tuple(image.shape[-2:]) != (self.height, self.width):
            raise ValueError(f"a filter planned for {self.height}x{self.width} rows, given {tuple(image.shape[-2:])}")
        if not self.chunks:
            return image
        out = image.clone()
        for top, bottom, pad, widths in self.chunks:
            out[..., top:bottom, :] = _box_rows(image[..., top:bottom, :], widths, pad).to(image.dtype)
        return out


def row_box_filter(image: Tensor, widths: Tensor, *, chunk: int = 64) -> Tensor:
    """Circular horizontal box filter of ``image`` ``(B, C, H, W)`` with one width per row ``(H,)``:
    :class:`RowBoxFilter` planned and applied once (plan it once per size where it repeats)."""
    return RowBoxFilter(widths, image.shape[-1], device=image.device, chunk=chunk)(image)


def _box_rows(rows: Tensor, widths: Tensor, pad: int) -> Tensor:
    """The box filter of a few rows ``(B, C, h, W)`` with widths ``(h,)`` (float32, on their device),
    padded ``pad`` columns on each side (at least half the widest box and one more); float32 result.

    A box's sum is a difference of running sums. One running sum along the whole row would lose,
    in float32, the small difference of two long sums; instead the sums restart every ``2 · pad``
    columns (a block, wider than any box), so a box spans at most two blocks and every term is a
    sum of at most two blocks' values: as exact as float32 is, and exactly 0 over zeros.
    """
    width = rows.shape[-1]
    wide = F.pad(rows.float(), (pad, pad, 0, 0), mode="circular")
    size = wide.shape[-1]
    block = 2 * pad
    count = math.ceil(size / block)
    blocks = F.pad(wide, (0, count * block - size)).unflatten(-1, (count, block))
    running = torch.cumsum(blocks, dim=-1)
    # Each column: its block's sum before it; and each block's sum, the same sum in the same order
    # (so a box over zeros at a block's end cancels exactly).
    before = F.pad(running[..., :-1], (1, 0)).flatten(-2)
    block_sums = running[..., -1]
    columns = torch.arange(width, device=rows.device)[None, :] + pad  # (1, W): each pixel's padded column
    half = widths[:, None] / 2
    shape = rows.shape

    def border(offset: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For the box edges ``offset`` ``(h, 1)`` pixels right of each pixel's left border: the column
        each falls in, its block, and the integral from that column's left border to the edge. The
        offsets are split off the column numbers (float32 would round 2047.5003 to 2047.5002)."""
        whole = offset.floor()
        index = (columns + whole.long()).clamp(0, size - 1).expand(shape)
        return index, index // block, torch.gather(wide, -1, index) * (offset - whole)

    lo_a, block_a, part_a = border(0.5 - half)
    lo_b, block_b, part_b = border(0.5 + half)
    inside = torch.gather(before, -1, lo_b) - torch.gather(before, -1, lo_a)
    crossed = torch.where(block_b > block_a, torch.gather(block_sums, -1, block_a), 0.0)
    out = (inside + crossed + part_b - part_a) / widths[:, None]
    return torch.where((widths <= 1.0)[:, None], rows.float(), out)
