"""360° runs end to end: input metadata turns equirect and stereo on, the output keeps it.

Every run goes through ``dreamvideo.cli.main`` in this process with a tiny, fast
dream; outputs are checked with the ffprobe program and the project's reader.
"""

from __future__ import annotations

import warnings

import pytest

from dreamvideo.cli import main
from dreamvideo.io import write_image
from dreamvideo.io import spherical as sm
from dreamvideo.io.spherical import SphericalInfo

from ..io.conftest import ffprobe, needs_ffmpeg, texture
from ..io.test_spherical import _damage, pyav_clip, side_data, writer_clip

pytestmark = needs_ffmpeg

FAST = ["--octaves", "1", "--steps", "1", "--refine-steps", "1", "--flow", "none", "--sphere-mode", "equirect",
        "--quiet"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dream_follows_input_metadata_and_vr_names(tmp_path, capsys):
    src = writer_clip(tmp_path / "in.mp4", SphericalInfo(stereo="top-bottom"), width=64, height=64)
    code, out, err = run(capsys, "dream", src, tmp_path / "out.mp4", "--vr-names", *FAST)
    assert code == 0, err
    result = tmp_path / "out_360_TB.mp4"
    assert result.exists() and not (tmp_path / "out.mp4").exists()
    assert "out_360_TB.mp4" in out and "warning" not in err
    assert sm.read_spherical(result) == SphericalInfo("equirectangular", "top-bottom", "v2")
    found = side_data(result)
    assert found["Spherical Mapping"]["projection"] == "equirectangular"
    assert found["Stereo 3D"]["type"] == "top and bottom"


def test_flat_input_stays_flat_and_explicit_projection_marks_it(tmp_path, capsys):
    src = writer_clip(tmp_path / "flat.mp4", None, width=64, height=32)
    code, _, err = run(capsys, "dream", src, tmp_path / "out.mp4", "--vr-names", *FAST)
    assert code == 0, err
    assert sm.read_spherical(tmp_path / "out.mp4") is None  # no metadata, no _360
    code, _, err = run(capsys, "dream", src, tmp_path / "marked.mov", "--projection", "equirect", *FAST)
    assert code == 0, err
    assert sm.read_spherical(tmp_path / "marked.mov") == SphericalInfo("equirectangular", "none", "v2")


def test_damaged_input_metadata_is_not_fatal_and_not_copied(tmp_path, capsys):
    src = pyav_clip(tmp_path / "in.mp4")
    sm.inject_spherical(src, SphericalInfo(stereo="top-bottom"), v1=False)
    _damage(src, "sv3d-size")
    code, _, err = run(capsys, "dream", src, tmp_path / "out.mp4", *FAST)
    assert code == 0, err
    assert "warning:" in err and "damaged spherical metadata" in err
    out = (tmp_path / "out.mp4").read_bytes()
    assert b"sv3d" not in out and b"st3d" not in out and sm.SPHERICAL_UUID not in out
    assert "side_data_list" not in ffprobe(tmp_path / "out.mp4", "-show_streams")["streams"][0]


def test_damaged_v2_with_good_v1_gives_fresh_boxes(tmp_path, capsys):
    src = pyav_clip(tmp_path / "in.mp4")
    sm.inject_spherical(src, SphericalInfo(stereo="top-bottom"))
    _damage(src, "sv3d-size")
    code, _, err = run(capsys, "dream", src, tmp_path / "out.mp4", *FAST)
    assert code == 0, err
    assert "damaged spherical metadata" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing damaged in the output
        assert sm.read_spherical(tmp_path / "out.mp4") == SphericalInfo("equirectangular", "top-bottom", "v2")
    assert side_data(tmp_path / "out.mp4")["Stereo 3D"]["type"] == "top and bottom"


def test_aspect_warning_and_strict_error(tmp_path, capsys):
    src = writer_clip(tmp_path / "wide.mp4", SphericalInfo(), width=96, height=72)
    code, _, err = run(capsys, "dream", src, tmp_path / "out.mp4", *FAST)
    assert code == 0, err
    assert "warning:" in err and "96x72" in err and "2:1" in err
    code, _, err = run(capsys, "dream", src, tmp_path / "strict.mp4", "--strict", *FAST)
    assert code == 2 and err.startswith("error:") and "96x72" in err
    assert not (tmp_path / "strict.mp4").exists()


def test_image_keeps_gpano_and_vr_names(tmp_path, capsys):
    src = tmp_path / "pano.jpg"
    write_image(src, texture(0, 128, 64), spherical=SphericalInfo())
    code, out, err = run(capsys, "image", src, tmp_path / "dreamed.jpg", "--vr-names", "--octaves", "1",
                         "--steps", "1", "--sphere-mode", "equirect")
    assert code == 0, err
    result = tmp_path / "dreamed_360.jpg"
    assert result.exists() and "dreamed_360.jpg" in out
    assert sm.read_spherical(result) == SphericalInfo("equirectangular", "none", "gpano")


def test_probe_command_shows_it(tmp_path, capsys):
    src = writer_clip(tmp_path / "in.mp4", SphericalInfo(stereo="left-right"), width=128, height=32)
    code, out, _ = run(capsys, "probe", src)
    assert code == 0 and "360° equirectangular, stereo left-right (spherical V2)" in out
    code, out, _ = run(capsys, "probe", src, "--json")
    assert code == 0 and '"stereo": "left-right"' in out
    assert ffprobe(src, "-show_streams")["streams"][0]["side_data_list"]
