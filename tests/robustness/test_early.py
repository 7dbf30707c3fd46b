"""Bad outputs and options are found before any work: the model is never built, no frame dreamed."""

from __future__ import annotations

import pytest

from .cases import VIDEO, Workspace
from .media import needs_ffmpeg

pytestmark = needs_ffmpeg


@pytest.fixture
def built(monkeypatch) -> list[object]:
    """Records every dreamer the runner builds (the real one is still built and used)."""
    import dreamvideo.pipeline as pipeline

    calls: list[object] = []
    real = pipeline.dreamer_for

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "dreamer_for", spy)
    return calls


@pytest.mark.parametrize(
    "output, extra, message",
    [
        ("/proc/x.mp4", [], "cannot write /proc/x.mp4"),
        ("{tmp}/o.mp4", ["--json-report", "/proc/r.json"], "cannot write /proc/r.json"),
        ("{tmp}/o.webm", ["--codec", "prores"], "cannot write video to a .webm"),
        ("{tmp}/o.mp4", ["--codec", "prores"], "cannot write prores to a .mp4"),
        ("{tmp}/o.mp4", ["--audio", "{tmp}/missing.m4a"], "no such file"),
    ],
)
def test_refused_before_the_model_loads(tmp_path, built, output, extra, message):
    ws = Workspace(tmp_path / "ws")
    argv = [a.format(tmp=tmp_path) for a in ["dream", str(ws.media.path("clip")), output, *extra, *VIDEO]]
    ws.cli(*argv).fails(2, message)
    assert built == [], "the model was built before the refusal"


def test_a_good_run_builds_the_model_once(tmp_path, built):
    """The spy sees the real run (so the refusals above are not a broken spy)."""
    ws = Workspace(tmp_path / "ws")
    ws.cli("dream", ws.media.path("one_frame"), tmp_path / "o.mp4", *VIDEO).succeeds()
    assert len(built) == 1
