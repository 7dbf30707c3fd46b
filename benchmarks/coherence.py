"""Temporal coherence of the flow-guided dream against independent frames, on the sample clip.

Prints, for ``--flow farneback`` (default settings) and ``--flow none``: warp error,
strength, frames per second; then the two ratios of the quality bar (warp error
at most 0.4x the independent run's, strength between 0.6x and 1.6x of it).

Run: ``python benchmarks/coherence.py [CLIP] [--json]``
(default clip: ``samples/pan.mp4``; make it with ``samples/make_samples.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from dreamvideo.config import DreamSettings, VideoSettings
from dreamvideo.metrics import compare_files
from dreamvideo.pipeline import dream_video

ROOT = Path(__file__).resolve().parent.parent


def run(clip: str, out: Path, video: VideoSettings) -> dict:
    report = dream_video(clip, str(out), DreamSettings(), video)
    metrics = compare_files(clip, str(out))
    return {
        "frames": report.frames,
        "frames_per_s": round(report.fps, 3),
        "warp_error": round(metrics.warp_error, 3),
        "strength": round(metrics.strength, 3),
        "source_warp_error": round(metrics.source_warp_error, 3),
        "scene_cuts": report.cuts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", default=str(ROOT / "samples" / "pan.mp4"))
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flow in (("flow", "farneback"), ("independent", "none")):
            results[name] = run(args.clip, Path(tmp) / f"{name}.mp4", VideoSettings(flow=flow, quiet=True))
    flow, independent = results["flow"], results["independent"]
    results["warp_error_ratio"] = round(flow["warp_error"] / independent["warp_error"], 3)
    results["strength_ratio"] = round(flow["strength"] / independent["strength"], 3)
    results["machine"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"clip: {args.clip}   machine: {results['machine']}")
    print(f"{'run':12s} {'frames':>6s} {'fps':>7s} {'warp err':>9s} {'strength':>9s}  cuts")
    for name in ("flow", "independent"):
        r = results[name]
        print(f"{name:12s} {r['frames']:6d} {r['frames_per_s']:7.2f} {r['warp_error']:9.2f} {r['strength']:9.2f}  {r['scene_cuts']}")
    print(f"source warp error (the scene's own): {flow['source_warp_error']:.2f}")
    bar_warp = "ok" if results["warp_error_ratio"] <= 0.4 else "FAILS the <= 0.4 bar"
    bar_strength = "ok" if 0.6 <= results["strength_ratio"] <= 1.6 else "FAILS the 0.6-1.6 bar"
    print(f"warp error ratio {results['warp_error_ratio']:.3f} ({bar_warp}); "
          f"strength ratio {results['strength_ratio']:.3f} ({bar_strength})")


if __name__ == "__main__":
    main()
