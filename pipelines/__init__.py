"""TOML presets, one per use (installed as ``dreamvideo.pipelines``)."""
