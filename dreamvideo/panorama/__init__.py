"""Equirectangular 360° panoramas: projection, stereo, spherical metadata.

Keep this file free of heavy imports (torch): ``dreamvideo.io`` imports
``dreamvideo.panorama.metadata``, which is standard library only.
"""
