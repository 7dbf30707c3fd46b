"""A run's layout: from settings and metadata (resolve_layout), the aspect check, VR names, the eye split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.errors import ConfigError
from dreamvideo.io import open_video, write_image
from dreamvideo.io.spherical import SphericalInfo, read_spherical, spherical_for
from dreamvideo.layout import Layout, check_aspect, frame_aspect, resolve_layout, split_eyes, vr_name

from .io.conftest import texture
from .io.test_spherical import writer_clip


@pytest.mark.parametrize(
    "projection, stereo, info, expected",
    [
        ("auto", "auto", None, ("flat", "none")),
        ("auto", "auto", SphericalInfo(stereo="top-bottom", source="v2"), ("equirect", "top-bottom")),
        ("auto", "auto", SphericalInfo(source="gpano"), ("equirect", "none")),
        ("flat", "auto", SphericalInfo(stereo="left-right"), ("flat", "left-right")),
        ("equirect", "auto", None, ("equirect", "none")),
        ("auto", "none", SphericalInfo(stereo="top-bottom"), ("equirect", "none")),
        ("equirect", "left-right", None, ("equirect", "left-right")),
    ],
)
def test_resolve_layout(projection, stereo, info, expected):
    settings = DreamSettings(projection=projection, stereo=stereo)
    assert resolve_layout(settings, info) == expected


@pytest.mark.parametrize(
    "info, match",
    [
        (SphericalInfo(projection="cubemap"), "cubemap projection"),
        (SphericalInfo(cropped=True), "cropped"),
        (SphericalInfo(stereo="right-left"), "right-left stereo"),
    ],
)
def test_resolve_layout_warns_on_what_it_cannot_follow(info, match):
    with pytest.warns(UserWarning, match=match):
        layout = resolve_layout(DreamSettings(), info, name="x.mp4")
    assert layout == (("equirect", "none") if info.stereo == "right-left" else ("flat", "none"))


def test_layout_from_real_files(tmp_path):
    """Input metadata switches equirect and stereo on by itself: a V2 MP4 and a GPano JPEG."""
    video = writer_clip(tmp_path / "in.mp4", SphericalInfo(stereo="top-bottom"), width=64, height=64)
    with open_video(str(video)) as reader:
        layout = resolve_layout(DreamSettings(), reader.info.spherical)
    assert layout == ("equirect", "top-bottom")
    assert spherical_for(*layout) == SphericalInfo("equirectangular", "top-bottom")
    still = tmp_path / "in.jpg"
    write_image(still, texture(0, 64, 32), spherical=SphericalInfo())
    assert resolve_layout(DreamSettings(), read_spherical(still)) == ("equirect", "none")


def test_check_aspect():
    equirect = Layout("equirect", "none")
    check_aspect((128, 64), equirect)
    check_aspect((128, 128), Layout("equirect", "top-bottom"))
    check_aspect((256, 64), Layout("equirect", "left-right"))
    check_aspect((640, 480), Layout("flat", "none"))
    with pytest.warns(UserWarning, match=r"in.mp4 is 640x480 \(aspect 1.33:1\).*2:1"):
        check_aspect((640, 480), equirect, name="in.mp4")
    with pytest.warns(UserWarning, match=r"top-bottom frame is 1:1"):
        check_aspect((128, 64), Layout("equirect", "top-bottom"))
    with pytest.raises(ConfigError, match="640x480"):
        check_aspect((640, 480), equirect, strict=True)


@pytest.mark.parametrize(
    "name, layout, expected",
    [
        ("out/clip.mp4", Layout("equirect", "none"), "out/clip_360.mp4"),
        ("clip.mp4", Layout("equirect", "top-bottom"), "clip_360_TB.mp4"),
        ("clip.jpg", Layout("equirect", "left-right"), "clip_360_LR.jpg"),
        ("clip_360_TB.mp4", Layout("equirect", "top-bottom"), "clip_360_TB.mp4"),
        ("clip_360.mp4", Layout("equirect", "top-bottom"), "clip_360_TB.mp4"),
        # a stereo tag already there goes after _360, as the README promises (NAME_360_TB)
        ("d_tb.mp4", Layout("equirect", "top-bottom"), "d_360_TB.mp4"),
        ("d_TB_360.mp4", Layout("equirect", "top-bottom"), "d_360_TB.mp4"),
        ("d-lr.jpg", Layout("equirect", "left-right"), "d_360_LR.jpg"),
        ("trip_360.mp4", Layout("equirect", "none"), "trip_360.mp4"),
        ("360.mp4", Layout("equirect", "none"), "360_360.mp4"),
        ("clip.mp4", Layout("flat", "none"), "clip.mp4"),
        ("-", Layout("equirect", "none"), "-"),
        ("udp://host:1234", Layout("equirect", "none"), "udp://host:1234"),
    ],
)
def test_vr_name(name, layout, expected):
    assert vr_name(name, layout) == expected


@pytest.mark.parametrize("stereo, aspect", [("none", (2, 1)), ("top-bottom", (1, 1)), ("left-right", (4, 1))])
def test_frame_aspect(stereo, aspect):
    """2:1 per eye: the aspect the run checks (check_aspect) and the viewer guesses by."""
    assert frame_aspect(stereo) == aspect


@pytest.mark.parametrize("stereo", ["top-bottom", "left-right"])
def test_split_eyes_host_and_device_frames_agree(stereo):
    """The one eye split: a host frame (H, W, 3) and the same frame on the device (1, 3, H, W)."""
    host = np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    device = torch.from_numpy(host).permute(2, 0, 1)[None]
    left, right = split_eyes(host, stereo, channels_last=True)
    d_left, d_right = split_eyes(device, stereo)
    assert left.shape == ((4, 12, 3) if stereo == "top-bottom" else (8, 6, 3))
    np.testing.assert_array_equal(left, d_left[0].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(right, d_right[0].permute(1, 2, 0).numpy())
    joined = np.concatenate([left, right], axis=0 if stereo == "top-bottom" else 1)
    np.testing.assert_array_equal(joined, host)


def test_split_eyes_refuses_odd_frames_and_unknown_layouts():
    with pytest.raises(ConfigError, match="even height"):
        split_eyes(torch.zeros(1, 3, 7, 8), "top-bottom")
    with pytest.raises(ConfigError, match="even width"):
        split_eyes(np.zeros((8, 7, 3)), "left-right", channels_last=True)
    with pytest.raises(ConfigError, match="unknown stereo layout"):
        split_eyes(torch.zeros(1, 3, 8, 8), "none")
