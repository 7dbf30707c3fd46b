"""Equirectangular 360° panoramas (planned)."""
