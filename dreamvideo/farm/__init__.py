"""Render farms: the chunk planner (``plan``), OpenJD job bundles (``openjd``), a Ray runner (``ray_runner``).

Import the submodules; this file imports nothing so that ``plan`` and ``openjd`` stay free of torch and Ray.
"""
