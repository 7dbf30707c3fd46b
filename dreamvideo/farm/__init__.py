"""Render-farm frame ranges and chunks (planned)."""
