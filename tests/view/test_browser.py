"""The viewer page in real headless Chromium (SwiftShader WebGL): drawn, dragged, flat, stereo, video.

Each check compares a screenshot with the view computed here from the panorama
(``expected_view``), so "drawn" means the right part of the right picture, not
just a non-blank canvas.
"""

from __future__ import annotations

import importlib.util
import subprocess

import cv2
import numpy as np
import pytest

from .cdp import FLAGS, Browser, find_chromium
from .conftest import correlation, encode_video, expected_view, read_rgb, write_rgb

pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason="needs chromium (Debian: apt-get install chromium; .ci/run does)"),
    pytest.mark.skipif(
        importlib.util.find_spec("websocket") is None, reason="needs websocket-client (pip install -e '.[test]')"
    ),
]

W, H = 640, 360
FOV = 75  # the page's default vertical field of view


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium"), W, H)
    yield b
    b.close()


def show(browser: Browser, url: str) -> tuple[dict, np.ndarray]:
    browser.open(url)
    state = browser.settle()
    return state, browser.screenshot()


def test_panorama_is_drawn_on_a_sphere(browser, viewer, pano_dir):
    pano = read_rgb(pano_dir / "lab.png")
    v = viewer(pano_dir / "lab.png")
    state, shot = show(browser, v.url)
    assert (state["mode"], state["stereo"], state["media"]) == ("equirect", "none", "image")
    assert shot.shape == (H, W, 3)
    assert shot.std() > 20, "the canvas is blank or uniform"
    # The same view computed here matches almost exactly (about 0.999); 20° off already scores about 0.75.
    assert correlation(shot, expected_view(pano, 0, 0, FOV, W, H)) > 0.97
    for yaw in (20, 180):
        assert correlation(shot, expected_view(pano, yaw, 0, FOV, W, H)) < 0.85


def test_dragging_turns_the_view(browser, viewer, pano_dir):
    pano = read_rgb(pano_dir / "lab.png")
    v = viewer(pano_dir / "lab.png")
    _, before = show(browser, v.url)
    browser.drag((420, 180), (220, 180))  # pull the picture 200 px to the left: turn right
    state = browser.settle()
    after = browser.screenshot()
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 25
    yaw = 200 * FOV / H  # the picture follows the pointer: fov/height degrees per pixel
    assert state["yaw"] == pytest.approx(yaw, abs=0.5) and state["pitch"] == pytest.approx(0, abs=0.5)
    assert correlation(after, expected_view(pano, yaw, 0, FOV, W, H)) > 0.97
    assert f"yaw={round(yaw, 1)}" in browser.evaluate("location.hash")  # the address keeps the view

    browser.drag((320, 100), (320, 220))  # pull down: look up
    state = browser.settle()
    assert state["pitch"] == pytest.approx(120 * FOV / H, abs=0.5)
    assert correlation(browser.screenshot(), expected_view(pano, yaw, state["pitch"], FOV, W, H)) > 0.97


