"""dreamvideo: DeepDream for videos, live streams and 360° panoramas."""

__version__ = "0.1.0"
