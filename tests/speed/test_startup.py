"""Start-up: the torch-only warp matches kornia's, and the dream path imports kornia only when it blurs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from dreamvideo.temporal.warp import warp


def test_warp_matches_kornia_remap():
    from kornia.geometry.transform import remap

    try:
        from kornia.geometry import create_meshgrid
    except ImportError:  # kornia < 0.8.3, the newest for Python 3.10
        from kornia.utils import create_meshgrid

    gen = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 24, 32, generator=gen)
    flow = (torch.rand(1, 2, 24, 32, generator=gen) - 0.5) * 12  # reaches past the edges too
    coords = create_meshgrid(24, 32, normalized_coordinates=False) + flow.permute(0, 2, 3, 1)
    expected = remap(image, coords[..., 0], coords[..., 1], mode="bilinear", padding_mode="border", align_corners=True)
    torch.testing.assert_close(warp(image, flow), expected, atol=1e-5, rtol=1e-5)


def test_dream_path_imports_no_model_zoo_kornia_or_pool():
    """What `dreamvideo dream` imports before its first frame: no kornia, torchvision, scipy or process pool (torch itself brings tqdm)."""
    code = (
        "import sys, dreamvideo.pipeline, dreamvideo.cli.commands;"
        "print(' '.join(m for m in ('kornia', 'torchvision', 'concurrent.futures.process', 'scipy')"
        " if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == ""


def test_video_run_without_blur_never_imports_kornia(tmp_path):
    """A whole flow-guided run (carry warps on every frame) with no gradient blur: kornia's import
    (0.1-0.3 s) is never paid."""
    from ..io.conftest import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=3, gop=3)
    code = (
        "import sys; from dreamvideo.cli import main;"
        f"code = main(['dream', {str(clip)!r}, {str(tmp_path / 'out.mp4')!r}, '--octaves', '1', '--steps', '1',"
        " '--smoothing', '0', '--base-width', '64', '--quiet']);"
        "print(code, 'kornia' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr
