"""``dreamvideo view``: a local page that shows a 360° photo or video as a sphere you drag, or a flat player."""

from dreamvideo.view.kind import PROJECTIONS, STEREO_LAYOUTS, MediaInfo, ViewKind, describe_media, guess_kind, spherical_metadata
from dreamvideo.view.server import HOST, ViewServer, serve

__all__ = [
    "HOST",
    "MediaInfo",
    "PROJECTIONS",
    "STEREO_LAYOUTS",
    "ViewKind",
    "ViewServer",
    "describe_media",
    "guess_kind",
    "serve",
    "spherical_metadata",
]
