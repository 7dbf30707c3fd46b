"""Where a preset's time goes: its stage times, and the operators (CPU) and kernels (CUDA) that
take it, from torch.profiler.

Dreams a generated clip (``presets.make_clip``) with a preset through ``dreamvideo dream``'s own
code, in this process, under the profiler; the whole run counts (start-up, the first frame's
full steps, the carried frames' refining steps). Flow runs in worker processes on a GPU and is
not in the table: the report's ``flow_wait`` says whether the dream waited for it.

    python benchmarks/hotspots.py --preset film --size 1920x1080 --frames 8
    python benchmarks/hotspots.py --preset vr360 --size 3840x1920 --frames 4 --trace vr360.json

Prints the stage times and the top operators by self time on the device (CUDA) or the CPU, and
writes them as JSON to ``benchmarks/results/hotspots-<preset>-<device>-<time>.json`` (``--trace``:
a Chrome trace too, large). GoogLeNet is timed with random weights where its file is not
cached, as in speed.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def top_operators(prof, *, by_device: bool, rows: int) -> list[dict]:
    """The ``rows`` operators with the most self time (device time if ``by_device``), in ms."""
    events = sorted(
        prof.key_averages(),
        key=lambda e: e.self_device_time_total if by_device else e.self_cpu_time_total,
        reverse=True,
    )
    return [
        {
            "name": e.key,
            "calls": e.count,
            "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 3),
            "cpu_total_ms": round(e.cpu_time_total / 1e3, 3),
            **({"self_device_ms": round(e.self_device_time_total / 1e3, 3)} if by_device else {}),
        }
        for e in events[:rows]
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--size", default="320x180", help="WxH of the generated clip (default 320x180)")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", type=int, default=25, help="operators to list (default 25)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--trace", type=Path, help="also write a Chrome trace here")
    parser.add_argument("extra", nargs="*", help="more dream options (after --)")
    args = parser.parse_args(argv)

    import torch
    from torch.profiler import ProfilerActivity, profile

    from dreamvideo.cli import main as dreamvideo
    from dreamvideo.config import load_preset
    from presets import make_clip
    from speed import device_name, random_weights, result_path

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device == "cuda"
    w, h = (int(v) for v in args.size.split("x"))
    dream = load_preset(args.preset)["dream"]
    equirect = dream.get("projection") == "equirect"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = make_clip(tmp / "clip.mp4", (w, h), args.frames, equirect)
        weights = random_weights(str(dream.get("model", "efficientnet-lite0")), tmp)
        report = tmp / "report.json"
        argv = ["dream", str(clip), str(tmp / "out.mp4"), "--preset", args.preset, "--width", str(w),
                "--device", device, "--quiet", "--json-report", str(report), *(["--weights", weights] if weights else []),
                *args.extra]  # fmt: skip
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            code = dreamvideo(argv)
        if code != 0:
            raise SystemExit(f"dreamvideo {' '.join(argv)} exited with {code}")
        run = json.loads(report.read_text())
    result = {
        "device": device_name(),
        "torch": torch.__version__,
        "preset": args.preset,
        "size": args.size,
        "frames": run["frames"],
        "random_weights": bool(weights),
        "wall_s": run["wall_time_s"],
        "stage_times_s": run["stage_times_s"],
        "peak_memory_mb": run.get("peak_memory_mb", {}),
        "sorted_by": "self device time" if cuda else "self CPU time",
        "operators": top_operators(prof, by_device=cuda, rows=args.rows),
    }
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, "hotspots", f"{args.preset}-{result['device']}")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.preset} at {args.size}, {run['frames']} frames on {result['device']}: {run['wall_time_s']} s")
    print("stages (s):", ", ".join(f"{k} {v}" for k, v in run["stage_times_s"].items()))
    print(f"top operators by {result['sorted_by']} (ms):")
    for row in result["operators"]:
        own = row.get("self_device_ms", row["self_cpu_ms"])
        print(f"  {own:10.1f}  {row['calls']:7d} calls  {row['name'][:90]}")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
