"""Seam ratio, pole streak score and objective gain of 360° dreaming on real panoramas.

    PYTHONPATH=. python benchmarks/panorama.py [--modes flat,equirect,cubemap,views] [--steps N] ...

For each panorama in ``samples/`` (or ``--dir``; 512×256 equirect photos) and
each sphere mode, dream with the default model and layer (EfficientNet-Lite0
``blocks.10``) and print the metrics of DESIGN.md: the seam ratio of the output,
the pole streak score at the zenith and the nadir, and the objective gain (mean
squared activation of the layer over the whole equirect frame, output over input).
``flat`` is the plain 2-D dream of the equirect pixels, the baseline. The bar
(issue 6): seam ≤ 1.3, poles ≤ 0.25, gain ≥ 1.3.

``--sizes 1024x512,4096x2048,...`` instead measures what headset sizes cost: each
size is dreamed (``views``, the lab panorama upscaled) in a fresh process with
``--scale-steps`` steps of the finest octave only (``--octaves 1``; the anchored
pyramid's coarser octaves add a geometric series, under 2x) and prints seconds,
seconds per megapixel and the process's peak memory. ``HxH`` sizes (1:1) are
dreamed as top-bottom stereo (one refining step for the right eye).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dreamvideo.config import DreamSettings
from dreamvideo.dream import Dreamer, image_to_tensor, make_dreamer, objective_from_settings, tensor_to_image, tile_grid
from dreamvideo.dream.objectives import settings_layers
from dreamvideo.io import read_image
from dreamvideo.metrics import pole_streak_score, seam_ratio
from dreamvideo.models import load_model
from dreamvideo.panorama.projection import projection_for
from dreamvideo.pipeline import peak_memory_mb

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


def one_size(width: int, height: int, steps: int) -> dict:
    """Dream one frame of ``width`` × ``height`` (``views``; 1:1 as top-bottom stereo): time and peak memory."""
    import cv2

    from dreamvideo.frame import dream_frame
    from dreamvideo.layout import Layout

    stereo = width == height
    eye_h = height // 2 if stereo else height
    settings = DreamSettings(device="cpu", steps=steps, octaves=1, projection="equirect", sphere_mode="views")
    dreamer = make_dreamer(settings, projection=projection_for(settings))
    eye = cv2.resize(read_image(DEFAULT_DIR / "lab.png").rgb, (width, eye_h), interpolation=cv2.INTER_CUBIC)
    x = image_to_tensor(np.clip(eye, 0, 1))
    if stereo:
        x = torch.cat([x, torch.roll(x, 4, dims=-1)], dim=-2)
    start = time.perf_counter()
    dream_frame(dreamer, x, Layout("equirect", "top-bottom" if stereo else "none"))
    seconds = time.perf_counter() - start
    peak_mib = peak_memory_mb(torch.device("cpu"))["host"]
    # The work, independent of how busy the machine is: pixels through the network per step.
    n = dreamer.projection.view_size(width)
    side = n if n <= dreamer.tile else len(tile_grid(n, dreamer.tile, dreamer.tile // 4)) * dreamer.tile
    net_mp = len(dreamer.projection.rotations) * side * side / 1e6 * (2 if stereo else 1)
    return {"size": f"{width}x{height}", "stereo": stereo, "seconds": seconds, "peak_mib": peak_mib, "net_mp": net_mp}


def sizes_table(sizes: str, steps: int) -> list[dict]:
    """Each size in a fresh process (so peak memory is its own); prints the table."""
    rows = []
    print(f"{'size':<12}{'layout':<12}{'s':>8}{'s/MP':>8}{'peak MiB':>10}{'net MP/step':>13}")
    for text in sizes.split(","):
        cmd = [sys.executable, __file__, "--one-size", text, "--scale-steps", str(steps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        width, height = (int(v) for v in text.split("x"))
        row["s_per_mp"] = row["seconds"] / (width * height / 1e6)
        rows.append(row)
        layout = "top-bottom" if row["stereo"] else "mono"
        print(
            f"{row['size']:<12}{layout:<12}{row['seconds']:8.1f}{row['s_per_mp']:8.2f}{row['peak_mib']:10.0f}"
            f"{row['net_mp']:13.1f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="folder of equirect PNGs")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--octaves", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated panorama names")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default=None, help="WxH,...: measure the cost of these sizes instead")
    parser.add_argument("--scale-steps", type=int, default=1, help="steps per size with --sizes")
    parser.add_argument("--one-size", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_size:
        width, height = (int(v) for v in args.one_size.split("x"))
        print(json.dumps(one_size(width, height, args.scale_steps)))
        return 0
    if args.sizes:
        rows = sizes_table(args.sizes, args.scale_steps)
        if args.json:
            json.dump(rows, sys.stdout, indent=2)
        return 0
    torch.manual_seed(0)
    settings = DreamSettings(device="cpu", steps=args.steps, octaves=args.octaves, seed=args.seed)
    model = load_model(settings.model, device=torch.device("cpu"))
    model.fold_batch_norms(keep=[name for name, _ in settings_layers(settings, model)])  # as make_dreamer does
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
