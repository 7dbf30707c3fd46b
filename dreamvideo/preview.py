"""``dreamvideo preview``: contact sheets to choose settings before a long render.

Two sheets, both written atomically as one image (PNG, JPEG, WebP or TIFF):

- **frames**: ``count`` frames spread evenly across the clip (or ``--frames A-B``),
  one column each, the source above its dream, each frame dreamed on its own
  with the given dream options (as the first frame of a render, or the one
  after a cut, is);
- **layers**: one frame dreamed once per layer of the model (or per layer of
  ``--layers``), each tile labelled with the layer name, beside the source.

A still image works too: it is the one frame. Host images here are
``uint8 (H, W, 3)`` RGB; the dream sees ``float32 (1, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import DreamSettings, FrameRange, VideoSettings, parse_layers
from .dream import Dreamer, image_to_tensor, tensor_to_image
from .errors import ConfigError, MediaError
from .frame import dream_frame
from .io import IMAGE_FORMATS, check_input_file, check_output_path, open_video, read_image, write_image
from .io.spherical import read_spherical
from .layout import Layout, resolve_layout
from .models import get_spec, layer_names
from .panorama.projection import dreamer_for

__all__ = [
    "Picture",
    "PreviewResult",
    "Tile",
    "contact_sheet",
    "layers_sheet",
    "pick_frames",
    "sheet_layout",
    "sheet_layers",
]

GAP = 4  # pixels between tiles
BACKGROUND = 24  # grey level around the tiles
LABEL_TEXT = 235


@dataclass(frozen=True)
class Tile:
    """One picture on a sheet: where it is (pixels, top-left ``x, y``; size ``w, h``) and its label."""

    label: str
    x: int
    y: int
    w: int
    h: int


@dataclass
class Picture:
    """A source picture: decode ``index`` (0 for a still), ``uint8 (H, W, 3)`` RGB, grey or not."""

    index: int
    image: np.ndarray
    grey: bool = False


@dataclass
class PreviewResult:
    """What a preview wrote: the sheet's path and size, and its tiles (sources, then dreams)."""

    output: Path
    width: int
    height: int
    frames: list[int]
    sources: list[Tile]
    dreams: list[Tile]


# ---------------------------------------------------------------------------
# geometry and labels


