"""Resolution independence of the look: the same dream at a quarter, half and full width.

For each of scikit-image's real photos, and for the anchored (default) and the
classic pyramid: dream the photo at its full width (default 640 px) and at a
half and a quarter of it, and print ``metrics.look_correlation`` between each
smaller dream and the full one (1 = the same large structures), with the
objective gain (mean squared activation of the dreamed layer, output over input)
of the full-width dream and the seconds each took.

Run: ``python benchmarks/look.py [--width W] [--json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import cv2
import numpy as np
import torch
from skimage import data

from dreamvideo.config import DreamSettings
from dreamvideo.dream import image_to_tensor, make_dreamer, tensor_to_image
from dreamvideo.metrics import look_correlation

PHOTOS = ("astronaut", "chelsea", "coffee")


def measure(photo: np.ndarray, settings: DreamSettings, width: int) -> dict:
    dreamer = make_dreamer(settings)
    h0, w0 = photo.shape[:2]
    runs = {}
    for share in (4, 2, 1):
        w = width // share
        source = cv2.resize(photo, (w, round(w * h0 / w0)), interpolation=cv2.INTER_AREA)
        x = image_to_tensor(source, dreamer.device)
        started = time.perf_counter()
        dreamed = dreamer.dream(x)
        runs[share] = (source, tensor_to_image(dreamed), time.perf_counter() - started)
        if share == 1:
            gain = dreamer.value(dreamed) / dreamer.value(x)
    return {
        "quarter_vs_full": round(look_correlation(*runs[4][:2], *runs[1][:2]), 3),
        "half_vs_full": round(look_correlation(*runs[2][:2], *runs[1][:2]), 3),
        "gain_full": round(gain, 3),
        "seconds": [round(runs[s][2], 2) for s in (4, 2, 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=640, help="full width (default 640)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    results = {}
    for pyramid in ("anchored", "classic"):
        for name in PHOTOS:
            results[f"{pyramid}/{name}"] = measure(getattr(data, name)()[..., :3], DreamSettings(pyramid=pyramid), args.width)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    )
    if args.json:
        print(json.dumps({"machine": machine, "width": args.width, "results": results}, indent=2))
        return
    print(f"look correlation at {args.width // 4}/{args.width // 2} vs {args.width} px   machine: {machine}")
    print(f"{'pyramid/photo':22s} {'1/4 vs 1':>8s} {'1/2 vs 1':>8s} {'gain':>6s}  seconds (1/4, 1/2, 1)")
    for key, r in results.items():
        print(f"{key:22s} {r['quarter_vs_full']:8.3f} {r['half_vs_full']:8.3f} {r['gain_full']:6.2f}  {r['seconds']}")
    print("bar: 1/4 vs 1 >= 0.6, 1/2 vs 1 >= 0.5")


if __name__ == "__main__":
    main()
