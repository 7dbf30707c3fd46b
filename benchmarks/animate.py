"""How long an animation from a still keeps its structure and crispness: dreamvideo's loop
against the classic feedback loop of the anchors (Google's zoom notebook, ouroboros).

Both start from the same dreamed first frame of a real photo and move each frame by the same
zoom and turn. The classic loop dreams the whole previous frame moved (a copy of a copy);
``animate.py``'s loop adds the last frame's detail, moved, to the still moved by the motion
so far (sampled once). Per frame: ``structure`` (correlation of the blurred grey with the
still moved as far, 1 = its layout) and ``sharpness`` (DESIGN, Metrics; of the detail
against that moved still). Printed every ``--every`` frames.

Run: ``python benchmarks/animate.py [--frames 200] [--width 224] [--zoom 1.02] [--angle 0.5]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from skimage import data
import cv2

from dreamvideo.animate import _FlatMover, flat_step, sharpness, structure
from dreamvideo.config import DreamSettings
from dreamvideo.dream import image_to_tensor, make_dreamer, tensor_to_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--zoom", type=float, default=1.02)
    parser.add_argument("--angle", type=float, default=0.5)
    parser.add_argument("--refine-steps", type=int, default=2)
    parser.add_argument("--blend", type=float, default=1.0, help="share of the moved detail carried (ours)")
    parser.add_argument("--loops", default="ours,classic")
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    photo = data.astronaut()
    height = round(args.width * photo.shape[0] / photo.shape[1]) // 2 * 2
    still = cv2.resize(photo, (args.width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    dreamer = make_dreamer(DreamSettings(device="cpu"))
    step = flat_step((args.width, height), args.zoom, args.angle, 0.0, 0.0)
    rows = {loop: [] for loop in args.loops.split(",")}
    started = time.perf_counter()
    first = dreamer.dream(image_to_tensor(still), frame_index=0)
    for loop in rows:
        mover = _FlatMover(height, width=args.width)
        frame, detail = first, (first - image_to_tensor(still))[0].permute(1, 2, 0).numpy()
        for i in range(args.frames):
            base = mover.move(still, step if i else np.eye(3), accumulate=True)
            if i:
                if loop == "ours":
                    start = image_to_tensor(base) + args.blend * image_to_tensor(mover.move(detail, step))
                else:
                    previous = frame[0].permute(1, 2, 0).numpy()
                    start = image_to_tensor(np.clip(mover.move(previous, step), 0, 1))
                frame = dreamer.dream(start.clamp(0, 1), steps=args.refine_steps, frame_index=i)
                detail = (frame - image_to_tensor(base))[0].permute(1, 2, 0).numpy()
            image = tensor_to_image(frame)
            rows[loop].append((i, structure(image, base), sharpness(image, base)))
    result = {
        "machine": platform.processor() or platform.machine(),
        "settings": vars(args),
        "seconds": round(time.perf_counter() - started, 1),
        "every": {loop: [r for r in values if r[0] % args.every == 0 or r[0] == args.frames - 1] for loop, values in rows.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.frames} frames at {args.width}x{height}, zoom {args.zoom}, angle {args.angle}, refine {args.refine_steps}")
    print("frame   " + "   ".join(f"{loop}: structure sharpness" for loop in rows))
    for lines in zip(*result["every"].values()):
        print(f"{lines[0][0]:5d}   " + "   ".join(f"{s:{len(loop) + 11}.3f} {h:9.2f}" for loop, (_, s, h) in zip(rows, lines)))
    print(f"{result['seconds']} s")


if __name__ == "__main__":
    main()
