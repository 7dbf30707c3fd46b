"""Seam ratio, pole streak score and objective gain of 360° dreaming on real panoramas.

    PYTHONPATH=. python benchmarks/panorama.py [--modes flat,equirect,cubemap,views] [--steps N] ...

For each panorama in ``samples/`` (or ``--dir``; 512×256 equirect photos) and
each sphere mode, dream with the default model and layer (EfficientNet-Lite0
``blocks.10``) and print the metrics of DESIGN.md: the seam ratio of the output,
the pole streak score at the zenith and the nadir, and the objective gain (mean
squared activation of the layer over the whole equirect frame, output over input).
``flat`` is the plain 2-D dream of the equirect pixels, the baseline. The bar
(issue 6): seam ≤ 1.3, poles ≤ 0.25, gain ≥ 1.3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, objective_from_settings, tensor_to_image
from dreamvideo.io import read_image
from dreamvideo.metrics import pole_streak_score, seam_ratio
from dreamvideo.models import load_model
from dreamvideo.panorama.projection import projection_for

MODES = ("flat", "equirect", "cubemap", "views")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "samples"


def measure(model, settings: DreamSettings, mode: str, image: np.ndarray) -> dict:
    """Dream ``image`` (float ``(H, W, 3)`` in [0, 1]) in one mode; the figures and the time."""
    projection = projection_for(settings, projection="flat" if mode == "flat" else "equirect")
    if mode != "flat":
        settings = DreamSettings(**{**settings.__dict__, "sphere_mode": mode})
        projection = projection_for(settings, projection="equirect")
    objective = objective_from_settings(settings, model)
    dreamer = Dreamer(model, objective, settings, projection=projection)
    judge = Dreamer(model, objective, settings)  # the objective over the whole equirect frame, as a picture
    x = image_to_tensor(image, model.device)
    start = time.perf_counter()
    out = dreamer.dream(x)
    seconds = time.perf_counter() - start
    src8 = tensor_to_image(x)
    out8 = tensor_to_image(out)
    zenith, nadir = pole_streak_score(src8, out8)
    return {
        "seam": seam_ratio(out8),
        "zenith": zenith,
        "nadir": nadir,
        "gain": judge.value(out) / judge.value(x),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="folder of equirect PNGs")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--octaves", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated panorama names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    settings = DreamSettings(device="cpu", steps=args.steps, octaves=args.octaves, seed=args.seed)
    model = load_model(settings.model, device=torch.device("cpu"))
    paths = sorted(args.dir.glob("*.png"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only.split(",")]
    rows = []
    print(f"{'panorama':<12}{'mode':<10}{'seam':>7}{'zenith':>8}{'nadir':>8}{'gain':>7}{'s':>7}")
    for path in paths:
        image = read_image(path).rgb
        for mode in args.modes.split(","):
            r = measure(model, settings, mode, image)
            rows.append({"panorama": path.stem, "mode": mode, **r})
            print(
                f"{path.stem:<12}{mode:<10}{r['seam']:7.2f}{r['zenith']:8.2f}{r['nadir']:8.2f}"
                f"{r['gain']:7.2f}{r['seconds']:7.1f}",
                flush=True,
            )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
