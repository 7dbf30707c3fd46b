"""What a newcomer meets on a first evening with the tool (issue 25).

Mistyped options, ``--debug`` after the command, a video given to ``image``, a frame
list where one span is needed, a run too large for memory, a probe of a still, progress
that says something while a frame or a preview is dreamed, and metrics with a verdict.
Every command runs through ``dreamvideo.cli.main`` in this process.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from dreamvideo.cli import main
from dreamvideo.cli.args import build_parser
from dreamvideo.cli.commands import format_metrics
from dreamvideo.config import DreamSettings
from dreamvideo.errors import ConfigError
from dreamvideo.io import write_image
from dreamvideo.memory import BASE_BYTES, BYTES_PER_PIXEL, check_memory, estimate_bytes
from dreamvideo.metrics import MetricsReport, compare
from dreamvideo.io.spherical import SphericalInfo

from .io.conftest import make_clip, needs_ffmpeg


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("first_use") / "clip.mp4", frames=6, gop=6)


# ---------------------------------------------------------------------------
# the command line


def test_unknown_option_names_the_nearest_one_and_the_commands_help(capsys, tmp_path):
    code, out, err = run(capsys, "dream", tmp_path / "a.mp4", tmp_path / "b.mp4", "--frmaes", "0-1")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "error: unrecognized arguments: --frmaes 0-1 (did you mean --frames?)",
        "hint: see `dreamvideo dream --help`",
    ]
    code, _, err = run(capsys, "farm", "ray", "a.mp4", "b.mp4", "--chunk", "2", "--retires", "3")
    assert code == 2 and err.splitlines() == [
        "error: unrecognized arguments: --retires 3 (did you mean --retries?)",
        "hint: see `dreamvideo farm ray --help`",
    ]
    code, _, err = run(capsys, "probe", "a.mp4", "b.mp4")  # nothing close: no guess
    assert code == 2 and err.splitlines() == ["error: unrecognized arguments: b.mp4", "hint: see `dreamvideo probe --help`"]


def test_debug_is_accepted_after_the_command(capsys, tmp_path):
    args = build_parser().parse_args(["farm", "ray", "a.mp4", "b.mp4", "--chunk", "2", "--debug"])
    assert args.debug is True and args.farm_command == "ray"
    code, _, err = run(capsys, "probe", tmp_path / "missing.png", "--debug")
    assert code == 2 and "Traceback" in err and err.rstrip().endswith(f"error: no such file: {tmp_path / 'missing.png'}")


@needs_ffmpeg
def test_dream_says_it_takes_one_span_where_render_takes_a_list(capsys, tmp_path, clip):
    code, out, err = run(capsys, "dream", clip, tmp_path / "out.mp4", "--frames", "0,5")
    assert code == 2 and not (tmp_path / "out.mp4").exists()
    assert err.splitlines() == [
        "error: --frames '0,5' has a gap (0-0, then 5-5): this command dreams one span of frames",
        "hint: give one range A-B, or run once per range; `dreamvideo render` takes lists (it writes the frames "
        "into a folder)",
    ]


@needs_ffmpeg
def test_image_given_a_video_points_at_dream_frames(capsys, tmp_path, clip):
    code, out, err = run(capsys, "image", clip, tmp_path / "out.png")
    assert code == 2 and not (tmp_path / "out.png").exists()
    assert err.splitlines() == [
        "error: clip.mp4 is a video: `image` dreams a still picture",
        f"hint: dream one frame of it as an image: dreamvideo dream {clip} {tmp_path / 'out.png'} --frames N (0-based)",
    ]


# ---------------------------------------------------------------------------
# memory


def test_memory_estimate_refuses_what_cannot_fit_and_force_tries():
    cpu = torch.device("cpu")
    assert estimate_bytes(1280, 720) == BASE_BYTES + BYTES_PER_PIXEL * 1280 * 720
    check_memory((1280, 720), cpu, available=8 * 2**30)  # fits: nothing said
    with pytest.raises(ConfigError, match=r"a 20000x11250 dream needs about 95\.5 GiB of memory, and 4\.0 GiB is free here") as info:
        check_memory((20000, 11250), cpu, available=4 * 2**30)
    assert "--force" in info.value.hint and "--width" in info.value.hint
    with pytest.warns(UserWarning, match="trying anyway"):
        check_memory((20000, 11250), cpu, force=True, available=4 * 2**30)


@needs_ffmpeg
def test_dream_too_large_for_memory_is_refused_before_any_work(capsys, tmp_path, clip):
    out = tmp_path / "big.mp4"
    code, _, err = run(capsys, "dream", clip, out, "--width", "200000")
    assert code == 2 and list(tmp_path.iterdir()) == []  # not even a temp file
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert re.fullmatch(r"error: a 200000x13333\d dream needs about \d+\.\d GiB of memory, and \d+\.\d GiB is free here", lines[0])
    assert lines[1] == "hint: dream it smaller (--width W or --size WxH), or give --force to try anyway (it is an estimate)"


def test_image_too_large_for_memory_is_refused(capsys, tmp_path):
    src = tmp_path / "small.png"
    write_image(src, np.full((48, 64, 3), 0.5, np.float32))
    code, _, err = run(capsys, "image", src, tmp_path / "out.png", "--width", "200000")
    assert code == 2 and list(tmp_path.iterdir()) == [src]
    assert "error: a 200000x150000 dream needs about" in err


# ---------------------------------------------------------------------------
# progress


def test_the_last_count_is_printed_once(capsys, monkeypatch):
    from dreamvideo import pipeline

    monkeypatch.setattr(pipeline.Progress, "PLAIN_EVERY_S", 0.0)
    with pipeline.Progress(1, quiet=False) as bar:
        bar.update(1, 1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamed 1/1 frames, ")


def test_steps_inside_a_frame_are_reported(capsys, monkeypatch, lite0):
    """A frame that takes minutes (a large panorama) says which step it is on."""
    from dreamvideo import pipeline
    from dreamvideo.dream import Dreamer, image_to_tensor
    from dreamvideo.dream.objectives import objective_from_settings

    settings = DreamSettings(steps=2, octaves=2, pyramid="classic")
    dreamer = Dreamer(lite0, objective_from_settings(settings, lite0), settings)
    told = []
    with dreamer.reporting_steps(lambda done, total: told.append((done, total))):
        dreamer.dream(image_to_tensor(np.full((64, 96, 3), 0.5, np.float32)))
    assert told == [(1, 4), (2, 4), (3, 4), (4, 4)] and dreamer.on_step is None
    monkeypatch.setattr(pipeline.Progress, "STEP_EVERY_S", 0.0)
    with pipeline.Progress(48, quiet=False) as bar:
        bar.step(3, 30)
    assert capsys.readouterr().err.startswith("dreaming frame 1/48: step 3/30 (")


@needs_ffmpeg
def test_dream_reports_the_steps_of_a_slow_frame(capsys, monkeypatch, tmp_path, clip):
    from dreamvideo import pipeline

    monkeypatch.setattr(pipeline.Progress, "STEP_EVERY_S", 0.0)  # every frame counts as slow
    monkeypatch.setattr(pipeline.Progress, "PLAIN_EVERY_S", float("inf"))
    code, _, err = run(capsys, "dream", clip, tmp_path / "o.mp4", "--octaves", "1", "--steps", "2", "--frames", "0-1")
    assert code == 0, err
    lines = err.splitlines()
    assert re.fullmatch(r"dreaming frame 1/2: step 1/2 \(\d+s so far\)", lines[0]), err
    assert re.fullmatch(r"dreaming frame 1/2: step 2/2 \(\d+s so far\)", lines[1]), err
    assert re.fullmatch(r"dreaming frame 2/2: step 1/\d \(\d+s so far\)", lines[2]), err  # carried: refine steps
    assert lines[-1].startswith("dreamed 2/2 frames, ") and sum(line.startswith("dreamed ") for line in lines) == 1


@needs_ffmpeg
def test_preview_says_what_it_is_dreaming(capsys, tmp_path, clip):
    code, out, err = run(capsys, "preview", clip, tmp_path / "sheet.png", "--count", "2", "--octaves", "1", "--steps", "1")
    assert code == 0, err
    assert err.splitlines() == ["preview: dreaming frame 0 (1/2)", "preview: dreaming frame 5 (2/2)"]
    assert out.startswith("preview of frames 0, 5 -> ")


# ---------------------------------------------------------------------------
# probe and metrics


def test_probe_of_a_still_is_a_still_and_says_whether_it_is_360(capsys, tmp_path):
    pano, flat = tmp_path / "park.png", tmp_path / "flat.png"
    write_image(pano, np.full((64, 128, 3), 0.5, np.float32), spherical=SphericalInfo(stereo="none"))
    write_image(flat, np.full((64, 128, 3), 0.5, np.float32))
    code, out, _ = run(capsys, "probe", pano)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("park.png: PNG image, 128x64, rgb24, ")
    assert "fps" not in out and "sequence" not in out
    assert lines[1] == "  360°: yes, equirectangular, mono (GPano XMP): `image` dreams it as a panorama"
    code, out, _ = run(capsys, "probe", flat)
    assert out.splitlines()[1] == (
        "  360°: no (no GPano XMP): dreamed as a flat picture unless --projection equirect is given; "
        "it is 2:1, as an equirect panorama is"
    )
    code, out, _ = run(capsys, "probe", flat, "--json")
    assert '"kind": "image"' in out


def test_metrics_text_gives_the_ratio_to_the_source_and_what_is_typical():
    steady = format_metrics(MetricsReport(warp_error=0.32, source_warp_error=0.23, strength=9.1, frames=12))
    assert "  over source     1.39x  (steady: as steady as the dreams DESIGN measured; dreams carried" in steady
    assert "1.3-2.3x on DESIGN's flat test clips" in steady and "1.3-6.9x" in steady
    assert "frames dreamed each on their own measured 2.8-3.3, dreams carried along the flow 2.7-3.1" in steady
    some = format_metrics(MetricsReport(warp_error=0.6, source_warp_error=0.23, strength=9.1, frames=12))
    assert "2.61x  (flickers more than those, less than frames dreamed each on their own at most do" in some
    pano = {"seam_ratio": 1.0, "source_seam_ratio": 1.1, "pole_streak_zenith": 0.02, "pole_streak_nadir": 0.03}
    flicker = format_metrics(MetricsReport(2.674, 0.230, 9.0, 12, panorama=pano))
    assert "11.63x  (flickers more than frames dreamed each on their own typically do" in flicker
    assert "a 360° dream through views measured 0.89-1.03" in flicker and "views measured -0.04-0.07" in flicker
    one = format_metrics(MetricsReport(float("nan"), float("nan"), 9.0, 1))
    assert "over source" not in one


def test_a_frame_count_of_one_is_singular():
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ConfigError, match="^the output has 1 frame but the source has more$"):
        compare([frame, frame], [frame])


def test_a_panoramas_energy_is_measured_on_what_the_dream_sees(lite0):
    """The image line's energy is the dream's objective: a panorama's on its views, not its pixels."""
    from dreamvideo.dream import Dreamer, image_to_tensor
    from dreamvideo.dream.objectives import objective_from_settings
    from dreamvideo.panorama.projection import EquirectViews

    settings = DreamSettings(projection="equirect")
    views = EquirectViews()
    dreamer = Dreamer(lite0, objective_from_settings(settings, lite0), settings, projection=views)
    rng = np.random.default_rng(0)
    image = image_to_tensor(rng.random((64, 128, 3), dtype=np.float32))
    seen = views.seen(image)
    assert seen.shape == (6, 3, views.view_size(128), views.view_size(128))
    with torch.no_grad():
        per_view = [float(dreamer.objective(dreamer._activations(v[None]))) for v in seen]
        pixels = float(dreamer.objective(dreamer._activations(image)))
    assert dreamer.value(image) == pytest.approx(sum(per_view) / 6, rel=1e-5)
    assert dreamer.value(image) != pytest.approx(pixels, rel=1e-3)


def test_the_image_line_says_when_the_dream_lowered_its_objective(capsys, tmp_path):
    """One step at the default step size overshoots (DESIGN, The dream: lab at 256x128 falls to
    x0.76 with seed 0): the line says so."""
    src = tmp_path / "lab.png"
    from pathlib import Path

    import cv2

    lab = cv2.imread(str(Path(__file__).resolve().parent.parent / "samples" / "lab.png"))
    cv2.imwrite(str(src), cv2.resize(lab, (256, 128), interpolation=cv2.INTER_AREA))
    code, out, _ = run(capsys, "image", src, tmp_path / "out.png", "--steps", "1", "--octaves", "1")
    assert code == 0
    assert re.fullmatch(r"dreamed .* \(energy\(blocks\.10\): [\d.]+ -> [\d.]+, x0\.\d\d\)", out.splitlines()[0])
    assert out.splitlines()[1] == (
        "note: the dream lowered energy(blocks.10): too few steps for the step size (a first step overshoots; "
        "DESIGN, The dream); more --steps or a smaller --step-size raise it"
    )
