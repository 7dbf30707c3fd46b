"""Media in and out: still images, video decode and encode (with audio remux), probe."""

from dreamvideo.io._util import check_input_file, check_output_path, check_writable_folder, is_stream
from dreamvideo.io.decode import Frame, VideoInfo, VideoReader, check_video_input, open_video
from dreamvideo.io.encode import CODECS, CONTAINERS, Codec, VideoWriter, check_video_output, open_writer
from dreamvideo.io.images import IMAGE_FORMATS, StillImage, read_image, write_image
from dreamvideo.io.probe import format_probe, probe

__all__ = [
    "CODECS",
    "CONTAINERS",
    "Codec",
    "Frame",
    "IMAGE_FORMATS",
    "StillImage",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "check_input_file",
    "check_output_path",
    "check_writable_folder",
    "check_video_input",
    "check_video_output",
    "format_probe",
    "is_stream",
    "open_video",
    "open_writer",
    "probe",
    "read_image",
    "write_image",
]
