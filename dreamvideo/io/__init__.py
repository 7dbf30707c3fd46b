"""Media in and out: still images, video decode and encode (with audio remux), probe."""

from dreamvideo.io.decode import Frame, VideoInfo, VideoReader, open_video
from dreamvideo.io.encode import CODECS, Codec, VideoWriter, open_writer
from dreamvideo.io.images import IMAGE_FORMATS, StillImage, read_image, write_image
from dreamvideo.io.probe import format_probe, probe

__all__ = [
    "CODECS",
    "Codec",
    "Frame",
    "IMAGE_FORMATS",
    "StillImage",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "format_probe",
    "open_video",
    "open_writer",
    "probe",
    "read_image",
    "write_image",
]
