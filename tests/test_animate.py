"""Animation from a still: motion applied, structure and crispness kept, music muxed, a 360° journey."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from dreamvideo.animate import flat_step, sphere_step, structure
from dreamvideo.cli import main
from dreamvideo.io import open_video, write_image
from dreamvideo.metrics import seam_ratio
from dreamvideo.io.spherical import read_spherical_mp4, spherical_for

from .clips import panorama
from .conftest import photo
from .music.tracks import beat_times, click_track, write_audio

TINY = ["--octaves", "1", "--steps", "2", "--device", "cpu", "--quiet"]


def _frames(path):
    with open_video(str(path)) as reader:
        return [frame.image for frame in reader]


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    path = tmp_path_factory.mktemp("animate") / "still.png"
    write_image(path, photo("astronaut", (96, 64)))
    return path


def test_shift_is_applied_and_the_still_keeps_its_layout(still, tmp_path, capsys):
    out, report = tmp_path / "shift.mp4", tmp_path / "report.json"
    code = main(["animate", str(still), str(out), "--length", "10", "--translation-x", "2", "--json-report", str(report), *TINY])
    assert code == 0, capsys.readouterr().err
    frames = _frames(out)
    assert len(frames) == 10
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (frames[0], frames[9])]
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1])
    assert dx == pytest.approx(18, abs=1.0) and abs(dy) < 1.0  # 2 px a frame, 9 frames on
    data = json.loads(report.read_text())
    assert min(data["structure"]) > 0.9
    assert min(data["sharpness"]) > 0.6 * data["sharpness"][0]


def test_scheduled_zoom_with_music_muxed_in(still, tmp_path, capsys):
    """As long as the music; the zoom pulses on its beats (scheduled from the beat feature)."""
    music = tmp_path / "beat.wav"
    write_audio(music, click_track(beat_times(150, 0.6, start=0.1), 0.6))
    out, report = tmp_path / "zoom.mp4", tmp_path / "report.json"
    args = ["animate", str(still), str(out), "--music", str(music), "--rate", "20", "--zoom", "0:(1 + 0.05*beat)"]
    assert main([*args, "--json-report", str(report), *TINY]) == 0, capsys.readouterr().err
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 12 or len(_frames(out)) == 12  # 0.6 s at 20 fps
        assert container.streams.audio, "the music is muxed in"
    zoom = json.loads(report.read_text())["schedules"]["zoom"]["per_frame"]
    assert max(zoom.values()) == pytest.approx(1.05) and min(zoom.values()) < 1.01


def test_a_360_still_becomes_a_headset_journey(tmp_path, capsys):
    """Yaw turns the camera through the sphere: the picture moves round the seam, which stays seamless,
    and the video carries the 360° metadata."""
    pano = cv2.resize(panorama("workshop"), (128, 64), interpolation=cv2.INTER_AREA)
    path = tmp_path / "pano.png"
    write_image(path, pano, spherical=spherical_for("equirect", "none"))
    out = tmp_path / "journey.mp4"
    code = main(["animate", str(path), str(out), "--length", "6", "--yaw", "9", "--sphere-mode", "equirect", *TINY])
    assert code == 0, capsys.readouterr().err
    info = read_spherical_mp4(out)
    assert info is not None and info.projection == "equirectangular"
    frames = _frames(out)
    shift = round(5 * 9 / 360 * 128)  # yaw right 45°: the picture moves 16 columns left
    best = min(range(-32, 33), key=lambda s: np.abs(np.roll(pano, s, axis=1).astype(int) - frames[5]).mean())
    assert best == -shift
    for frame in (frames[0], frames[5]):  # the seam is no worse than an ordinary pair of neighbouring columns
        columns = np.abs(np.diff(frame.astype(float), axis=1)).mean(axis=(0, 2))
        assert seam_ratio(frame) < 1.5 and seam_ratio(frame) <= np.percentile(columns, 99) / columns.mean()
    assert structure(frames[5], np.roll(pano, -shift, axis=1) / 255.0) > 0.9


def test_motion_that_does_not_fit_the_picture_is_refused(still, tmp_path, capsys):
    assert main(["animate", str(still), str(tmp_path / "o.mp4"), "--length", "2", "--yaw", "5", *TINY]) == 2
    assert "this still is flat" in capsys.readouterr().err
    assert main(["animate", str(still), str(tmp_path / "o.mp4"), *TINY]) == 2
    assert "give --length N" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_render_refuses_an_animation_preset(tmp_path, capsys):
    preset = tmp_path / "spin.toml"
    preset.write_text("[animate]\nangle = 1.5\n")
    code = main(["render", "clip.mp4", "--frames", "0-9", "--out", str(tmp_path / "frames"), "--preset", str(preset)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be split into frame ranges" in err and "dreamvideo animate" in err


def test_motion_matrices():
    step = flat_step((100, 50), 2.0, 0.0, 3.0, 0.0)
    centre = np.array([49.5, 24.5, 1.0])
    assert np.allclose(step @ centre, [52.5, 24.5, 1.0])  # the centre stays, then shifts 3 right
    assert np.allclose(step @ (centre + [10, 0, 0]), [72.5, 24.5, 1.0])  # zoom 2 doubles distances
    forward = np.array([0.0, 0.0, 1.0])
    assert np.allclose(sphere_step(90, 0, 0) @ forward, [1, 0, 0])  # yaw right: looks along +x
    assert np.allclose(sphere_step(0, 90, 0) @ forward, [0, 1, 0])  # pitch up
    assert np.allclose(sphere_step(0, 0, 90) @ [0, 1, 0], [1, 0, 0])  # roll clockwise: up leans right


def test_a_video_animates_from_its_last_frame(tmp_path, capsys):
    from .io.conftest import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=5, width=64, height=48)
    out = tmp_path / "on.mp4"
    assert main(["animate", str(clip), str(out), "--length", "2", "--zoom", "1.05", *TINY]) == 0, capsys.readouterr().err
    source = _frames(clip)
    first = _frames(out)[0]
    assert first.shape == source[-1].shape
    assert structure(first, source[-1] / 255.0) > 0.9
    assert structure(first, source[-1] / 255.0) > structure(first, source[0] / 255.0)  # the last frame, not the first
