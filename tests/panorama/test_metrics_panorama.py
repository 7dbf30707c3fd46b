"""Seam ratio and pole streak score (DESIGN.md, Metrics) on synthetic and real panoramas."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.errors import ConfigError
from dreamvideo.metrics import pole_streak_score, pole_views, seam_ratio

from .fields import panorama, sphere_field


def test_seam_ratio_is_about_one_for_a_seamless_panorama_and_large_for_a_seamed_one():
    seamless = 127.5 + 100 * sphere_field(128, 256, "isotropic")
    assert 0.5 < seam_ratio(seamless) < 1.5
    seamed = seamless.copy()
    seamed[:, :128] += 200  # a step at the seam (and one in the middle, which the ratio ignores)
    assert seam_ratio(seamed) > 2 * seam_ratio(seamless)
    # The panorama rolled by half a turn: its old seam in the middle, its middle at the edges.
    real = panorama("lab", 256).astype(np.float64)
    assert seam_ratio(real) < 1.3
    broken = np.roll(real, 128, axis=1)
    broken[:, :128] = cv2.GaussianBlur(broken[:, :128], (0, 0), 4)  # a different picture left of the seam
    assert seam_ratio(broken) > seam_ratio(real) * 1.5


def test_seam_ratio_takes_grey_and_colour_frames():
    grey = 127.5 + 100 * sphere_field(64, 128, "isotropic")
    colour = np.repeat(grey[..., None], 3, axis=-1)
    assert seam_ratio(grey) == pytest.approx(seam_ratio(colour))


def test_pole_views_look_straight_up_and_down():
    height, width = 128, 256
    image = np.zeros((height, width), np.float32)
    image[: height // 4] = 200  # everything above 45° north
    image[3 * height // 4 :] = 50  # everything below 45° south
    zenith, nadir = pole_views(image)
    assert zenith.shape == nadir.shape == (224, 224)
    # A 90° view straight up sees only latitudes above 45° (the corners reach 35°: they are mixed).
    assert np.allclose(zenith[56:168, 56:168], 200) and np.allclose(nadir[56:168, 56:168], 50)
    r, c = np.mgrid[0:224, 0:224] - 111.5
    edge_middle = (np.abs(r) > 108) & (np.abs(c) < 4)
    assert np.all(zenith[edge_middle] > 100)  # the view's edge is at 45°, the border of the band


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        ("meridians", 0.85, 1.0),
        ("parallels", -1.0, -0.85),
        ("view-noise", -0.1, 0.1),
        # Texture with no preferred direction on the sphere reads about 0.23: the 90° view's
        # gnomonic projection stretches its edges radially twice, tangentially only 1.4 times.
        ("isotropic", 0.15, 0.3),
    ],
)
def test_pole_streak_score_reads_the_direction_of_the_difference(kind, low, high):
    height, width = 256, 512
    source = np.full((height, width, 3), 128.0)
    output = source + 40 * sphere_field(height, width, kind)[..., None]
    zenith, nadir = pole_streak_score(source, output)
    assert low <= zenith <= high and low <= nadir <= high


def test_pole_streak_score_needs_a_difference_and_one_shape():
    frame = panorama("lab", 128)
    assert all(np.isnan(score) for score in pole_streak_score(frame, frame))
    with pytest.raises(ConfigError):
        pole_streak_score(frame, frame[:, :-2])


def test_metrics_command_reports_panorama_figures(tmp_path, capsys):
    source = tmp_path / "source.png"
    dreamed = tmp_path / "dreamed.png"
    image = panorama("lab", 256)
    streaks = 30 * sphere_field(128, 256, "meridians")[..., None]
    cv2.imwrite(str(source), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = np.clip(image + streaks, 0, 255).astype(np.uint8)
    cv2.imwrite(str(dreamed), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    # What a user sees, from a real process.
    cmd = [sys.executable, "-m", "dreamvideo", "metrics", str(source), str(dreamed), "--json"]
    report = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    pano = report["panorama"]
    assert pano["seam_ratio"] < 1.3 and pano["pole_streak_zenith"] > 0.8 and pano["pole_streak_nadir"] > 0.8
    assert main(["metrics", str(source), str(dreamed)]) == 0
    text = capsys.readouterr().out
    assert "seam ratio" in text and "pole streaks" in text
    assert main(["metrics", str(source), str(dreamed), "--json", "--projection", "flat"]) == 0
    assert "panorama" not in json.loads(capsys.readouterr().out)


def test_metrics_follow_spherical_metadata_and_measure_the_left_eye(tmp_path):
    """A top-bottom stereo still with GPano XMP: equirect figures of the left (top) eye."""
    from dreamvideo.io import write_image
    from dreamvideo.metrics import compare_files
    from dreamvideo.io.spherical import SphericalInfo

    left = panorama("lab", 256)
    streaks = np.clip(left + 30 * sphere_field(128, 256, "meridians")[..., None], 0, 255).astype(np.uint8)
    rings = np.clip(left + 30 * sphere_field(128, 256, "parallels")[..., None], 0, 255).astype(np.uint8)
    stereo = SphericalInfo(stereo="top-bottom")
    write_image(tmp_path / "source.png", np.concatenate([left, left]), spherical=stereo)
    write_image(tmp_path / "dreamed.png", np.concatenate([streaks, rings]), spherical=stereo)
    report = compare_files(tmp_path / "source.png", tmp_path / "dreamed.png", processes=0)
    assert report.panorama is not None  # 1:1, but the metadata says equirect
    assert report.panorama["pole_streak_zenith"] > 0.8  # the top eye's streaks, not the bottom eye's rings
    assert report.panorama["seam_ratio"] < 1.3
