"""The ``image`` command on 360° stills: equirect projection, stereo layouts, aspect warnings."""

from __future__ import annotations

import cv2
import numpy as np

from dreamvideo.cli import main
from dreamvideo.metrics import seam_ratio

from .fields import panorama

FAST = ["--steps", "2", "--device", "cpu"]


def _write(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _read(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_image_command_dreams_a_panorama_through_views(tmp_path, capsys):
    source, output = tmp_path / "pano.png", tmp_path / "dreamed.png"
    _write(source, panorama("lab", 256))
    assert main(["image", str(source), str(output), "--projection", "equirect", *FAST]) == 0
    dreamed = _read(output)
    assert dreamed.shape == (128, 256, 3)
    assert np.abs(dreamed.astype(int) - _read(source)).mean() > 3
    assert seam_ratio(dreamed) <= 1.3
    assert "warning" not in capsys.readouterr().err


def test_image_command_dreams_top_bottom_stereo(tmp_path, capsys):
    left = panorama("lab", 256)
    right = np.roll(left, 3, axis=1)
    source, output = tmp_path / "stereo.png", tmp_path / "dreamed.png"
    _write(source, np.concatenate([left, right], axis=0))
    args = ["image", str(source), str(output), "--projection", "equirect", "--stereo", "top-bottom", *FAST]
    assert main(args) == 0
    dreamed = _read(output).astype(np.float64)
    assert dreamed.shape == (256, 256, 3)
    detail_left = dreamed[:128] - left
    detail_right = dreamed[128:] - right
    carried = np.roll(detail_left, 3, axis=1)  # the right eye sees the left eye 3 pixels to the right
    agree = np.corrcoef(carried.ravel(), detail_right.ravel())[0, 1]
    assert agree > 0.6
    assert "warning" not in capsys.readouterr().err
