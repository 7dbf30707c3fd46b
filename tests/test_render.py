"""`dreamvideo render` and `dreamvideo assemble`: frame ranges into PNGs, resume, joins, back into a film.

Real clips made here (PyAV, the ffmpeg program), real PNG files, outputs read
back with ffprobe; every command goes through ``dreamvideo.cli.main``. The join
test dreams a pan over one of the sample panoramas as two chunks and as one
sequential run and compares the warp error at the join (DESIGN's definition).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.config import DreamSettings, FrameRange, VideoSettings
from dreamvideo.io import open_video
from dreamvideo.io.sequence import frame_path, is_complete, read_frame
from dreamvideo.metrics import compare
from dreamvideo.render import SIDECAR, assembled_frames, render_frames

from .io.conftest import ffmpeg, ffprobe, make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg

FAST = ["--octaves", "1", "--steps", "1", "--refine-steps", "1", "--quiet"]
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: contents and mtime (ns), to prove nothing was rewritten."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def clip(media) -> Path:
    """24 frames, 96x64 at 30000/1001, an AAC sine and a title."""
    silent = make_clip(media / "silent.mp4", frames=24, gop=12)
    out = media / "clip.mp4"
    ffmpeg(
        "-i", str(silent), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.8",
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "64k",
        "-metadata", "title=Sine test", str(out),
    )
    return out


@pytest.fixture(scope="module")
def other_clip(media) -> Path:
    return make_clip(media / "other.mp4", frames=24, gop=12, width=96, height=64, rate=25)


# ---------------------------------------------------------------------------
# render


def test_render_writes_complete_pngs_and_a_sidecar(capsys, tmp_path, clip):
    out = tmp_path / "frames"
    code, stdout, err = cli(capsys, "render", clip, "--frames", "5-8", "--out", out, "--preroll", "3", *FAST)
    assert code == 0, err
    assert "rendered 4 frames" in stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["chunks", "frame_000005.png", "frame_000006.png", "frame_000007.png", "frame_000008.png",
                     "preroll_000005", SIDECAR]
    assert json.loads((out / "chunks" / "5-8.json").read_text()) == {"frames": "5-8", "preroll": 3}
    # the pre-roll (frames 2-4) is kept apart, for the cross-fade at assembly
    assert sorted(p.name for p in (out / "preroll_000005").iterdir()) == [f"frame_00000{i}.png" for i in (2, 3, 4)]
    for i in range(5, 9):
        assert is_complete(frame_path(out, i))
        image = cv2.imread(str(frame_path(out, i)), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 96, 3) and image.dtype == np.uint8
        frame = read_frame(out, i)
        assert frame.index == i and frame.time == pytest.approx(i * 1001 / 30000, abs=1e-3)
    sidecar = json.loads((out / SIDECAR).read_text())
    assert sidecar["source"]["rate"] == "30000/1001" and sidecar["source"]["frame_count"] == 24
    assert sidecar["source"]["metadata"]["title"] == "Sine test"
    assert sidecar["frame_size"] == [96, 64] and sidecar["bit_depth"] == 8
    assert sidecar["settings"]["dream"]["octaves"] == 1 and sidecar["settings"]["video"]["refine_steps"] == 1
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_render_16_bit(capsys, tmp_path, clip):
    out = tmp_path / "frames16"
    code, _, err = cli(capsys, "render", clip, "--frames", "0-1", "--out", out, "--bit-depth", "16", *FAST)
    assert code == 0, err
    image = cv2.imread(str(frame_path(out, 1)), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16 and image.shape == (64, 96, 3)
    assert len(np.unique(image)) > 256  # more than 8 bits of levels


def test_a_chunk_rendered_twice_gives_identical_pixels(capsys, tmp_path, clip):
    runs = []
    for name in ("a", "b"):
        code, _, err = cli(capsys, "render", clip, "--frames", "10-13", "--out", tmp_path / name, "--preroll", "4", *FAST)
        assert code == 0, err
        runs.append([read_frame(tmp_path / name, i).image for i in range(10, 14)])
    for first, second in zip(*runs):
        assert np.array_equal(first, second)
    lead = [read_frame(tmp_path / n / "preroll_000010", 9).image for n in ("a", "b")]
    assert np.array_equal(*lead)


def test_resume_after_deleting_and_truncating_frames_is_bit_identical(capsys, tmp_path, pan):
    # real footage (a pan over a photo): each frame's dream carries the frames before it
    out = tmp_path / "frames"
    chunk = ["render", pan, "--frames", "6-11", "--out", out, "--preroll", "4", *FAST]
    assert cli(capsys, *chunk)[0] == 0
    first = {i: read_frame(out, i).image for i in range(6, 12)}
    frame_path(out, 8).unlink()
    whole = frame_path(out, 10).read_bytes()
    frame_path(out, 10).write_bytes(whole[: len(whole) // 2])  # a worker killed while writing
    assert not is_complete(frame_path(out, 10))
    kept = {k: v for k, v in snapshot(out).items() if k not in ("frame_000008.png", "frame_000010.png")}

    # a cut-short frame is never assembled
    code, _, err = cli(capsys, "assemble", out, tmp_path / "film.mp4")
    assert code == 2 and len(errors(err)) == 1 and errors(err)[0].endswith(": 8, 10"), err
    assert not (tmp_path / "film.mp4").exists()

    code, stdout, err = cli(capsys, *chunk[:-1])  # not quiet: it says what it does
    assert code == 0, err
    assert "rendered 2 frames" in stdout and "(4 already complete)" in stdout
    assert "resuming 6-11: 2 of its 6 frames missing (8, 10); dreaming again from frame 2" in err
    assert "pre-roll 4 + 5 frames" in err  # frames 2-5, then 6-10
    # the resumed frames are the frames the first run wrote, not merely similar ones
    for i in range(6, 12):
        assert np.array_equal(read_frame(out, i).image, first[i]), i
    after = snapshot(out)
    assert all(after[k] == v for k, v in kept.items())  # complete frames (and the pre-roll) were not written again

    code, stdout, err = cli(capsys, *chunk)
    assert code == 0 and "rendered 0 frames" in stdout and "(6 already complete)" in stdout

    # resumed by another command (the whole range at once): frame 7 is still dreamed as its chunk dreamed it
    frame_path(out, 7).unlink()
    code, stdout, err = cli(capsys, "render", pan, "--frames", "0-11", "--out", out, "--preroll", "4", *FAST)
    assert code == 0 and "rendered 7 frames" in stdout, err
    assert np.array_equal(read_frame(out, 7).image, first[7])
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["6-11.json"]  # 0-11 overlaps the chunk: not a chunk


def test_render_progress_counts_preroll_and_frames_apart(capsys, tmp_path, clip):
    code, _, err = cli(capsys, "render", clip, "--frames", "10-12", "--out", tmp_path / "f", *FAST[:-1])
    assert code == 0, err
    assert "dreamed 11/11 frames (pre-roll 8 + 3 frames)" in err, err


def test_render_prints_each_scene_cut(capsys, tmp_path):
    from .clips import similar_cut, write_clip

    shots = similar_cut()  # a hard cut at frame 8 between two shots of one room
    clip = write_clip(tmp_path / "cut.mp4", shots.frames[5:11])  # the cut is now at frame 3
    report = tmp_path / "report.json"
    code, _, err = cli(capsys, "render", clip, "--frames", "2-4", "--out", tmp_path / "f", "--preroll", "1",
                       "--json-report", report, *FAST[:-1])
    assert code == 0, err
    assert [line for line in err.splitlines() if "scene cut" in line] == ["scene cut at frame 3: the dream starts afresh"]
    assert json.loads(report.read_text())["scene_cuts"] == [3]


# ---------------------------------------------------------------------------
# assemble


def test_assemble_keeps_rate_timestamps_audio_and_metadata(capsys, tmp_path, clip):
    out = tmp_path / "frames"
    for frames in ("4-9", "10-15"):  # two chunks
        assert cli(capsys, "render", clip, "--frames", frames, "--out", out, "--preroll", "4", *FAST)[0] == 0
    film = tmp_path / "film.mp4"
    code, stdout, err = cli(capsys, "assemble", out, film)
    assert code == 0, err
    assert f"assembled 12 frames -> {film}" in stdout

    info = ffprobe(film, "-count_frames", "-show_streams", "-show_format")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert video["r_frame_rate"] == "30000/1001" and int(video["nb_read_frames"]) == 12
    assert (video["width"], video["height"]) == (96, 64)
    assert info["format"]["tags"]["title"] == "Sine test"
    span = 12 * 1001 / 30000  # the audio is cut to the frames' span
    assert float(audio["duration"]) == pytest.approx(span, abs=0.05)
    assert float(video["start_time"]) == pytest.approx(0, abs=0.01)


def test_after_assembly_the_pngs_are_the_film(capsys, tmp_path, pan):
    out = tmp_path / "frames"
    for frames in ("4-9", "10-15"):  # two chunks: frames 6-9 are the join (the second one's pre-roll)
        assert cli(capsys, "render", pan, "--frames", frames, "--out", out, "--preroll", "4", *FAST)[0] == 0
    span = FrameRange(4, 15)
    raw = {i: read_frame(out, i).image for i in range(4, 16)}
    raw_times = {i: read_frame(out, i).time for i in range(4, 16)}
    film_pixels = {frame.index: image for frame, image in assembled_frames(out, span)}
    assert [i for i in raw if not np.array_equal(raw[i], film_pixels[i])] == [6, 7, 8, 9]

    # a final sequence beside: every frame, the film's pixels; the render is left as it was
    before = snapshot(out)
    beside = tmp_path / "final"
    code, stdout, err = cli(capsys, "assemble", out, tmp_path / "a.mp4", "--final-frames", beside)
    assert code == 0 and f"the final PNG sequence (the film's pixels) is in {beside}" in stdout, err
    assert snapshot(out) == before
    assert [read_frame(beside, i).image.tolist() == film_pixels[i].tolist() for i in range(4, 16)] == [True] * 12

    # by default the joined frames go back into the sequence; each chunk's own dream is kept
    film = tmp_path / "film.mp4"
    code, stdout, err = cli(capsys, "assemble", out, film, "--crf", "0")
    assert code == 0, err
    assert f"the PNG sequence in {out} is final (4 joined frames written back" in stdout
    for i in range(4, 16):
        assert np.array_equal(read_frame(out, i).image, film_pixels[i]), i
        assert read_frame(out, i).time == pytest.approx(raw_times[i])
    for i in range(6, 10):
        assert np.array_equal(read_frame(out / "unjoined", i).image, raw[i])
    with open_video(str(film)) as reader:
        decoded = {frame.index + 4: frame.image.astype(int) for frame in reader}
    # the film (h264, 4:2:0: near the pixels) shows the PNGs, not the chunks' own dreams
    to_final = np.mean([np.abs(decoded[i] - film_pixels[i]).mean() for i in range(6, 10)])
    to_raw = np.mean([np.abs(decoded[i] - raw[i]).mean() for i in range(6, 10)])
    assert to_final < 0.8 * to_raw, (to_final, to_raw)

    # assembling again changes nothing; a joined frame lost and rendered again is joined again the same
    final = snapshot(out)
    assert cli(capsys, "assemble", out, film)[0] == 0
    assert snapshot(out) == final
    frame_path(out, 8).unlink()
    assert cli(capsys, "render", pan, "--frames", "4-9", "--out", out, "--preroll", "4", *FAST)[0] == 0
    assert np.array_equal(read_frame(out, 8).image, raw[8])
    code, stdout, _ = cli(capsys, "assemble", out, film)
    assert code == 0 and "(1 joined frames written back" in stdout
    assert np.array_equal(read_frame(out, 8).image, film_pixels[8])


def test_assemble_a_span_with_gaps_lists_the_missing_frames(capsys, tmp_path, clip):
    out = tmp_path / "frames"
    assert cli(capsys, "render", clip, "--frames", "0-3,7-8", "--out", out, *FAST)[0] == 0
    film = tmp_path / "film.mp4"
    film.write_bytes(b"an earlier film")
    code, _, err = cli(capsys, "assemble", out, film, "--frames", "0-10")
    assert code == 2 and len(errors(err)) == 1, err
    assert "4-6, 9-10" in errors(err)[0]
    assert film.read_bytes() == b"an earlier film"


def test_assemble_without_its_source_is_refused(capsys, tmp_path, clip, other_clip):
    source = tmp_path / "source.mp4"
    source.write_bytes(clip.read_bytes())
    out = tmp_path / "frames"
    assert cli(capsys, "render", source, "--frames", "0-2", "--out", out, *FAST)[0] == 0
    source.rename(tmp_path / "moved.mp4")
    code, _, err = cli(capsys, "assemble", out, tmp_path / "film.mp4")
    assert code == 2 and len(errors(err)) == 1 and "missing" in errors(err)[0] and "--source" in err, err
    code, _, err = cli(capsys, "assemble", out, tmp_path / "film.mp4", "--source", other_clip)
    assert code == 2 and len(errors(err)) == 1 and "not the source" in errors(err)[0], err
    code, _, err = cli(capsys, "assemble", out, tmp_path / "film.mp4", "--source", tmp_path / "moved.mp4")
    assert code == 0, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------
# bad input: one error line, exit 2, nothing that took work overwritten


@pytest.mark.parametrize(
    "case",
    ["reversed", "overlapping", "other_settings", "other_source", "beyond_the_end", "no_frames", "bad_bit_depth"],
)
def test_bad_render_is_one_error_line_and_touches_nothing(capsys, tmp_path, clip, other_clip, case):
    out = tmp_path / "frames"
    assert cli(capsys, "render", clip, "--frames", "0-2", "--out", out, *FAST)[0] == 0
    before = snapshot(out)
    argv = {
        "reversed": [clip, "--frames", "5-2", *FAST],
        "overlapping": [clip, "--frames", "0-5,3-8", *FAST],
        "other_settings": [clip, "--frames", "0-4", "--octaves", "1", "--steps", "2", "--quiet"],
        "other_source": [other_clip, "--frames", "0-4", *FAST],
        "beyond_the_end": [clip, "--frames", "20-30", *FAST],
        "no_frames": [clip, *FAST],
        "bad_bit_depth": [clip, "--frames", "0-2", "--bit-depth", "12", *FAST],
    }[case]
    code, stdout, err = cli(capsys, "render", *argv[:1], "--out", out, *argv[1:])
    assert code == 2 and len(errors(err)) == 1, err
    assert stdout == "" and "Traceback" not in err
    expected = {
        "reversed": "bad frame range", "overlapping": "overlap", "other_settings": "other settings",
        "other_source": "another source", "beyond_the_end": "beyond the end", "no_frames": "--frames",
        "bad_bit_depth": "--bit-depth",
    }[case]
    assert expected in errors(err)[0], err
    assert snapshot(out) == before


def test_force_replaces_a_render_of_other_settings(capsys, tmp_path, clip):
    out = tmp_path / "frames"
    assert cli(capsys, "render", clip, "--frames", "0-4", "--out", out, *FAST)[0] == 0
    old = read_frame(out, 1).image
    code, stdout, err = cli(capsys, "render", clip, "--frames", "0-2", "--out", out, "--octaves", "1",
                            "--steps", "3", "--quiet", "--force")
    assert code == 0 and "rendered 3 frames" in stdout, err
    assert json.loads((out / SIDECAR).read_text())["settings"]["dream"]["steps"] == 3
    assert not np.array_equal(old, read_frame(out, 1).image)
    # frames of the old render outside the range are gone: they cannot be assembled with the new ones
    assert sorted(p.name for p in out.glob("frame_*")) == [f"frame_00000{i}.png" for i in range(3)]


# ---------------------------------------------------------------------------
# the join: two chunks against one sequential run, on real footage


@pytest.fixture(scope="module")
def pan(media) -> Path:
    """24 frames of a 1.5 px/frame pan over the workshop panorama, 128x80 (samples/make_samples.py)."""
    sys.path.insert(0, str(SAMPLES))
    try:
        from make_samples import pan_frames, write_clip
    finally:
        sys.path.remove(str(SAMPLES))
    pano = cv2.cvtColor(cv2.imread(str(SAMPLES / "workshop.png")), cv2.COLOR_BGR2RGB)
    path = media / "pan.mp4"
    write_clip(path, pan_frames(pano, 24, (128, 80), speed=1.5, y=88))
    return path


def test_chunk_join_is_no_worse_than_a_sequential_run(tmp_path, pan):
    dream = DreamSettings(octaves=1, steps=3, device="cpu")
    video = VideoSettings(refine_steps=2, quiet=True)
    span = FrameRange(0, 23)
    with open_video(str(pan)) as reader:
        source = [f.image for f in reader]

    def warp_errors(folder: Path) -> list[float]:
        film = [image for _, image in assembled_frames(folder, span)]
        return [row["warp_error_output"] for row in compare(source, film).per_frame]

    chunked, sequential = tmp_path / "chunked", tmp_path / "sequential"
    render_frames(str(pan), chunked, FrameRange(0, 11), dream, video)  # default pre-roll: 8
    render_frames(str(pan), chunked, FrameRange(12, 23), dream, video)
    render_frames(str(pan), sequential, span, dream, video)
    errors_chunked, errors_sequential = warp_errors(chunked), warp_errors(sequential)
    join = errors_chunked[11]  # E_12: frame 11 (first chunk) → frame 12 (second chunk)
    # A 1.5 px/frame pan moves by whole and half pixels in turn, and the warp error of every
    # run (the source's own too) alternates with it, about 2:1; compare the join with the
    # frames that move as it does.
    inside = float(np.median([e for t, e in enumerate(errors_chunked) if t != 11 and t % 2 == 11 % 2]))
    print(f"join {join:.2f}, median inside {inside:.2f}, ratio {join / inside:.2f}; "
          f"sequential at the join {errors_sequential[11]:.2f}")
    assert join <= 1.5 * inside
    assert join <= 1.1 * errors_sequential[11]
    # the fade never makes a frame in the window jumpier than the sequential run's worst
    assert max(errors_chunked[3:12]) <= 1.1 * max(errors_sequential)


def test_assemble_writes_the_360_layout_of_the_render(capsys, tmp_path, media):
    pano = make_clip(media / "pano.mp4", frames=6, width=128, height=64)
    out = tmp_path / "frames"
    code, _, err = cli(capsys, "render", pano, "--frames", "0-3", "--out", out, "--projection", "equirect", *FAST)
    assert code == 0, err
    assert json.loads((out / SIDECAR).read_text())["layout"] == {"projection": "equirect", "stereo": "none"}
    film = tmp_path / "film.mp4"
    assert cli(capsys, "assemble", out, film)[0] == 0
    with open_video(str(film)) as reader:
        spherical = reader.info.spherical
    assert spherical is not None and spherical.projection == "equirectangular" and spherical.stereo == "none"
