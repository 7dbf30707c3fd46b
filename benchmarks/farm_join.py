"""Farm joins on real footage: chunks rendered apart, assembled, against one sequential run.

A camera turning over a real panorama (``samples/workshop.png``, views made as in
``tests/clips.py``) is rendered as chunks with the default pre-roll, assembled
(the PNG sequence made final), and once as one sequential run; the warp error
(``dreamvideo.metrics.compare``, DESIGN's definition) of each transition is
compared at the joins with the median of the transitions away from them. It also
deletes a frame and cuts one short in the middle chunk and resumes: the frames
must be bit-identical to those first written.

Run: ``python benchmarks/farm_join.py [--frames 36] [--chunk 12] [--width 160] [--steps N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dreamvideo.config import DreamSettings, FrameRange, VideoSettings  # noqa: E402
from dreamvideo.io.sequence import frame_path, read_frame  # noqa: E402
from dreamvideo.metrics import compare  # noqa: E402
from dreamvideo.render import DEFAULT_PREROLL, assemble, render_frames  # noqa: E402
from tests.clips import panorama, view, write_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--chunk", type=int, default=12)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--steps", type=int, help="ascent steps per octave (default: the dream's default)")
    args = parser.parse_args()
    size = (args.width, round(args.width * 9 / 16 / 2) * 2)
    pano = panorama("workshop")
    frames = [view(pano, -30.0 + 1.5 * i, 4.0 * math.sin(2 * math.pi * i / 24), size=size) for i in range(args.frames)]
    dream = DreamSettings(device="cpu", **({"steps": args.steps} if args.steps else {}))
    video = VideoSettings(quiet=True)
    span = FrameRange(0, args.frames - 1)
    K = DEFAULT_PREROLL
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = write_clip(tmp / "camera.mp4", frames)
        chunked, sequential = tmp / "chunked", tmp / "sequential"
        started = time.perf_counter()
        starts = list(range(0, args.frames, args.chunk))
        for a in starts:
            render_frames(str(clip), chunked, FrameRange(a, min(a + args.chunk, args.frames) - 1), dream, video)
        chunk_time = time.perf_counter() - started
        print("chunked_done", round(time.perf_counter() - started, 1), file=sys.stderr, flush=True)
        raw = [read_frame(chunked, i).image for i in range(args.frames)]
        # resume: frame 2 of the middle chunk deleted, frame 5 cut short, as a killed worker leaves them
        middle = starts[len(starts) // 2]
        lost = [middle + 2, middle + 5]
        frame_path(chunked, lost[0]).unlink()
        data = frame_path(chunked, lost[1]).read_bytes()
        frame_path(chunked, lost[1]).write_bytes(data[: len(data) // 2])
        render_frames(str(clip), chunked, FrameRange(middle, min(middle + args.chunk, args.frames) - 1), dream, video)
        resumed_diff = max(int(np.abs(read_frame(chunked, i).image.astype(int) - raw[i]).max()) for i in lost)
        print("resumed", round(time.perf_counter() - started, 1), file=sys.stderr, flush=True)
        assemble(str(chunked), str(tmp / "film.mp4"))
        final = [read_frame(chunked, i).image for i in range(args.frames)]
        started = time.perf_counter()
        render_frames(str(clip), sequential, span, dream, video)
        sequential_time = time.perf_counter() - started
        print("sequential_done", round(time.perf_counter() - started, 1), file=sys.stderr, flush=True)
        seq = [read_frame(sequential, i).image for i in range(args.frames)]

    def errors(film):
        return [row["warp_error_output"] for row in compare(frames, film).per_frame]  # [t-1]: frame t-1 -> t

    e_final, e_raw, e_seq = errors(final), errors(raw), errors(seq)
    joins = starts[1:]
    window = {t for a in joins for t in range(max(1, a - K), a + 1)}  # transitions into and across the fade
    outside = [e_final[t - 1] for t in range(1, args.frames) if t not in window]
    median = float(np.median(outside))
    result = {
        "clip": f"{args.frames} frames {size[0]}x{size[1]}, camera turning 1.5 deg/frame over samples/workshop.png",
        "steps": dream.steps,
        "chunks": [f"{a}-{min(a + args.chunk, args.frames) - 1}" for a in starts],
        "preroll": K,
        "median_outside_joins": round(median, 3),
        "joins": [],
        "resumed_max_abs_diff": resumed_diff,
        "chunked_render_s": round(chunk_time, 1),
        "sequential_render_s": round(sequential_time, 1),
    }
    for a in joins:
        ts = range(max(1, a - K), a + 1)
        result["joins"].append({
            "join": f"{a - 1}->{a}",
            "film_at_join": round(e_final[a - 1] / median, 2),
            "film_max_over_window": round(max(e_final[t - 1] for t in ts) / median, 2),
            "film_mean_over_window": round(float(np.mean([e_final[t - 1] for t in ts])) / median, 2),
            "raw_pngs_at_join": round(e_raw[a - 1] / median, 2),
            "sequential_at_join": round(e_seq[a - 1] / median, 2),
        })
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