def label_height(tile_width: int) -> int:
    """Height of the label bar above a tile: readable, and growing with the tile."""
    return max(16, tile_width // 16)


def sheet_layout(columns: int, rows: int, tile_w: int, tile_h: int) -> tuple[int, int, list[list[tuple[int, int]]]]:
    """Sheet size ``(width, height)`` and each tile's top-left ``(x, y)``, ``[row][column]``.

    Every tile has a label bar of ``label_height(tile_w)`` above it and ``GAP`` around it.
    """
    bar = label_height(tile_w)
    cell_w, cell_h = tile_w + GAP, bar + tile_h + GAP
    origins = [[(GAP + c * cell_w, GAP + r * cell_h + bar) for c in range(columns)] for r in range(rows)]
    return GAP + columns * cell_w, GAP + rows * cell_h, origins


def _put_label(sheet: np.ndarray, text: str, x: int, y: int, w: int) -> None:
    """Write ``text`` in the bar of height ``label_height(w)`` that ends at row ``y``, shrunk to fit ``w``."""
    bar = label_height(w)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = bar * 0.6 / 22  # HERSHEY_SIMPLEX capitals are about 22 px tall at scale 1
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
    if tw > w - 4:
        scale *= (w - 4) / tw
    (_, th), _ = cv2.getTextSize(text, font, scale, thickness)
    bar_area = sheet[y - bar : y, x : x + w]  # a view: descenders never spill onto the picture below
    baseline_y = bar - (bar - th) // 2 - 1
    cv2.putText(bar_area, text, (2, baseline_y), font, scale, (LABEL_TEXT,) * 3, thickness, cv2.LINE_AA)


def _compose(grid: list[list[tuple[str, np.ndarray] | None]]) -> tuple[np.ndarray, list[list[Tile | None]]]:
    """Lay out labelled pictures of one size, ``grid[row][column]`` (None: empty cell)."""
    first = next(p for row in grid for p in row if p is not None)[1]
    tile_h, tile_w = first.shape[:2]
    width, height, origins = sheet_layout(len(grid[0]), len(grid), tile_w, tile_h)
    sheet = np.full((height, width, 3), BACKGROUND, np.uint8)
    tiles: list[list[Tile | None]] = []
    for r, row in enumerate(grid):
        tiles.append([])
        for c, cell in enumerate(row):
            if cell is None:
                tiles[-1].append(None)
                continue
            label, picture = cell
            x, y = origins[r][c]
            sheet[y : y + tile_h, x : x + tile_w] = picture
            _put_label(sheet, label, x, y, tile_w)
            tiles[-1].append(Tile(label, x, y, tile_w, tile_h))
    return sheet, tiles


# ---------------------------------------------------------------------------
# sources


def _is_still(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_FORMATS


def _check_paths(source: str | os.PathLike, output: str | os.PathLike) -> tuple[Path, Path]:
    source, output = Path(source), Path(output)
    check_input_file(source)
    check_output_path(source, output)
    if output.suffix.lower() not in IMAGE_FORMATS:
        raise MediaError(
            f"cannot write {output.name!r}: a contact sheet is an image",
            hint=f"use one of {', '.join(sorted(IMAGE_FORMATS))}",
        )
    return source, output


def _read_still(path: Path, size: tuple[int, int] | None, width: int | None) -> Picture:
    still = read_image(path)
    image = (still.rgb * 255 + 0.5).astype(np.uint8)
    h, w = image.shape[:2]
    if size is None and width is not None:
        size = (width, max(1, round(width * h / w)))
    if size is not None and size != (w, h):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return Picture(0, image, still.grey)


def pick_frames(count: int, frames: int, span: FrameRange | None = None) -> list[int]:
    """``count`` decode indices spread evenly over ``span`` (default all ``frames``), first and last included."""
    start, end = (span.start, span.end) if span is not None else (0, frames - 1)
    end = min(end, frames - 1)
    if end < start:
        raise MediaError(f"the clip has {frames} frames: none in {start}-{span.end if span else end}")
    if count == 1:
        return [(start + end) // 2]
    return sorted({round(start + i * (end - start) / (count - 1)) for i in range(count)})


def _frame_count(path: Path) -> int:
    with open_video(str(path)) as reader:
        if reader.info.frame_count:
            return reader.info.frame_count
    with open_video(str(path), size=(16, 16)) as reader:  # the container does not say: count them
        return sum(1 for _ in reader)


def _read_frames(
    path: Path, indices: list[int], size: tuple[int, int] | None, width: int | None
) -> list[Picture]:
    pictures = []
    for index in indices:
        with open_video(str(path), frames=FrameRange(index, index), size=size, width=width) as reader:
            frame = next(iter(reader))
        pictures.append(Picture(frame.index, frame.image))
    return pictures


def _sources(
    path: Path, count: int, span: FrameRange | None, size: tuple[int, int] | None, width: int | None
) -> list[Picture]:
    if _is_still(path):
        return [_read_still(path, size, width)]
    return _read_frames(path, pick_frames(count, _frame_count(path), span), size, width)


def _dream(dreamer: Dreamer, picture: Picture, layout: Layout, video: VideoSettings | None) -> np.ndarray:
    """``picture`` dreamed as a render dreams its first frame (``frame.dream_frame``)."""
    image = image_to_tensor(picture.image, dreamer.device)
    return tensor_to_image(dream_frame(dreamer, image, layout, picture.index, video=video))


def _layout(source: Path, settings: DreamSettings) -> Layout:
    """The run's 360° layout: the flags, ``auto`` following the input's spherical metadata."""
    return resolve_layout(settings, read_spherical(source), name=source.name)


# ---------------------------------------------------------------------------
# the two sheets


def contact_sheet(
    source: str | os.PathLike,
    output: str | os.PathLike,
    settings: DreamSettings,
    *,
    count: int = 4,
    frames: FrameRange | None = None,
    size: tuple[int, int] | None = None,
    width: int | None = None,
    video: VideoSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> PreviewResult:
    """Source above dream for ``count`` frames spread across the clip (a still: its one frame).

    Each frame is dreamed as a render dreams its first frame (``frame.dream_frame``).

    Args:
        frames: spread the frames over this inclusive range only.
        size, width: dream at this size (``(w, h)``) or width (aspect kept); default the source's.
        video: the render's video settings (a stereo frame's right eye refines with its
            ``refine_steps``, its disparity with its flow); None for the defaults.
        progress: told, before each dream, which one it is (``"frame 12 (2/4)"``).

    Raises:
        MediaError: unreadable input, unwritable output or not an image format.
        ConfigError, ModelError: bad settings, model or layer.
    """
    if count < 1:
        raise ConfigError("--count must be at least 1")
    settings.validate()
    source, output = _check_paths(source, output)
    pictures = _sources(source, count, frames, size, width)
    layout = _layout(source, settings)
    dreamer = dreamer_for(settings, layout, grey=pictures[0].grey)  # only a still (one picture) is grey
    dreams = []
    for i, p in enumerate(pictures, 1):
        if progress is not None:
            progress(f"{'picture' if _is_still(source) else f'frame {p.index}'} ({i}/{len(pictures)})")
        dreams.append(_dream(dreamer, p, layout, video))
    name = "dream" if settings.logit is not None else f"dream {settings.layers or dreamer.model.default_layer}"
    still = _is_still(source)
    grid = [
        [(source.name if still else f"frame {p.index}", p.image) for p in pictures],
        [(name, d) for d in dreams],
    ]
    sheet, tiles = _compose(grid)
    write_image(output, sheet)
    return PreviewResult(
        output, sheet.shape[1], sheet.shape[0], [p.index for p in pictures], tiles[0], tiles[1]  # type: ignore[arg-type]
    )


def sheet_layers(settings: DreamSettings) -> list[str]:
    """The layers a layers sheet dreams: ``settings.layers`` if given, else the model's layer list.

    A model with named taps (EfficientNet-Lite: stem, blocks.N, head) lists them all;
    a torchvision model lists its top-level modules (``inception4c``, ``layer3``,
    ``features``…), not every submodule.
    """
    if settings.layers:
        return [name for name, _ in parse_layers(settings.layers)]
    names = layer_names(settings.model)
    if get_spec(settings.model).taps is not None:
        return names
    return [name for name in names if "." not in name]


def layers_sheet(
    source: str | os.PathLike,
    output: str | os.PathLike,
    settings: DreamSettings,
    *,
    frame: int | None = None,
    frames: FrameRange | None = None,
    size: tuple[int, int] | None = None,
    width: int | None = None,
    video: VideoSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> PreviewResult:
    """One frame dreamed once per layer (see :func:`sheet_layers`), labelled, after the source tile.

    Each layer's Dreamer is built as a run's (``panorama.projection.dreamer_for``), and the
    frame dreamed as a render's first frame (``frame.dream_frame``).

    Args:
        frame: the decode index to dream (default: the middle of ``frames`` or of the clip).
        video: as in :func:`contact_sheet`.
        progress: told, before each dream, which one it is (``"layer blocks.6 (3/9)"``).

    Raises:
        MediaError, ConfigError, ModelError: as :func:`contact_sheet`.
    """
    settings.validate()
    if settings.logit is not None:
        raise ConfigError("--layers-sheet dreams layers; it cannot go with --logit")
    source, output = _check_paths(source, output)
    if _is_still(source):
        picture = _read_still(source, size, width)
    else:
        index = frame if frame is not None else pick_frames(1, _frame_count(source), frames)[0]
        picture = _read_frames(source, [index], size, width)[0]
    layers = sheet_layers(settings)
    layout = _layout(source, settings)
    cells: list[tuple[str, np.ndarray]] = [
        (source.name if _is_still(source) else f"frame {picture.index}", picture.image)
    ]
    for i, layer in enumerate(layers, 1):
        if progress is not None:
            progress(f"layer {layer} ({i}/{len(layers)})")
        one = dataclasses.replace(settings, layers=layer)
        dreamer = dreamer_for(one, layout, grey=picture.grey)
        cells.append((layer, _dream(dreamer, picture, layout, video)))
    columns = math.ceil(math.sqrt(len(cells) * picture.image.shape[0] / picture.image.shape[1]))
    columns = max(1, min(len(cells), columns))
    rows = math.ceil(len(cells) / columns)
    grid: list[list[tuple[str, np.ndarray] | None]] = [
        [cells[r * columns + c] if r * columns + c < len(cells) else None for c in range(columns)]
        for r in range(rows)
    ]
    sheet, tiles = _compose(grid)
    write_image(output, sheet)
    flat = [t for row in tiles for t in row if t is not None]
    return PreviewResult(output, sheet.shape[1], sheet.shape[0], [picture.index], flat[:1], flat[1:])
