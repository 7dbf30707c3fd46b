"""Still images (PNG, JPEG, WebP, TIFF; 8/16-bit; grey, RGB, alpha) through OpenCV."""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.io._util import check_input_file
from dreamvideo.io.atomic import write_atomically
from dreamvideo.io.spherical import SphericalInfo, gpano_xmp, with_image_xmp

__all__ = ["StillImage", "read_image", "write_image", "IMAGE_FORMATS"]

_LOG_LEVEL_ERROR = 2  # OpenCV's LOG_LEVEL_ERROR, the same number in every version

#: Extension → (format name, highest bit depth, keeps alpha).
IMAGE_FORMATS: dict[str, tuple[str, int, bool]] = {
    ".png": ("PNG", 16, True),
    ".jpg": ("JPEG", 8, False),
    ".jpeg": ("JPEG", 8, False),
    ".webp": ("WebP", 8, True),
    ".tif": ("TIFF", 16, True),
    ".tiff": ("TIFF", 16, True),
}

_ENCODE_PARAMS = {
    "JPEG": [cv2.IMWRITE_JPEG_QUALITY, 95],
    "WebP": [cv2.IMWRITE_WEBP_QUALITY, 95],
}


@dataclass
class StillImage:
    """A decoded still image.

    Attributes:
        rgb: ``float32 (H, W, 3)`` in [0, 1]; float so 16-bit precision survives.
        alpha: ``(H, W)`` in the file's dtype, unchanged, or None.
        dtype: the file's sample type, ``uint8`` or ``uint16``.
        grey: True when the image has no colour (one channel, or all channels equal).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    dtype: np.dtype
    grey: bool

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.rgb.shape[1], self.rgb.shape[0]


@contextlib.contextmanager
def _quiet_opencv():
    # libtiff warns about the ExtraSamples tag of the RGBA TIFFs OpenCV itself writes.
    # OpenCV's log level is set through cv2.utils.logging in OpenCV 5, through cv2 itself in 4.8.
    logging = getattr(cv2.utils, "logging", cv2)
    previous = logging.getLogLevel()
    logging.setLogLevel(_LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def read_image(path: str | os.PathLike) -> StillImage:
    """Read a still image; EXIF orientation is applied to images without alpha.

    Raises:
        MediaError: the file is missing, unreadable, or not an 8/16-bit image.
    """
    check_input_file(path)
    try:
        data = np.frombuffer(Path(path).read_bytes(), np.uint8)
    except OSError as e:
        raise MediaError(f"cannot read {path}: {e.strerror}") from e
    with _quiet_opencv():
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if raw is None:
            raise MediaError(
                f"cannot read {path}: not an image OpenCV can decode",
                hint="use PNG, JPEG, WebP or TIFF",
            )
        if raw.dtype not in (np.uint8, np.uint16):
            raise MediaError(f"cannot read {path}: {raw.dtype} samples are not supported; use 8 or 16 bits")
        alpha = None
        if raw.ndim == 3 and raw.shape[2] == 4:
            alpha = raw[:, :, 3].copy()
            pixels = raw[:, :, :3]
        else:
            # IMREAD_UNCHANGED ignores EXIF orientation; this read keeps depth and channels and applies it.
            pixels = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 3):
        raise MediaError(f"cannot read {path}: {pixels.shape[2]}-channel images are not supported")
    scale = 1.0 / np.iinfo(raw.dtype).max
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        grey_plane = pixels.reshape(pixels.shape[:2]).astype(np.float32) * scale
        rgb = np.repeat(grey_plane[:, :, None], 3, axis=2)
        grey = True
    else:
        rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB).astype(np.float32) * scale
        grey = bool((pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all())
    return StillImage(rgb=rgb, alpha=alpha, dtype=raw.dtype, grey=grey)


def _convert(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert float [0, 1], uint8 or uint16 samples to ``dtype`` (uint8 or uint16)."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    top = np.iinfo(dtype).max
    if np.issubdtype(x.dtype, np.floating):
        return (np.clip(x, 0.0, 1.0) * top + 0.5).astype(dtype)
    if x.dtype == np.uint8:
        return x.astype(np.uint16) * 257
    if x.dtype == np.uint16:
        return ((x.astype(np.uint32) + 128) // 257).astype(np.uint8)
    raise ValueError(f"unsupported sample type {x.dtype}; use float in [0, 1], uint8 or uint16")


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    like: StillImage | None = None,
    spherical: SphericalInfo | None = None,
) -> None:
    """Write ``rgb`` (``(H, W, 3)``: float in [0, 1], uint8 or uint16) to ``path``.

    The format follows the extension. With ``like``, the bit depth, greyness and
    alpha of that image are kept where the format allows (JPEG and WebP are 8-bit;
    JPEG drops alpha with a warning). The file is written beside ``path`` under a
    temporary name and renamed when complete, so a failure leaves any existing
    file untouched.

    ``spherical`` marks the image as a 360° equirectangular panorama: JPEG and PNG
    get GPano XMP (see ``io.spherical``); WebP and TIFF warn that they carry none.

    Raises:
        MediaError: unknown extension, or the file cannot be written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_FORMATS:
        known = ", ".join(sorted(IMAGE_FORMATS))
        raise MediaError(
            f"cannot write {path}: unknown image extension {ext or '(none)'!r}", hint=f"use one of {known}"
        )
    fmt, max_bits, keeps_alpha = IMAGE_FORMATS[ext]
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")

    if like is not None:
        dtype = np.dtype(like.dtype)
    else:
        dtype = np.dtype(np.uint16 if rgb.dtype == np.uint16 else np.uint8)
    if max_bits == 8:
        dtype = np.dtype(np.uint8)
    pixels = cv2.cvtColor(_convert(rgb, dtype), cv2.COLOR_RGB2BGR)
    if like is not None and like.grey:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)

    alpha = like.alpha if like is not None else None
    if alpha is not None and not keeps_alpha:
        warnings.warn(f"{fmt} has no alpha channel; {path.name} is written without it", stacklevel=2)
        alpha = None
    if alpha is not None:
        height, width = pixels.shape[:2]
        if alpha.shape != (height, width):
            alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
        if pixels.ndim == 2:  # OpenCV writes no grey+alpha; grey in all three channels reads back as grey
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        pixels = np.dstack([pixels, _convert(alpha, dtype)])

    with _quiet_opencv():
        try:
            ok, encoded = cv2.imencode(ext, np.ascontiguousarray(pixels), _ENCODE_PARAMS.get(fmt, []))
        except cv2.error as e:
            raise MediaError(f"cannot encode {path.name} as {fmt}: {e.err}") from e
    if not ok:
        raise MediaError(f"cannot encode {path.name} as {fmt}")
    data = encoded.tobytes()
    if spherical is not None:
        if fmt in ("JPEG", "PNG"):
            height, width = rgb.shape[:2]
            data = with_image_xmp(data, gpano_xmp(width, height, spherical.stereo), fmt)
        else:
            warnings.warn(
                f"{fmt} output carries no spherical metadata: viewers will not see {path.name} as 360°; "
                "use .jpg or .png",
                stacklevel=2,
            )
    write_atomically(path, data)
