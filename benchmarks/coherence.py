"""Temporal coherence of the flow-guided dream against independent frames.

On the sample clip and on each test clip of ``tests/clips.py`` (a camera path
over a panorama, a moving occluder, a cut between shots of one palette, a
cross-fade, a fast pan), dream twice with the default settings: ``--flow
farneback`` and ``--flow none`` (every frame dreamed on its own). Prints warp
error, strength, sharpness (steady state: frames 10 onwards) and frames per
second of both, the cuts found, and the three ratios of the quality bar, read
together (issues 11 and 19): warp error at most 0.35x the independent run's,
strength at least 0.9x of it, sharpness at least 0.8x of it. Blur lowers warp
error, so a warp ratio means little without the sharpness ratio beside it. The source ratio (the undreamed clip's
own warp error over the independent dream's) shows where the metric's flow
itself fails: a warp ratio near it is as steady as the metric can tell. "Over
source" is the warp ratio with the source's own error taken off both runs: the
dream's own flicker (a diagnostic, not the bar).

Run: ``python benchmarks/coherence.py [CLIP ...] [--json] [--no-test-clips] [--test-clip NAME ...]``
(default clip: ``samples/pan.mp4``; make it with ``samples/make_samples.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.clips, when run as a script

from dreamvideo.config import DreamSettings, VideoSettings  # noqa: E402
from dreamvideo.metrics import compare_files  # noqa: E402
from dreamvideo.pipeline import dream_video  # noqa: E402
from tests.clips import CLIPS, write_clip  # noqa: E402

MAX_WARP_RATIO, MIN_STRENGTH_RATIO, MIN_SHARPNESS_RATIO = 0.35, 0.9, 0.8


def run(clip: str, out: Path, video: VideoSettings) -> dict:
    report = dream_video(clip, str(out), DreamSettings(), video)
    metrics = compare_files(clip, str(out))
    return {
        "frames": report.frames,
        "frames_per_s": round(report.fps, 3),
        "warp_error": round(metrics.warp_error, 3),
        "strength": round(metrics.strength, 3),
        "sharpness": round(metrics.sharpness, 3),
        "frame_sharpness": [round(value, 3) for value in metrics.frame_sharpness],
        "source_warp_error": round(metrics.source_warp_error, 3),
        "scene_cuts": report.cuts,
    }


def compare_runs(clip: str, tmp: Path) -> dict:
    """The flow-guided and the independent dream of ``clip``, and their ratios."""
    results = {}
    for name, flow in (("flow", "farneback"), ("independent", "none")):
        results[name] = run(clip, tmp / f"{Path(clip).stem}-{name}.mp4", VideoSettings(flow=flow, quiet=True))
    flow, independent = results["flow"], results["independent"]
    results["warp_error_ratio"] = round(flow["warp_error"] / independent["warp_error"], 3)
    results["strength_ratio"] = round(flow["strength"] / independent["strength"], 3)
    results["sharpness_ratio"] = round(flow["sharpness"] / independent["sharpness"], 3)
    # The source's own warp error over the independent dream's: where the metric's flow is wrong
    # (a whip pan, a sliding occluder, a fade) even the undreamed clip scores this much.
    results["source_ratio"] = round(flow["source_warp_error"] / independent["warp_error"], 3)
    # The same ratio over what the source itself scores: the dream's own flicker. Not the bar;
    # it tells a clip where the carry falls short from one where the metric's flow does.
    source = flow["source_warp_error"]
    results["over_source_ratio"] = round((flow["warp_error"] - source) / (independent["warp_error"] - source), 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", default=[str(ROOT / "samples" / "pan.mp4")])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--no-test-clips", action="store_true", help="only the clips given")
    parser.add_argument("--test-clip", action="append", choices=sorted(CLIPS), help="only these test clips")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {Path(c).name: c for c in args.clips}
        if not args.no_test_clips:
            for name, make in CLIPS.items():
                if args.test_clip and name not in args.test_clip:
                    continue
                clips[name] = str(write_clip(Path(tmp) / f"{name}.mp4", make().frames))
        for name, path in clips.items():
            results[name] = compare_runs(path, Path(tmp))
            if not args.json:
                print_row(name, results[name], header=len(results) == 1)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    )
    if args.json:
        print(json.dumps({"machine": machine, "clips": results}, indent=2))
        return
    print(
        f"machine: {machine}; bar: warp ratio <= {MAX_WARP_RATIO}, strength ratio >= {MIN_STRENGTH_RATIO}, "
        f"sharpness ratio >= {MIN_SHARPNESS_RATIO} (sharpness: mean |Laplacian| / mean |detail| of the dream's "
        "detail, frames 10 onwards, higher is crisper)"
    )


def print_row(name: str, r: dict, *, header: bool) -> None:
    if header:
        print(f"{'clip':12s} {'frames':>6s} {'fps':>6s} {'warp err':>15s} {'strength':>13s} {'sharpness':>11s} "
              f"{'src err':>7s} {'warp ratio':>10s} {'strength ratio':>14s} {'sharpness ratio':>15s} "
              f"{'source ratio':>12s} {'over source':>11s}  cuts")
    flow, ind = r["flow"], r["independent"]
    ok = (
        r["warp_error_ratio"] <= MAX_WARP_RATIO
        and r["strength_ratio"] >= MIN_STRENGTH_RATIO
        and r["sharpness_ratio"] >= MIN_SHARPNESS_RATIO
    )
    print(f"{name:12s} {flow['frames']:6d} {flow['frames_per_s']:6.2f} "
          f"{flow['warp_error']:7.2f}/{ind['warp_error']:<7.2f} {flow['strength']:6.2f}/{ind['strength']:<6.2f} "
          f"{flow['sharpness']:5.2f}/{ind['sharpness']:<5.2f} "
          f"{flow['source_warp_error']:7.2f} {r['warp_error_ratio']:10.3f} {r['strength_ratio']:14.3f} "
          f"{r['sharpness_ratio']:15.3f} "
          f"{r['source_ratio']:12.3f} {r['over_source_ratio']:11.3f}  "
          f"{flow['scene_cuts']}{'' if ok else '  (misses the bar)'}", flush=True)


if __name__ == "__main__":
    main()
