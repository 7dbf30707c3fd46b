"""Render farms: the chunk planner, an OpenJD job bundle run by openjd-cli, the Ray runner on a local instance.

The bundle is checked with ``openjd check`` and run end to end with
``openjd run … --step Assemble --run-dependencies`` (real subprocesses); the
Ray runner starts a real local Ray instance, and one of its tasks fails once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamvideo.cli import main
from dreamvideo.config import DreamSettings, FrameRange, VideoSettings
from dreamvideo.errors import ConfigError
from dreamvideo.farm.plan import chunk_progress, format_progress, parse_frame_ranges, plan_chunks, render_argv
from dreamvideo.io.sequence import frame_path, read_frame
from dreamvideo.render import assembled_frames

from .io.conftest import ffprobe, make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg

REPO = Path(__file__).resolve().parents[1]
FAST = ["--octaves", "1", "--steps", "1", "--refine-steps", "1"]
# Subprocesses (openjd, Ray workers) import this tree, on 2 shared cores.
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
}


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def video_frames(path: Path) -> int:
    info = ffprobe(path, "-count_frames", "-select_streams", "v:0", "-show_streams")
    return int(info["streams"][0]["nb_read_frames"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("farm") / "clip.mp4", frames=16, gop=8)


@pytest.fixture(scope="module")
def pan(tmp_path_factory) -> Path:
    """12 frames of a pan over the workshop panorama, 128x80: real footage, where a dream carries over."""
    sys.path.insert(0, str(REPO / "samples"))
    try:
        from make_samples import pan_frames, write_clip
    finally:
        sys.path.remove(str(REPO / "samples"))
    pano = cv2.cvtColor(cv2.imread(str(REPO / "samples" / "workshop.png")), cv2.COLOR_BGR2RGB)
    path = tmp_path_factory.mktemp("farm-pan") / "pan.mp4"
    write_clip(path, pan_frames(pano, 12, (128, 80), speed=1.5, y=88))
    return path


# ---------------------------------------------------------------------------
# the planner


def test_plan_chunks_ranges_and_preroll():
    chunks = plan_chunks(FrameRange(3, 12), 4, preroll=8)
    assert [str(c) for c in chunks] == ["3-6", "7-10", "11-12"]
    assert [c.decode_from for c in chunks] == [0, 0, 3]
    assert [c.number for c in chunks] == [0, 1, 2]
    two = plan_chunks(parse_frame_ranges("0-4,10-11"), 3, preroll=2)
    assert [str(c) for c in two] == ["0-2", "3-4", "10-11"]
    argv = render_argv("in.mp4", "DIR", str(chunks[1]), preroll=8, bit_depth=16, options=["--steps", "3"])
    assert argv == ["render", "in.mp4", "--frames", "7-10", "--out", "DIR", "--preroll", "8",
                    "--bit-depth", "16", "--steps", "3"]


@pytest.mark.parametrize("text, message", [("5-2", "bad frame range"), ("0-9,5-12", "overlap"), ("x", "bad frame")])
def test_bad_ranges_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        plan_chunks(parse_frame_ranges(text), 4, preroll=8)


def test_progress_view(capsys, tmp_path, clip):
    out = tmp_path / "frames"
    assert cli(capsys, "render", clip, "--frames", "0-5", "--out", out, "--quiet", *FAST)[0] == 0
    chunks = plan_chunks(FrameRange(0, 11), 4, preroll=8)
    progress = chunk_progress(out, chunks)
    assert [p.done for p in progress] == [4, 2, 0] and [p.complete for p in progress] == [True, False, False]
    assert format_progress(progress).splitlines()[0] == "chunk 1/3   0-3  4/4 frames  done"
    # status reads the chunk the job rendered (0-5), not --chunk; the rest of the job is cut by --chunk
    code, stdout, _ = cli(capsys, "farm", "status", out, "--frames", "0-11", "--chunk", "4")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == f"chunks as the job rendered them into {out} (1 started)"
    assert [line.split()[2] for line in lines if line.startswith("chunk ")] == ["0-5", "6-9", "10-11"]
    assert lines[-1] == "1/3 chunks done, 6/12 frames of the job rendered"
    # nothing rendered yet: planned with --chunk, or said plainly without it
    empty = tmp_path / "empty"
    empty.mkdir()
    code, stdout, _ = cli(capsys, "farm", "status", empty, "--frames", "0-11")
    assert code == 0 and "no chunk has started" in stdout and stdout.splitlines()[-1].endswith("0/12 frames of the job rendered")
    code, _, err = cli(capsys, "farm", "status", empty)
    assert code == 2 and "error: no chunk has been rendered here yet" in err


# ---------------------------------------------------------------------------
# OpenJD


# openjd-cli from the test extra: beside this interpreter, or on PATH.
OPENJD = next((str(p) for p in (Path(sys.executable).parent / "openjd",) if p.exists()), shutil.which("openjd"))
needs_openjd = pytest.mark.skipif(OPENJD is None, reason="needs openjd-cli (the test extra)")


def openjd(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([OPENJD, *map(str, argv)], capture_output=True, text=True, env=ENV, timeout=300)


@needs_openjd
def test_openjd_bundle_checks_and_runs(capsys, tmp_path, pan):
    bundle = tmp_path / "bundle"
    code, stdout, err = cli(capsys, "farm", "openjd", pan, tmp_path / "film.mp4", "--frames", "2-9", "--chunk", "4",
                            "--bundle", bundle, "--preroll", "3", "--layers", "blocks.8", *FAST)
    assert code == 0, err
    template = (bundle / "template.yaml").read_text()
    assert "jobtemplate-2023-09" in template and "TASK_CHUNKING" in template
    for parameter in ("Input", "Output", "Frames", "Layers", "Octaves", "Steps", "RefineSteps"):
        assert f'name: "{parameter}"' in template
    assert 'default: "2-9"' in template and 'default: "blocks.8"' in template

    checked = openjd("check", bundle / "template.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # the output is outside the bundle: so is the frames folder, given at submission (no default)
    assert 'name: "FramesDir"' in template and "default: \"frames\"" not in template

    film = tmp_path / "film.mp4"
    frames = tmp_path / "film.frames"
    ran = openjd("run", bundle / "template.yaml", "--step", "Assemble", "--run-dependencies",
                 "-p", f"Input={pan}", "-p", f"Output={film}", "-p", f"FramesDir={frames}",
                 "-p", f"Python={sys.executable}")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert ran.stdout.count("rendered ") == 2  # tasks 2-5 and 6-9
    assert video_frames(film) == 8
    assert sorted(int(p.stem[6:]) for p in frames.glob("frame_*.png")) == list(range(2, 10))
    # the Assemble step made the PNG sequence final: the joins are written back
    assert "3 joined frames written back" in ran.stdout
    assert sorted(int(p.stem[6:]) for p in (frames / "unjoined").glob("frame_*.png")) == [3, 4, 5]
    film_pixels = {frame.index: image for frame, image in assembled_frames(frames, FrameRange(2, 9))}
    assert all(np.array_equal(read_frame(frames, i).image, film_pixels[i]) for i in range(2, 10))
    # status shows the job's chunking (OpenJD's CHUNK[INT] tasks), whatever --chunk says
    code, stdout, _ = cli(capsys, "farm", "status", frames, "--frames", "2-9", "--chunk", "3")
    assert code == 0
    assert [line.split()[2] for line in stdout.splitlines() if line.startswith("chunk ")] == ["2-5", "6-9"]
    assert "note: the job's chunks are of 4 frames" in stdout
    assert stdout.splitlines()[-1] == "2/2 chunks done, 8/8 frames of the job rendered"


@needs_openjd
def test_openjd_path_defaults_are_relative_to_the_bundle(capsys, tmp_path, clip):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    inside = bundle / "media" / "clip.mp4"
    inside.parent.mkdir()
    inside.write_bytes(clip.read_bytes())
    code, _, err = cli(capsys, "farm", "openjd", inside, bundle / "film.mp4", "--frames", "0-3", "--chunk", "2",
                       "--bundle", bundle)
    assert code == 0, err
    template = (bundle / "template.yaml").read_text()
    assert 'default: "media/clip.mp4"' in template and 'default: "film.mp4"' in template
    assert 'default: "film.frames"' in template  # the frames beside the output
    assert openjd("check", bundle / "template.yaml").returncode == 0


def test_openjd_bad_input(capsys, tmp_path, clip):
    for argv, message in (
        (["--frames", "9-3", "--chunk", "4"], "bad frame range"),
        (["--frames", "0-9", "--chunk", "0"], "--chunk"),
        (["--chunk", "4"], "--frames"),
    ):
        code, _, err = cli(capsys, "farm", "openjd", clip, tmp_path / "f.mp4", "--bundle", tmp_path / "b", *argv)
        assert code == 2 and [line for line in err.splitlines() if line.startswith("error:")], err
        assert message in err
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------
# Ray


@pytest.fixture
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": ENV["PYTHONPATH"], "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


RAY = Path(sys.executable).parent / "ray"
TOKEN = "dreamvideo-test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_head(home: Path, *, token: str | None):
    """A Ray cluster from `ray start --head --block`, with token authentication or without; stopped by its pid.

    ``--block`` keeps the command in the foreground: terminating it stops every process it started.
    """
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    env = {**ENV, "HOME": str(home), "RAY_AUTH_MODE": "token" if token else "disabled"}
    if token:
        env["RAY_AUTH_TOKEN"] = token
    log = open(home / "head.log", "w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--port", str(port), "--temp-dir", str(temp_dir), "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (home / "head.log").read_text():
            assert head.poll() is None and time.monotonic() < deadline, (home / "head.log").read_text()[-3000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def farm_ray(*argv, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "dreamvideo", "farm", "ray", *map(str, argv)],
                          capture_output=True, text=True, env=env, timeout=600)
    return done, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["token", "none"])
def test_ray_cluster_with_and_without_token_authentication(tmp_path, pan, auth):
    pytest.importorskip("ray")
    home = tmp_path / "home"
    home.mkdir()
    film = tmp_path / "film.mp4"
    job = [pan, film, "--frames", "0-3", "--chunk", "2", "--preroll", "2", "--gpus-per-task", "0", *FAST]
    client = {**ENV, "HOME": str(home)}
    with ray_head(home, token=TOKEN if auth == "token" else None) as address:
        if auth == "token":
            # without the token the cluster refuses the client: an error within seconds, with the way to give it
            refused, seconds = farm_ray(*job, "--address", address, env=client)
            assert refused.returncode == 2, refused.stderr[-3000:]
            assert f"error: the Ray cluster at {address} refused this client" in refused.stderr
            assert "hint: " in refused.stderr and "RAY_AUTH_TOKEN" in refused.stderr
            assert "internal failure" not in refused.stderr
            assert seconds < 60, seconds  # imports (torch, Ray) on 2 shared cores; Ray alone retries for ~20 s
            assert not film.exists()
            client.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)
        ran, _ = farm_ray(*job, "--address", address, env=client)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    assert "chunk 2/2 (frames 2-3) done" in ran.stderr or "chunk 1/2 (frames 0-1) done" in ran.stderr
    assert "2/2 chunks done, 4/4 frames of the job rendered" in ran.stderr
    assert video_frames(film) == 4
    assert sorted(int(p.stem[6:]) for p in (tmp_path / "film.frames").glob("frame_*.png")) == [0, 1, 2, 3]


@pytest.mark.slow
def test_ray_without_address_runs_its_own_instance(tmp_path, pan):
    """Whatever Ray recorded (here: RAY_ADDRESS at a cluster that is gone), no --address is a local instance."""
    pytest.importorskip("ray")
    film = tmp_path / "film.mp4"
    # A process of its own: a local Ray instance switches on token authentication in the process that starts it.
    env = {**ENV, "HOME": str(tmp_path), "RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    ran, seconds = farm_ray(pan, film, "--frames", "0-1", "--chunk", "2", "--preroll", "0", "--gpus-per-task", "0",
                            *FAST, env=env)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    assert "assembled 2 frames from 1 chunks" in ran.stdout and video_frames(film) == 2
    assert seconds < 300


def test_ray_cluster_that_cannot_be_reached_is_an_error_within_seconds(capsys, tmp_path, pan):
    pytest.importorskip("ray")
    started = time.monotonic()
    code, _, err = cli(capsys, "farm", "ray", pan, tmp_path / "f.mp4", "--frames", "0-3", "--chunk", "2",
                       "--address", f"127.0.0.1:{free_port()}", *FAST)
    assert code == 2 and err.startswith(f"error: no Ray cluster answers at 127.0.0.1:"), err
    assert "hint: start one with `ray start --head" in err
    assert time.monotonic() - started < 10
    code, _, err = cli(capsys, "farm", "ray", pan, tmp_path / "f.mp4", "--chunk", "2", "--address", "nowhere", *FAST)
    assert code == 2 and "is not HOST:PORT" in err
    assert list(tmp_path.iterdir()) == []  # no film, no frames folder


def fail_once(marker: str):
    """A Ray task: render the chunk, but fail the first time it is tried for chunk 1."""

    def task(source, work, chunk, dream, video, bit_depth):
        from dreamvideo.farm.ray_runner import render_chunk

        if chunk.number == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("this worker failed (made to, once)")
        return render_chunk(source, work, chunk, dream, video, bit_depth)

    return task


def test_ray_runner_retries_a_failed_chunk_and_assembles(capsys, tmp_path, clip, ray_instance):
    from dreamvideo.errors import MediaError
    from dreamvideo.farm.ray_runner import run_on_ray

    film = tmp_path / "film.mp4"
    settings = dict(dream=DreamSettings(octaves=1, steps=1), video=VideoSettings(refine_steps=1, quiet=True))
    # without retries the failure ends the job: one error, no film, the other chunks' frames kept
    with pytest.raises(MediaError, match=r"1 of 3 chunks failed after 1 tries; chunk 2/3 \(frames 4-7\)"):
        run_on_ray(str(clip), str(film), chunk=4, frames="0-11", preroll=3, retries=0,
                   task=fail_once(str(tmp_path / "failed-before")), **settings)
    assert not film.exists()
    assert [p.done for p in chunk_progress(tmp_path / "film.frames", plan_chunks(FrameRange(0, 11), 4, preroll=3))] == [
        4, 0, 4]

    marker = tmp_path / "failed-once"
    result = run_on_ray(
        str(clip), str(film), chunk=4, frames="0-11", preroll=3,
        dream=DreamSettings(octaves=1, steps=1), video=VideoSettings(refine_steps=1),
        task=fail_once(str(marker)),
    )
    assert marker.exists()  # chunk 1 failed once, was retried, and its frames are there
    assert (result.frames, result.chunks) == (12, 3) and result.work == tmp_path / "film.frames"
    assert video_frames(film) == 12
    err = capsys.readouterr().err
    assert "3/3 chunks done, 12/12 frames of the job rendered" in err
    assert "chunk 2/3 (frames 4-7) done" in err

    # the CLI: the same job resumes (nothing left to render) and assembles again
    code, stdout, err = cli(capsys, "farm", "ray", clip, film, "--frames", "0-11", "--chunk", "4", "--preroll", "3",
                            *FAST)
    assert code == 0, err
    assert "assembled 12 frames from 3 chunks" in stdout and "the final PNG sequence in" in stdout
    again = read_frame(tmp_path / "film.frames", 5).image
    assert np.array_equal(again, read_frame(result.work, 5).image)


def test_ray_runner_bad_input(capsys, tmp_path, clip):
    code, _, err = cli(capsys, "farm", "ray", clip, tmp_path / "f.mp4", "--chunk", "0", *FAST)
    assert code == 2 and "--chunk" in err
    code, _, err = cli(capsys, "farm", "ray", tmp_path / "missing.mp4", tmp_path / "f.mp4", "--chunk", "4")
    assert code == 2 and "no such file" in err
    assert list(tmp_path.iterdir()) == []


def on_gpu(source, work, chunk, dream, video, bit_depth):
    """A Ray task that checks Ray gave it a GPU, then renders its chunk there."""
    import ray
    import torch

    from dreamvideo.farm.ray_runner import render_chunk

    assert ray.get_gpu_ids() and torch.cuda.is_available(), "the task got no GPU"
    return render_chunk(source, work, chunk, dream, video, bit_depth)


@pytest.mark.gpu
def test_ray_runner_gives_each_chunk_a_gpu(tmp_path, clip):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    ray = pytest.importorskip("ray")
    from dreamvideo.farm.ray_runner import run_on_ray

    if ray.is_initialized():
        ray.shutdown()  # the CPU-only instance of the other tests
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": ENV["PYTHONPATH"]}})
    try:
        result = run_on_ray(
            str(clip), str(tmp_path / "film.mp4"), chunk=4, frames="0-7", preroll=2,
            dream=DreamSettings(octaves=1, steps=1, device="cuda"), video=VideoSettings(refine_steps=1),
            task=on_gpu,
        )
    finally:
        ray.shutdown()
    assert result.frames == 8 and video_frames(tmp_path / "film.mp4") == 8
