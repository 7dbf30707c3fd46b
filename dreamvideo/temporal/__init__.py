"""Optical flow, warping, occlusion masks and scene cuts.

Import from the submodules (``dreamvideo.temporal.flow`` and so on). This file
imports nothing on purpose: the flow worker processes import
``dreamvideo.temporal.flow`` and must stay free of torch.
"""
