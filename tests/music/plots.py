"""Reading back a ``plot_features`` image: which rows were drawn, and where the beat lines are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# matplotlib's default colour cycle (C0, C1, ...), which plot_features gives its rows in order.
ROW_COLOURS = [(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C), (0xD6, 0x27, 0x28), (0x94, 0x67, 0xBD), (0x8C, 0x56, 0x4B), (0xE3, 0x77, 0xC2)]
BEAT_COLOUR = (0xF4, 0xB4, 0xB4)


def read_plot(path: str | Path) -> np.ndarray:
    """The image as RGB ``int (H, W, 3)``; fails the test when it does not decode."""
    image = cv2.imread(str(path))
    assert image is not None, f"{path} does not decode"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(int)


def row_heights(image: np.ndarray, rows: int) -> list[float]:
    """The median height (pixels from the top) of the pixels of each row's curve colour."""
    heights = []
    for colour in ROW_COLOURS[:rows]:
        ys = np.nonzero(np.abs(image - colour).max(axis=2) < 25)[0]
        assert len(ys) > 100, f"no curve drawn in {colour}"
        heights.append(float(np.median(ys)))
    return heights


def beat_columns(image: np.ndarray) -> np.ndarray:
    """The x of each vertical beat line: columns with over 200 pixels of the beat colour, one per run."""
    counts = (np.abs(image - BEAT_COLOUR).max(axis=2) < 20).sum(axis=0)
    columns = np.nonzero(counts > 200)[0]
    return columns[np.insert(np.diff(columns) > 1, 0, True)] if len(columns) else columns
