"""The one matplotlib figure setup for the plots (``metrics --plot``, ``music --plot``).

matplotlib is optional (the ``plot`` extra): it is imported only when a plot is drawn, and a
missing matplotlib is one :class:`~dreamvideo.errors.ConfigError`. Figures are drawn by the Agg
canvas into memory (no display, no pyplot state); :func:`~dreamvideo.io.write_image` writes them.
"""

from __future__ import annotations

import numpy as np

from dreamvideo.errors import ConfigError

__all__ = ["PLOT_DPI", "figure_pixels", "new_figure"]

PLOT_DPI = 96


def new_figure(width: int, height: int):
    """A matplotlib ``Figure`` of ``width`` x ``height`` pixels on an Agg canvas.

    Raises:
        ConfigError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "--plot needs matplotlib", hint="pip install 'dreamvideo[plot]' (or matplotlib)"
        ) from None
    figure = Figure(figsize=(width / PLOT_DPI, height / PLOT_DPI), dpi=PLOT_DPI)
    FigureCanvasAgg(figure)  # attaches itself as figure.canvas
    return figure


def figure_pixels(figure) -> np.ndarray:
    """Draw ``figure`` and return it as RGB ``uint8 (height, width, 3)``."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
