"""What a user finds a look with: `image --width/--size`, `--logit` by name, `presets NAME`,
`models NAME [--all]`, refused containers, `--audio` for streams, units in `metrics`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from dreamvideo.cli import main
from dreamvideo.config import load_preset
from dreamvideo.io import CONTAINERS, open_writer
from dreamvideo.errors import ConfigError
from dreamvideo.models import imagenet_class

from .conftest import photo
from .io.conftest import NTSC, ffmpeg, ffprobe, make_clip, needs_ffmpeg, texture
from .test_cli_dream import ENV, Untouched, error_lines
from .test_pipeline import BURST_AT, burst_onset, clip_burst  # noqa: F401 - the fixture

FAST = ["--octaves", "1", "--steps", "1"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def still(tmp_path) -> Path:
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo("chelsea", (120, 80)), cv2.COLOR_RGB2BGR))
    return path


@pytest.mark.parametrize(
    "args, size, upscales",
    [(["--width", "60"], (60, 40), False), (["--size", "64x48"], (64, 48), False), (["--width", "180"], (180, 120), True)],
)
def test_image_width_and_size(capsys, tmp_path, still, args, size, upscales):
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "image", still, out, *FAST, *args)
    assert code == 0, err
    h, w = cv2.imread(str(out)).shape[:2]
    assert (w, h) == size
    assert ("upscales the 120x80 source" in err) == upscales


def test_image_width_and_size_together_is_refused(capsys, tmp_path, still):
    code, _, err = run(capsys, "image", still, tmp_path / "out.png", "--width", "60", "--size", "60x40")
    assert code == 2 and error_lines(err) == ["error: give --width or --size, not both"]
    assert not (tmp_path / "out.png").exists()


def test_logit_by_name():
    assert imagenet_class("Egyptian cat") == 285
    assert imagenet_class("espresso") == 967
    assert imagenet_class("goldfish") == 1
    assert imagenet_class("285") == 285
    with pytest.raises(ConfigError, match="several ImageNet classes"):
        imagenet_class("cat")
    with pytest.raises(ConfigError, match="no ImageNet class"):
        imagenet_class("flibbertigibbet")


def test_logit_name_on_the_command_line(capsys, tmp_path, still):
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "image", still, out, *FAST, "--logit", "goldfish")
    assert code == 0, err
    assert "logit(1)" in stdout
    code, _, err = run(capsys, "image", still, out, *FAST, "--logit", "cat")
    assert code == 2 and len(error_lines(err)) == 1 and "several ImageNet classes" in err


def test_presets_name_prints_its_settings(capsys):
    code, out, err = run(capsys, "presets", "music-video")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("music-video: ")
    preset = load_preset("music-video")
    for table, values in preset.items():
        for key, value in values.items():
            assert f"  {key.replace('_', '-'):14s} {value!r}" in lines
    code, _, err = run(capsys, "presets", "nope")
    assert code == 2 and error_lines(err) == ["error: no preset 'nope'"]


def test_models_lists_layers_worth_dreaming_and_all(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, out, _ = run(capsys, "models", "googlenet")
    worth = [line.strip() for line in out.splitlines()[1:]]
    _, out, _ = run(capsys, "models", "googlenet", "--all")
    every = [line.strip() for line in out.splitlines()[1:]]
    assert {"inception4c", "inception4d.branch4.0", "conv1"} <= set(worth)
    assert "conv1.bn" not in worth and "conv1.bn" in every and "fc" not in worth
    assert set(worth) < set(every)


@needs_ffmpeg
@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_every_named_container_holds_frames_and_rate(tmp_path, ext):
    out = tmp_path / f"out{ext}"
    with open_writer(str(out), width=64, height=48, rate=NTSC, time_base=1 / NTSC) as writer:
        for i in range(5):
            writer.write(texture(i, 64, 48))
    (stream,) = ffprobe(out, "-count_frames", "-show_streams")["streams"]
    assert int(stream["nb_read_frames"]) == 5
    assert stream["r_frame_rate"] == "30000/1001"


@needs_ffmpeg
@pytest.mark.parametrize("ext", [".avi", ".webm", ".flv", ".gif"])
def test_other_containers_are_refused_before_any_work(capsys, tmp_path, ext):
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    out = Untouched(tmp_path / f"out{ext}")
    code, _, err = run(capsys, "dream", clip, out.path, *FAST, "--quiet")
    assert code == 2
    assert error_lines(err) == [f"error: cannot write video to a {ext}"]
    assert "use one of .mp4, .m4v, .mov, .mkv, .ts" in err
    out.check()


@needs_ffmpeg
def test_audio_file_gives_a_stream_its_soundtrack(tmp_path, clip_burst):  # noqa: F811 - the fixture
    """From a pipe the input's audio cannot be read twice; --audio takes it from a file, in sync."""
    ts = tmp_path / "in.ts"
    ffmpeg("-i", str(clip_burst), "-map", "0:v", "-c", "copy", "-f", "mpegts", str(ts))
    out = tmp_path / "out.mp4"
    with open(ts, "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "dreamvideo", "dream", "-", str(out), *FAST, "--audio", str(clip_burst), "--quiet"],
            stdin=stdin,
            capture_output=True,
            timeout=120,
            env=ENV,
        )
    assert done.returncode == 0, done.stderr.decode()
    streams = {s["codec_type"]: s for s in ffprobe(out, "-show_streams")["streams"]}
    assert streams["audio"]["codec_name"] == "aac"
    video_seconds = 24 * 1001 / 30000
    decoded, onset = burst_onset(out)
    assert decoded == pytest.approx(video_seconds, abs=0.03)
    assert onset == pytest.approx(BURST_AT, abs=0.005)


@needs_ffmpeg
def test_metrics_says_units_and_which_way_is_better(capsys, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=3)
    code, out, err = run(capsys, "metrics", clip, clip)
    assert code == 0, err
    assert "lower is steadier" in out and "higher is a stronger dream" in out and "0-255" in out
