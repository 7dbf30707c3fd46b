"""`dreamvideo preview`: contact sheets of a real clip, a still, and one frame per layer."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.config import DreamSettings, FrameRange
from dreamvideo.io import open_video
from dreamvideo.preview import BACKGROUND, contact_sheet, layers_sheet, pick_frames, sheet_layers, sheet_layout

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
FAST = dict(octaves=1, steps=2, step_size=0.05)  # enough to change every tile, quick on 2 cores


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames of a pan across the workshop panorama, 128x64, H.264."""
    pano = read_rgb(SAMPLES / "workshop.png")
    path = tmp_path_factory.mktemp("preview") / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        for i in range(12):
            view = np.roll(pano, -12 * i, axis=1)[64:192, 64:320]
            image = np.ascontiguousarray(cv2.resize(view, (128, 64), interpolation=cv2.INTER_AREA))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def decoded(path: Path, index: int, width: int | None = None) -> np.ndarray:
    with open_video(str(path), frames=FrameRange(index, index), width=width) as reader:
        return next(iter(reader)).image


def crop(sheet: np.ndarray, tile) -> np.ndarray:
    return sheet[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w]


def has_label(sheet: np.ndarray, tile) -> bool:
    """Light text in the bar above the tile, on the dark background."""
    bar = sheet[tile.y - 14 : tile.y - 1, tile.x : tile.x + tile.w]
    return bool(bar.max() > 150 and np.median(bar) == BACKGROUND)


def test_pick_frames():
    assert pick_frames(4, 12) == [0, 4, 7, 11]
    assert pick_frames(1, 12) == [5]
    assert pick_frames(3, 100, FrameRange(10, 20)) == [10, 15, 20]
    assert pick_frames(10, 3) == [0, 1, 2]  # fewer frames than asked: each once
    assert pick_frames(2, 12, FrameRange(5, 99)) == [5, 11]  # a range past the end stops at the last frame


def test_contact_sheet_of_a_clip(clip, tmp_path):
    out = tmp_path / "sheet.png"
    result = contact_sheet(clip, out, DreamSettings(**FAST), count=4)
    assert result.frames == [0, 4, 7, 11]
    width, height, _ = sheet_layout(4, 2, 128, 64)
    sheet = read_rgb(out)
    assert sheet.shape == (height, width, 3) == (result.height, result.width, 3)
    assert [t.label for t in result.sources] == ["frame 0", "frame 4", "frame 7", "frame 11"]
    assert all(t.label == "dream blocks.10" for t in result.dreams)
    for index, source, dream in zip(result.frames, result.sources, result.dreams):
        assert (source.w, source.h) == (dream.w, dream.h) == (128, 64)
        assert dream.x == source.x and dream.y > source.y  # the dream under its source
        np.testing.assert_array_equal(crop(sheet, source), decoded(clip, index))
        change = np.abs(crop(sheet, dream).astype(int) - crop(sheet, source).astype(int)).mean()
        assert change > 10, f"frame {index}: the dream hardly changed the frame ({change:.1f})"
        assert has_label(sheet, source) and has_label(sheet, dream)
    assert not list(tmp_path.glob(".*partial*")), "temporary files left behind"


