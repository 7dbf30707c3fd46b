"""The README's worked examples, run as they stand on tiny inputs of the names they use.

Every ```sh block of README.md is run line by line with bash in a folder holding
``clip.mp4`` (12 frames with AAC audio), ``pano.jpg`` (a real panorama) and
``pano.mp4`` (a 360° clip with spherical metadata); every ```python block is run
as a script there. Each command must succeed; the outputs they name must exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from .io.conftest import ffmpeg, make_clip, needs_ffmpeg
from .panorama.fields import panorama

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)

pytestmark = [needs_ffmpeg, pytest.mark.slow]


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == kind]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from dreamvideo.io import open_writer
    from dreamvideo.io.spherical import SphericalInfo

    here = tmp_path_factory.mktemp("readme")
    video = make_clip(here / "video.mp4", frames=12, width=96, height=64, gop=12)
    ffmpeg("-i", str(video), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.4",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(here / "clip.mp4"))  # fmt: skip
    video.unlink()
    pano = panorama("lab", 128)
    cv2.imwrite(str(here / "pano.jpg"), cv2.cvtColor(pano, cv2.COLOR_RGB2BGR))
    with open_writer(str(here / "pano.mp4"), width=128, height=64, rate=Fraction(24), time_base=Fraction(1, 24),
                     spherical=SphericalInfo()) as writer:  # fmt: skip
        for i in range(4):
            writer.write(np.ascontiguousarray(np.roll(pano, 2 * i, axis=1)))  # the camera turns
    return here


def environment() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # dreamvideo's console script and openjd, as installed
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


def test_the_readme_has_the_worked_examples():
    assert len(blocks("sh")) == 3 and len(blocks("python")) == 1
    assert shutil.which("dreamvideo", path=environment()["PATH"]), "dreamvideo is not installed as a command"


@pytest.mark.parametrize("index", range(3), ids=["music-video", "360", "farm"])
def test_sh_example_runs(folder, index):
    named = []
    for line in blocks("sh")[index].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        done = subprocess.run(["bash", "-c", line], cwd=folder, env=environment(), capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if "--vr-names" not in line:  # which renames its output (the next lines use the new name)
            named += [w for w in line.split() if re.fullmatch(r"[\w./-]+\.(mp4|png|jpg|json)", w)]
    assert named and all((folder / name).exists() for name in named), [n for n in named if not (folder / n).exists()]


def test_python_example_runs(folder):
    script = folder / "example.py"
    script.write_text(blocks("python")[0])
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=environment(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 frames" in done.stdout
    for name in ("api_still.png", "api.mp4", "api_film.mp4"):
        assert (folder / name).exists()
