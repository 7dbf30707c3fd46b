"""Frames of two dreams of one clip side by side, with a crop at full size: how crisp each stays.

Rows: the dreams given (e.g. before and after a change to the carry); columns: the
chosen frames, each scaled up ``--zoom`` times (nearest, so pixels stay pixels), then
a crop of the last chosen frame at full size beside it, the crop's place outlined.
Each frame is labelled with its index and the sharpness of its dream's detail
(``metrics.sharpness``: mean |Laplacian| over mean |detail|, higher is crisper).

Run: ``python benchmarks/side_by_side.py SOURCE OUT.png LABEL=DREAM [LABEL=DREAM ...]
[--frames 0,10,30] [--crop X,Y,W,H] [--zoom 2]`` (the dreams are videos of the
source's frames, e.g. ``dreamvideo dream SOURCE DREAM``).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from dreamvideo.io import open_video, write_image
from dreamvideo.metrics import sharpness


def frames_at(path: str, wanted: list[int]) -> dict[int, np.ndarray]:
    """uint8 RGB frames of ``path`` at the indices ``wanted``."""
    found = {}
    with open_video(path) as video:
        for index, frame in enumerate(video):
            if index in wanted:
                found[index] = frame.image
            if len(found) == len(wanted):
                break
    return found


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with ``text`` in a white strip above it."""
    strip = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def sheet(
    source: str, dreams: list[tuple[str, str]], frames: list[int], crop: tuple[int, int, int, int], zoom: int
) -> np.ndarray:
    """The picture: one row per dream, ``(H, W, 3)`` uint8 RGB."""
    sources = frames_at(source, frames)
    x, y, w, h = crop
    rows = []
    for label, path in dreams:
        dreamed = frames_at(path, frames)
        cells = []
        for index in frames:
            big = cv2.resize(dreamed[index], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            if index == frames[-1]:
                cv2.rectangle(big, (x * zoom, y * zoom), ((x + w) * zoom - 1, (y + h) * zoom - 1), (255, 255, 0), 1)
            score = sharpness(sources[index], dreamed[index])
            cells.append(labelled(big, f"{label}: frame {index}, sharpness {score:.2f}"))
        # the crop at full size, scaled by whole pixels to the row's height
        part = dreamed[frames[-1]][y : y + h, x : x + w]
        factor = max(1, (cells[0].shape[0] - 18) // h)
        part = cv2.resize(part, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        part = cv2.copyMakeBorder(part, 0, cells[0].shape[0] - 18 - part.shape[0], 0, 0, cv2.BORDER_CONSTANT)
        cells.append(labelled(part, f"frame {frames[-1]}, crop {factor}x"))
        spaced = []
        for cell in cells:
            spaced += [cell, np.full((cell.shape[0], 4, 3), 255, np.uint8)]
        row = np.concatenate(spaced[:-1], axis=1)
        rows += [row, np.full((4, row.shape[1], 3), 255, np.uint8)]
    return np.concatenate(rows[:-1], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("dreams", nargs="+", help="LABEL=VIDEO, one row each")
    parser.add_argument("--frames", default="0,10,30")
    parser.add_argument("--crop", default="60,30,64,48", help="X,Y,W,H in the frame's pixels")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    dreams = [tuple(item.split("=", 1)) for item in args.dreams]
    crop = tuple(int(v) for v in args.crop.split(","))
    write_image(args.output, sheet(args.source, dreams, [int(v) for v in args.frames.split(",")], crop, args.zoom))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