def test_touch_drag_turns_the_view(browser, viewer, pano_dir):
    pano = read_rgb(pano_dir / "lab.png")
    v = viewer(pano_dir / "lab.png")
    show(browser, v.url)
    browser.call("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=1)
    try:
        browser.swipe((220, 180), (400, 180))  # pull the picture right: turn left
        state = browser.settle()
    finally:
        browser.call("Emulation.setTouchEmulationEnabled", enabled=False)
    yaw = -180 * FOV / H
    assert state["yaw"] == pytest.approx(yaw, abs=0.5)
    assert correlation(browser.screenshot(), expected_view(pano, yaw, 0, FOV, W, H)) > 0.97


def test_odd_file_name_loads(browser, viewer, pano_dir, tmp_path):
    odd = tmp_path / "vue d'été (1).png"
    odd.write_bytes((pano_dir / "lab.png").read_bytes())
    state, shot = show(browser, viewer(odd).url)
    assert state["mode"] == "equirect"
    assert correlation(shot, expected_view(read_rgb(odd), 0, 0, FOV, W, H)) > 0.97


def test_url_fragment_sets_first_view(browser, viewer, pano_dir):
    pano = read_rgb(pano_dir / "workshop.png")
    v = viewer(pano_dir / "workshop.png")
    state, shot = show(browser, v.url + "#yaw=90&pitch=-20&fov=60")
    assert (state["yaw"], state["pitch"], state["fov"]) == (90, -20, 60)
    assert correlation(shot, expected_view(pano, 90, -20, 60, W, H)) > 0.97
    assert correlation(shot, expected_view(pano, 0, 0, 60, W, H)) < 0.5


def test_plain_chromium_screenshot(viewer, pano_dir, tmp_path):
    """The simplest route, without DevTools: ``chromium --screenshot`` of the page at ``#yaw=-90``."""
    pano = read_rgb(pano_dir / "lab.png")
    v = viewer(pano_dir / "lab.png")
    png = tmp_path / "shot.png"
    subprocess.run(
        [find_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={W},{H}",
         "--virtual-time-budget=5000", f"--screenshot={png}", v.url + "#yaw=-90"],
        check=True, capture_output=True, timeout=60,
    )
    shot = read_rgb(png)
    assert shot.shape == (H, W, 3) and shot.std() > 20
    assert correlation(shot, expected_view(pano, -90, 0, FOV, W, H)) > 0.97
    assert correlation(shot, expected_view(pano, 0, 0, FOV, W, H)) < 0.85


@pytest.mark.parametrize("layout, axis", [("top-bottom", 0), ("left-right", 1)])
def test_stereo_shows_the_left_eye(browser, viewer, pano_dir, tmp_path, layout, axis):
    """Left eye on top (512x512) or on the left (1024x256): the page shows that eye alone."""
    left, right = read_rgb(pano_dir / "lab.png"), read_rgb(pano_dir / "workshop.png")
    path = write_rgb(tmp_path / "stereo.png", np.concatenate([left, right], axis=axis))
    v = viewer(path)
    state, shot = show(browser, v.url)
    assert (state["mode"], state["stereo"]) == ("equirect", layout)
    assert correlation(shot, expected_view(left, 0, 0, FOV, W, H)) > 0.97
    assert correlation(shot, expected_view(right, 0, 0, FOV, W, H)) < 0.5


def test_flat_picture_is_letterboxed_and_does_not_turn(browser, viewer, pano_dir, tmp_path):
    photo = read_rgb(pano_dir / "workshop.png")[40:220, 100:340]  # 240x180, 4:3: not a panorama
    path = write_rgb(tmp_path / "flat.png", photo)
    v = viewer(path)
    state, shot = show(browser, v.url)
    assert (state["mode"], state["stereo"]) == ("flat", "none")
    # 4:3 in 16:9: 480x360 in the middle, black bars of 80 px
    assert shot[:, :78].max() < 8 and shot[:, -78:].max() < 8
    assert correlation(shot[:, 80:560], cv2.resize(photo, (480, 360), interpolation=cv2.INTER_LINEAR)) > 0.95
    browser.drag((420, 180), (220, 180))
    assert browser.settle()["yaw"] == 0
    assert np.abs(browser.screenshot().astype(int) - shot.astype(int)).mean() < 1


def _rolling_pano(pano, frames: int) -> list[np.ndarray]:
    """The panorama turning 8 px (11.25°) a frame, at 256x128: an equirect clip."""
    small = cv2.resize(pano, (256, 128), interpolation=cv2.INTER_AREA)
    return [np.roll(small, -8 * i, axis=1) for i in range(frames)]


@pytest.mark.parametrize("codec, suffix", [("libx264", "mp4"), ("libvpx-vp9", "webm")])
def test_equirect_video_plays_and_seeks(browser, viewer, pano_dir, tmp_path, codec, suffix):
    frames = _rolling_pano(read_rgb(pano_dir / "lab.png"), 20)  # 2 s at 10 fps
    path = encode_video(tmp_path / f"pano.{suffix}", frames, codec)
    v = viewer(path)
    browser.open(v.url)
    state = browser.settle()
    assert (state["mode"], state["media"]) == ("equirect", "video")
    assert browser.wait_for("window.viewer.time > 0.3", timeout=20), f"not playing: {browser.viewer()}"
    assert browser.viewer()["seekable"] > 1.5  # the whole clip is seekable (the server answers byte ranges)
    # pause, seek to frame 15 (1.5 s), and compare with that frame's view
    browser.evaluate("viewer.video.pause(); viewer.video.currentTime = 1.5; 0")
    assert browser.wait_for("Math.abs(window.viewer.time - 1.5) < 0.01 && window.viewer.video.paused", timeout=20)
    browser.settle()
    shot = browser.screenshot()[: H - 50]  # above the control bar
    scores = [correlation(shot, expected_view(f, 0, 0, FOV, W, H)[: H - 50]) for f in frames]
    assert int(np.argmax(scores)) == 15, scores
    assert scores[15] > 0.85


def test_flat_video_plays(browser, viewer, pano_dir, tmp_path):
    frames = [np.roll(read_rgb(pano_dir / "lab.png")[40:220, :320], 4 * i, axis=1) for i in range(10)]
    v = viewer(encode_video(tmp_path / "flat.mp4", frames, "libx264"))
    browser.open(v.url)
    state = browser.settle()
    assert (state["mode"], state["media"]) == ("flat", "video")
    assert browser.wait_for("window.viewer.time > 0.2", timeout=20)
    assert browser.evaluate("getComputedStyle(document.getElementById('bar')).display") == "flex"