def test_cli_preview_frames_range_and_width(clip, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    code = main(["preview", str(clip), str(out), "--count", "3", "--frames", "2-9", "--width", "96",
                 "--octaves", "1", "--steps", "2", "--step-size", "0.05"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "frames 2, 6, 9" in printed.out and str(out) in printed.out
    width, height, origins = sheet_layout(3, 2, 96, 48)
    sheet = read_rgb(out)
    assert sheet.shape == (height, width, 3)
    for column, index in enumerate([2, 6, 9]):
        x, y = origins[0][column]
        np.testing.assert_array_equal(sheet[y : y + 48, x : x + 96], decoded(clip, index, width=96))


def test_still_image(tmp_path):
    photo = cv2.resize(read_rgb(SAMPLES / "lab.png"), (128, 64), interpolation=cv2.INTER_AREA)
    src = tmp_path / "lab.png"
    cv2.imwrite(str(src), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    out = tmp_path / "sheet.png"
    result = contact_sheet(src, out, DreamSettings(**FAST), count=4)
    assert result.frames == [0] and [t.label for t in result.sources] == ["lab.png"]
    sheet = read_rgb(out)
    assert sheet.shape[:2] == (result.height, result.width) == sheet_layout(1, 2, 128, 64)[1::-1]
    np.testing.assert_array_equal(crop(sheet, result.sources[0]), photo)
    assert np.abs(crop(sheet, result.dreams[0]).astype(int) - photo.astype(int)).mean() > 10


def test_layers_sheet(clip, tmp_path):
    out = tmp_path / "layers.png"
    settings = DreamSettings(layers="stem,blocks.3,blocks.10", **FAST)
    result = layers_sheet(clip, out, settings, frame=5)
    assert result.frames == [5]
    assert [t.label for t in result.sources] == ["frame 5"]
    assert [t.label for t in result.dreams] == ["stem", "blocks.3", "blocks.10"]
    sheet = read_rgb(out)
    assert sheet.shape[:2] == (result.height, result.width)
    source = crop(sheet, result.sources[0])
    np.testing.assert_array_equal(source, decoded(clip, 5))
    dreams = [crop(sheet, t).astype(int) for t in result.dreams]
    for tile, dream in zip(result.dreams, dreams):
        assert np.abs(dream - source.astype(int)).mean() > 5, tile.label
        assert has_label(sheet, tile)
    # different layers dream different things
    assert np.abs(dreams[0] - dreams[2]).mean() > 5


def test_layers_sheet_cli_default_frame_is_the_middle(clip, tmp_path, capsys):
    out = tmp_path / "layers.png"
    code = main(["preview", str(clip), str(out), "--layers-sheet", "--layers", "blocks.2,blocks.6",
                 "--octaves", "1", "--steps", "1"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "2 layers of frame 5" in printed.out


def test_which_layers_go_on_the_sheet():
    assert sheet_layers(DreamSettings()) == ["stem", *(f"blocks.{i}" for i in range(16)), "head"]
    assert sheet_layers(DreamSettings(layers="blocks.2:0.5,head")) == ["blocks.2", "head"]
    names = sheet_layers(DreamSettings(model="googlenet"))  # built on the meta device: no weights needed
    assert "inception4c" in names and "inception5b" in names and all("." not in n for n in names)


def test_failure_keeps_an_existing_sheet(clip, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    out.write_bytes(b"an earlier sheet")
    code = main(["preview", str(clip), str(out), "--layers", "nope", "--octaves", "1", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "nope" in err
    assert out.read_bytes() == b"an earlier sheet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["{clip}", "{tmp}/sheet.mp4"], "a contact sheet is an image"),
        (["{clip}", "{clip}"], ""),
        (["{tmp}/missing.mp4", "{tmp}/sheet.png"], "no such file"),
        (["{clip}", "{tmp}/sheet.png", "--count", "0"], "--count must be at least 1"),
        (["{clip}", "{tmp}/sheet.png", "--frame", "3"], "--frame goes with --layers-sheet"),
        (["{clip}", "{tmp}/sheet.png", "--layers-sheet", "--count", "3"], "--count goes with"),
        (["{clip}", "{tmp}/sheet.png", "--frames", "50-60"], "none in 50-60"),
    ],
)
def test_bad_input_is_one_error_line(clip, tmp_path, capsys, args, message):
    argv = [a.format(clip=clip, tmp=tmp_path) for a in args]
    code = main(["preview", *argv, "--octaves", "1", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_a_360_still_is_previewed_through_its_projection(tmp_path):
    """A panorama with GPano metadata is dreamed as a render would dream it: through the views."""
    from dreamvideo.dream import image_to_tensor, tensor_to_image
    from dreamvideo.io import write_image
    from dreamvideo.io.spherical import SphericalInfo
    from dreamvideo.layout import Layout
    from dreamvideo.panorama.projection import dreamer_for

    pano = cv2.resize(read_rgb(SAMPLES / "lab.png"), (128, 64), interpolation=cv2.INTER_AREA)
    src = tmp_path / "lab360.png"
    write_image(src, pano, spherical=SphericalInfo())
    settings = DreamSettings(**FAST)
    result = contact_sheet(src, tmp_path / "sheet.png", settings, count=1)
    dreamed = crop(read_rgb(tmp_path / "sheet.png"), result.dreams[0]).astype(int)
    by_layout = {
        kind: tensor_to_image(dreamer_for(settings, Layout(kind, "none")).dream(image_to_tensor(pano))).astype(int)
        for kind in ("equirect", "flat")
    }
    assert np.abs(dreamed - by_layout["equirect"]).max() <= 1
    assert np.abs(dreamed - by_layout["flat"]).mean() > 2


def test_a_stereo_preview_is_a_stereo_renders_first_frame(tmp_path):
    """One frame step (``frame.dream_frame``): preview, the ``image`` command and a render's first
    frame dream a top-bottom 360° frame alike, the right eye refined with the render's refine steps."""
    from dreamvideo.config import VideoSettings
    from dreamvideo.io import read_image
    from dreamvideo.pipeline import dream_video

    eye = cv2.resize(read_rgb(SAMPLES / "workshop.png"), (64, 32), interpolation=cv2.INTER_AREA)
    frames = [np.concatenate([np.roll(eye, -2 * i, axis=1), np.roll(eye, 3 - 2 * i, axis=1)], axis=0) for i in range(2)]
    path = tmp_path / "stereo.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv444p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode())
    settings = DreamSettings(**FAST, projection="equirect", stereo="top-bottom")
    video = VideoSettings(frames="0-0", refine_steps=2, quiet=True)
    dream_video(str(path), str(tmp_path / "first.png"), settings, video)
    rendered = np.round(read_image(tmp_path / "first.png").rgb * 255).astype(int)
    result = contact_sheet(path, tmp_path / "sheet.png", settings, count=1, frames=FrameRange(0, 0), video=video)
    previewed = crop(read_rgb(tmp_path / "sheet.png"), result.dreams[0]).astype(int)
    assert result.frames == [0]
    assert np.abs(previewed - rendered).max() <= 1
    assert np.abs(previewed - decoded(path, 0)).mean() > 2  # it did dream
