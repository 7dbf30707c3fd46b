"""Equirectangular 360° panoramas: projection (sphere sampled through views) and stereo (one dream for both eyes).

A run's layout is ``dreamvideo.layout``; spherical metadata is ``dreamvideo.io.spherical``.
"""
