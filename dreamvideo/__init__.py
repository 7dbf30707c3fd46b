"""dreamvideo: DeepDream for videos, live streams and 360° panoramas.

The library is what the command line calls, with the same settings objects::

    from dreamvideo import DreamSettings, FrameRange, VideoSettings, assemble, dream_image, dream_video, render_frames

    dream_image("photo.jpg", "dream.png", DreamSettings(strength=1.5))
    dream_video("clip.mp4", "dreamed.mp4", DreamSettings(), VideoSettings(frames="0-99"))
    render_frames("clip.mp4", "frames/", FrameRange(0, 49), DreamSettings(), VideoSettings())
    assemble("frames/", "dreamed.mp4")

Names are imported on first use, so ``import dreamvideo`` stays light (no torch).
(``render_frames``, not ``render``: ``dreamvideo.render`` is the module it lives in.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → (module, attribute)
_API = {
    "DreamSettings": ("dreamvideo.config", "DreamSettings"),
    "VideoSettings": ("dreamvideo.config", "VideoSettings"),
    "FrameRange": ("dreamvideo.config", "FrameRange"),
    "dream_image": ("dreamvideo.still", "dream_image_file"),
    "dream_video": ("dreamvideo.pipeline", "dream_video"),
    "render_frames": ("dreamvideo.render", "render_frames"),
    "assemble": ("dreamvideo.render", "assemble"),
    "AnimateSettings": ("dreamvideo.config", "AnimateSettings"),
    "animate_still": ("dreamvideo.animate", "animate_still"),
    "load_music": ("dreamvideo.music", "load_music"),
}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:
    from .animate import animate_still
    from .config import AnimateSettings, DreamSettings, FrameRange, VideoSettings
    from .music import load_music
    from .pipeline import dream_video
    from .render import assemble, render_frames
    from .still import dream_image_file as dream_image


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'dreamvideo' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(module), attribute)
