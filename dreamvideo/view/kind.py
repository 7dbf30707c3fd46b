"""What the viewer shows a file as: image or video, sphere or flat, which stereo layout.

A file is shown as an equirectangular sphere when it declares spherical
metadata, or else when one eye's picture is 2:1 (mono 2:1, top-bottom 1:1,
left-right 4:1); anything else is flat. ``--projection`` and ``--stereo`` beat
both. Stereo files show one eye: the top half, or the left half.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.io.probe import probe
from dreamvideo.io.spherical import read_spherical
from dreamvideo.layout import ASPECT_TOLERANCE, PROJECTIONS, STEREO_LAYOUTS, frame_aspect

__all__ = [
    "PROJECTIONS",
    "STEREO_LAYOUTS",
    "ViewKind",
    "MediaInfo",
    "describe_media",
    "guess_kind",
    "spherical_metadata",
]


# Pictures the browser can decode; TIFF is the one still format we read that it cannot.
_BROWSER_CANNOT = {".tif", ".tiff"}
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".avif": "image/avif",
}


@dataclass(frozen=True)
class ViewKind:
    """How to show a picture: ``projection`` in PROJECTIONS, ``stereo`` in STEREO_LAYOUTS, and why."""

    projection: str
    stereo: str
    reason: str


@dataclass(frozen=True)
class MediaInfo:
    """A file as the page needs it: ``media`` is ``"image"`` or ``"video"``; size in pixels (upright)."""

    path: Path
    media: str
    mime: str
    width: int
    height: int
    kind: ViewKind

    def to_dict(self, url: str) -> dict[str, object]:
        """The ``/info`` JSON: ``name``, ``url``, ``media``, ``mime``, ``width``, ``height``, ``projection``, ``stereo``, ``reason``."""
        return {
            "name": self.path.name,
            "url": url,
            "media": self.media,
            "mime": self.mime,
            "width": self.width,
            "height": self.height,
            **asdict(self.kind),
        }


def spherical_metadata(path: str | os.PathLike) -> ViewKind | None:
    """The projection and stereo layout ``path`` declares in its spherical metadata, or None.

    Read by ``dreamvideo.io.spherical.read_spherical``: Google's Spherical Video
    V2 (``sv3d``/``st3d``) or V1 (uuid XML) boxes of an MP4/MOV, GPano XMP of a JPEG
    or PNG. Only what the page can show counts: a full equirect sphere, mono,
    top-bottom or left-right; anything else (cubemap, a cropped sphere, right-left)
    is left to the aspect rule and the flags.
    """
    info = read_spherical(path)
    if info is None or not info.is_equirect or info.cropped or info.stereo not in STEREO_LAYOUTS:
        return None
    return ViewKind("equirect", info.stereo, f"spherical metadata ({info.source})")


def guess_kind(
    width: int,
    height: int,
    *,
    declared: ViewKind | None = None,
    projection: str | None = None,
    stereo: str | None = None,
) -> ViewKind:
    """Decide projection and stereo layout: flags beat ``declared`` metadata, which beats the aspect.

    Raises:
        ConfigError: ``projection`` or ``stereo`` is not a known name.
    """
    if projection is not None and projection not in PROJECTIONS:
        raise ConfigError(f"--projection must be one of {', '.join(PROJECTIONS)}")
    if stereo is not None and stereo not in STEREO_LAYOUTS:
        raise ConfigError(f"--stereo must be one of {', '.join(STEREO_LAYOUTS)}")
    if declared is not None:
        guessed = declared
    else:
        guessed = _by_aspect(width, height, stereo)
    if projection is None and stereo is None:
        return guessed
    final_projection = projection or guessed.projection
    if stereo is not None:
        final_stereo = stereo
    elif final_projection == guessed.projection:
        final_stereo = guessed.stereo
    else:
        final_stereo = "none"  # e.g. --projection flat on a 1:1 file: not a stereo sphere after all
    flags = " ".join(
        f"--{name} {value}" for name, value in (("projection", projection), ("stereo", stereo)) if value
    )
    return ViewKind(final_projection, final_stereo, f"{flags} (else: {guessed.reason})")


def _by_aspect(width: int, height: int, stereo: str | None) -> ViewKind:
    """Equirect when one eye is 2:1; the layouts tried are ``stereo`` if given, else all three."""
    for layout in (stereo,) if stereo else STEREO_LAYOUTS:
        want_w, want_h = frame_aspect(layout)
        if abs(width * want_h / (height * want_w) - 1) <= ASPECT_TOLERANCE:
            return ViewKind("equirect", layout, f"aspect {want_w}:{want_h} ({width}x{height})")
    return ViewKind("flat", stereo or "none", f"aspect {width}x{height} is not an equirect one")


def describe_media(
    path: str | os.PathLike, *, projection: str | None = None, stereo: str | None = None
) -> MediaInfo:
    """Probe ``path`` (PyAV) and decide how the page shows it.

    Raises:
        MediaError: missing or unreadable file, no picture in it, or a format browsers cannot show.
        ConfigError: a bad ``projection`` / ``stereo`` name.
    """
    path = Path(path)
    if path.suffix.lower() in _BROWSER_CANNOT:
        raise MediaError(f"browsers cannot show {path.suffix} images", hint="convert it to PNG or JPEG first")
    info = probe(path)
    pictures = [s for s in info["streams"] if s["type"] == "video"]
    if not pictures:
        raise MediaError(f"{path} has no picture to show")
    stream = pictures[0]
    suffix = path.suffix.lower()
    is_image = suffix in _IMAGE_TYPES or str(info["format"]).endswith("_pipe") or info["format"] == "image2"
    if is_image:
        mime = _IMAGE_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    else:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not mime.startswith("video/") or mime == "video/quicktime":  # browsers play H.264 .mov as MP4
            mime = "video/webm" if suffix in (".mkv", ".webm") else "video/mp4"
    width, height = int(stream["width"]), int(stream["height"])
    kind = guess_kind(
        width, height, declared=spherical_metadata(path), projection=projection, stereo=stereo
    )
    return MediaInfo(path, "image" if is_image else "video", mime, width, height, kind)
