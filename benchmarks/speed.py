"""End-to-end speed: frames/s and time per stage of each preset, and the naive loop beside it.

Every run is a fresh process running ``dreamvideo dream`` (its own ``main``, through
``speed.py --cli``, which also notes when the first frame's dream starts), timed from launch to
exit, so start-up counts as it does for a farm task or a short clip. Start-up is launch to that
first dream, against launch to ``import torch`` done in a fresh Python. The naive loop is the one the
popular DeepDream video scripts run, written here and not with the project's runner:
decode (PyAV), Farneback at full resolution in this one process, fp32 eager gradient ascent
(classic pyramid), warp of the previous dream along the flow, encode (PyAV), one frame after
another. It runs as a fresh process too (``--naive``), in the same invocation, for a ratio.

Where a network's weights are not cached (torchvision's GoogLeNet), it is timed with random
weights (the cost does not depend on them) and the JSON says so.

    python benchmarks/speed.py            # GPU present: the full set; CPU only: as --quick
    python benchmarks/speed.py --quick    # small sizes and few frames, for a 2-core CPU
    python benchmarks/speed.py --full     # the full set on the CPU too (hours)
    python benchmarks/speed.py --fast compile --presets film   # with opt-in speed paths
    python benchmarks/speed.py --full --presets vr360 --sizes 7680x3840 --frames 3 --ratio-frames none
                                          # 8K equirect: does it fit, and its peak memory

Full set: each preset at 1280x720 and 1920x1080 (360° presets at 3840x1920 equirectangular),
and the naive loop at the `film` settings (4 octaves x 10 steps) at 1920x1080 against `film`
and against dreamvideo at equal settings. Each run records its peak memory (``peak_memory_mb``:
the host's resident set, and on CUDA what torch allocated). Results go to
``benchmarks/results/speed-<device>-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

FULL_SIZES = [(1280, 720), (1920, 1080)]
EQUIRECT_SIZE = (3840, 1920)
QUICK_PRESETS = ["live", "quick-preview", "default"]


# ---------------------------------------------------------------------------
# the naive loop (its own process: python benchmarks/speed.py --naive ...)


def naive_loop(clip: str, out: str, s: dict) -> dict:
    """Dream ``clip`` into ``out`` the naive way; returns seconds per stage and the frame count.

    ``s``: model, weights (path or None), layer, octaves, octave_scale, steps, step_size,
    jitter, blend, device.
    """
    import av
    import cv2
    import numpy as np
    import torch
    import torch.nn.functional as F

    from dreamvideo.models import load_model  # only the network: the loop is below

    torch.manual_seed(0)
    device = torch.device(s["device"])
    model = load_model(s["model"], weights=s["weights"], device=device)
    layer = s["layer"]
    times = {"decode": 0.0, "flow": 0.0, "dream": 0.0, "encode": 0.0}
    rng = np.random.default_rng(0)

    def ascend(image: torch.Tensor) -> torch.Tensor:
        octaves = [image]
        for _ in range(s["octaves"] - 1):
            h, w = octaves[-1].shape[-2:]
            octaves.append(F.interpolate(octaves[-1], size=(round(h / s["octave_scale"]), round(w / s["octave_scale"])), mode="bilinear", align_corners=False))
        detail = torch.zeros_like(octaves[-1])
        x = image
        for base in reversed(octaves):
            detail = F.interpolate(detail, size=base.shape[-2:], mode="bilinear", align_corners=False)
            x = (base + detail).detach()
            for _ in range(s["steps"]):
                dy, dx = (int(v) for v in rng.integers(-s["jitter"], s["jitter"] + 1, size=2))
                rolled = torch.roll(x, (dy, dx), (2, 3)).requires_grad_(True)
                loss = model.activations(rolled, [layer])[layer].pow(2).mean()
                (grad,) = torch.autograd.grad(loss, rolled)
                grad = torch.roll(grad, (-dy, -dx), (2, 3))
                x = (x + s["step_size"] * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1).detach()
            detail = x - base
        return x

    frames = 0
    with av.open(clip) as source, av.open(out, "w") as sink:
        stream = source.streams.video[0]
        enc = sink.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        prev_grey = prev_detail = None
        decoded = source.decode(stream)
        while True:
            t = time.perf_counter()
            frame = next(decoded, None)
            if frame is None:
                break
            rgb = frame.to_ndarray(format="rgb24")
            times["decode"] += time.perf_counter() - t
            t = time.perf_counter()
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            source_t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255).to(device)
            init = source_t
            if prev_grey is not None:
                flow = cv2.calcOpticalFlowFarneback(grey, prev_grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
                h, w = grey.shape
                map_x = (np.arange(w, dtype=np.float32) + flow[..., 0]).astype(np.float32)
                map_y = (np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]).astype(np.float32)
                detail = prev_detail[0].permute(1, 2, 0).cpu().numpy()
                warped = cv2.remap(detail, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                init = (source_t + s["blend"] * torch.from_numpy(warped).permute(2, 0, 1)[None].to(device)).clamp(0, 1)
            times["flow"] += time.perf_counter() - t
            t = time.perf_counter()
            dreamed = ascend(init)
            prev_grey, prev_detail = grey, dreamed - source_t
            image = (dreamed[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()
            times["dream"] += time.perf_counter() - t
            t = time.perf_counter()
            for packet in enc.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                sink.mux(packet)
            times["encode"] += time.perf_counter() - t
            frames += 1
        for packet in enc.encode():
            sink.mux(packet)
    return {"frames": frames, "stage_times_s": {k: round(v, 3) for k, v in times.items()}}


# ---------------------------------------------------------------------------
# runs


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores"


def random_weights(model: str, tmp: Path) -> str | None:
    """A random state dict for a torchvision model whose weights are not cached, else None."""
    from dreamvideo.models import weights_status

    if weights_status(model).present:
        return None
    import torch
    import torchvision

    torch.manual_seed(0)
    builders = {"googlenet": lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)}
    if model not in builders:
        raise SystemExit(f"no weights for {model} and no random stand-in here")
    path = tmp / f"{model}-random.pth"
    if not path.exists():
        torch.save(builders[model]().state_dict(), path)
    return str(path)


def result_path(out: Path, kind: str, label: str) -> Path:
    """``out/<kind>-<label as a slug>-<UTC time>.json``: where a benchmark keeps its figures."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()[:50]
    return out / f"{kind}-{slug}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"


def timed(argv: list[str], env: dict) -> tuple[float, str, float]:
    """Run ``argv``: its wall time from launch to exit, its stdout, and its launch (Unix time)."""
    launch = time.time()
    t = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{run.stderr}")
    return wall, run.stdout, launch


def torch_import_time(env: dict, runs: int = 3) -> float:
    """Seconds from launching a fresh Python to ``import torch`` done (median of ``runs``): the
    start-up target is this plus 0.5 s."""

    def once() -> float:
        _, stdout, launch = timed([sys.executable, "-c", "import time, torch; print(time.time())"], env)
        return float(stdout) - launch

    return statistics.median(once() for _ in range(runs))


def cli_marking_first_dream(marks: str, argv: list[str]) -> int:
    """``dreamvideo argv`` (its own ``main``), writing to ``marks`` the Unix time at which the
    first frame's dream starts: the end of start-up (imports, checks, model load)."""
    from dreamvideo.cli import main
    from dreamvideo.dream import ascent

    dream = ascent.Dreamer.dream
    first = [True]

    def marked(self, *args, **kwargs):
        if first[0]:
            first[0] = False
            Path(marks).write_text(repr(time.time()))
        return dream(self, *args, **kwargs)

    ascent.Dreamer.dream = marked
    return main(argv)


def run_dreamvideo(clip: Path, tmp: Path, args: list[str], env: dict) -> dict:
    report, out, marks = tmp / "report.json", tmp / "out.mp4", tmp / "first-dream"
    marks.unlink(missing_ok=True)
    argv = [sys.executable, __file__, "--cli", str(marks), "dream", str(clip), str(out), *args, "--quiet", "--json-report", str(report)]
    wall, _, launch = timed(argv, env)
    data = json.loads(report.read_text())
    return {
        "frames": data["frames"],
        "wall_s": round(wall, 3),
        "frames_per_s": round(data["frames"] / wall, 3),
        # launch to the start of the first frame's dream: imports, argument checks, model load
        "startup_s": round(float(marks.read_text()) - launch, 3),
        "stage_times_s": data["stage_times_s"],
        "peak_memory_mb": data.get("peak_memory_mb", {}),  # host: the main process; device: CUDA
        "args": args,
    }


def run_naive(clip: Path, tmp: Path, settings: dict, env: dict) -> dict:
    argv = [sys.executable, __file__, "--naive", str(clip), str(tmp / "naive.mp4"), json.dumps(settings)]
    wall, stdout, _ = timed(argv, env)
    data = json.loads(stdout.strip().splitlines()[-1])
    return {
        "frames": data["frames"],
        "wall_s": round(wall, 3),
        "frames_per_s": round(data["frames"] / wall, 3),
        "stage_times_s": data["stage_times_s"],
        "settings": settings,
    }


def equal_args(n: dict) -> list[str]:
    """dreamvideo options that do the naive loop's work: classic pyramid, full steps every frame,
    full-scale Farneback, no gradient smoothing."""
    args = ["--model", n["model"], "--layers", n["layer"], "--pyramid", "classic", "--octaves", str(n["octaves"]),
            "--octave-scale", str(n["octave_scale"]), "--steps", str(n["steps"]), "--refine-steps", str(n["steps"]),
            "--step-size", str(n["step_size"]), "--jitter", str(n["jitter"]), "--smoothing", "0",
            "--flow", "farneback", "--flow-scale", "1", "--blend", str(n["blend"])]  # fmt: skip
    return args + (["--weights", n["weights"]] if n["weights"] else [])


def main() -> None:
    if sys.argv[1:2] == ["--cli"]:  # a timed dreamvideo run (run_dreamvideo)
        sys.exit(cli_marking_first_dream(sys.argv[2], sys.argv[3:]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few frames (the default without CUDA)")
    parser.add_argument("--full", action="store_true", help="the full set even without CUDA")
    parser.add_argument("--presets", help="comma-separated presets, or none (default: all; --quick: live, quick-preview, default)")
    parser.add_argument("--frames", type=int, help="frames per clip (default 48; --quick 12)")
    parser.add_argument("--sizes", help="comma-separated WxH for every preset (default: see above)")
    parser.add_argument("--ratio-frames", default=None, help="clip lengths for the naive-vs-equal ratio (default 48; --quick 24; none: no ratio)")
    parser.add_argument("--repeat", type=int, default=1, help="alternate naive/dreamvideo this many times (medians)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fast", help="--fast paths for every dreamvideo run (e.g. compile, cudnn,bf16)")
    parser.add_argument("--dream-args", default="", help="more dreamvideo options for the preset runs (e.g. '--flow none --frame-batch 1')")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--naive", nargs=3, metavar=("CLIP", "OUT", "SETTINGS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        print(json.dumps(naive_loop(args.naive[0], args.naive[1], json.loads(args.naive[2]))))
        return

    import torch

    from dreamvideo.config import list_presets, load_preset
    from presets import make_clip

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    args.quick = args.quick or (device == "cpu" and not args.full)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    frames = args.frames or (12 if args.quick else 48)
    names = [] if args.presets == "none" else args.presets.split(",") if args.presets else (QUICK_PRESETS if args.quick else sorted(list_presets()))
    fast = ["--fast", args.fast] if args.fast else []
    ratio_frames = [] if args.ratio_frames == "none" else [int(v) for v in (args.ratio_frames or ("24" if args.quick else "48")).split(",")]
    sizes_given = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")] if args.sizes else None
    result = {
        "device": device_name(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mode": "quick" if args.quick else "full",
        "fast": args.fast,
        "dream_args": args.dream_args,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_start": os.getloadavg(),
        "notes": [],
        "presets": [],
        "naive_comparisons": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = result_path(args.out, "speed", result["device"])

    def save() -> None:
        # after every run, so a run stopped at a time limit keeps what it measured
        path.write_text(json.dumps(result, indent=2) + "\n")

    result["torch_import_s"] = round(torch_import_time(env), 3)
    save()
    print(json.dumps({"torch_import_s": result["torch_import_s"]}), flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # presets, each at its sizes
        for name in names:
            dream = load_preset(name)["dream"]
            equirect = dream.get("projection") == "equirect"
            sizes = sizes_given or (([(640, 320)] if equirect else [(320, 180)]) if args.quick else ([EQUIRECT_SIZE] if equirect else FULL_SIZES))
            extra = ["--device", device, *fast, *shlex.split(args.dream_args)]
            model = str(dream.get("model", "efficientnet-lite0"))
            weights = random_weights(model, tmp)
            if weights:
                extra += ["--weights", weights]
                result["notes"].append(f"{name}: {model} timed with random weights (its file is not cached here)")
            for w, h in sizes:
                clip = make_clip(tmp / f"clip-{w}x{h}-{frames}-{equirect}.mp4", (w, h), frames, equirect)
                run = run_dreamvideo(clip, tmp, ["--preset", name, "--width", str(w), *extra], env)
                run.update(preset=name, size=f"{w}x{h}", random_weights=bool(weights))
                result["presets"].append(run)
                save()
                print(json.dumps(run), flush=True)
        # the naive loop against dreamvideo at equal settings (and, in full mode, against `film`)
        if args.quick:
            naive = {"model": "efficientnet-lite0", "layer": "blocks.10", "octaves": 2, "octave_scale": 1.4, "steps": 4,
                     "step_size": 0.02, "jitter": 32, "blend": 0.9, "size": (320, 180)}  # fmt: skip
        else:
            naive = {"model": "googlenet", "layer": "inception4c", "octaves": 4, "octave_scale": 1.4, "steps": 10,
                     "step_size": 0.02, "jitter": 32, "blend": 0.9, "size": (1920, 1080)}  # fmt: skip
        naive["weights"] = random_weights(naive["model"], tmp)
        naive["device"] = device
        size = naive.pop("size")
        for n in ratio_frames:
            clip = make_clip(tmp / f"ratio-{n}.mp4", size, n, False)
            pairs = {"naive": [], "dreamvideo_equal": [], "film": []}
            for _ in range(args.repeat):
                pairs["naive"].append(run_naive(clip, tmp, naive, env))
                pairs["dreamvideo_equal"].append(run_dreamvideo(clip, tmp, [*equal_args(naive), "--device", device, *fast], env))
                if not args.quick:
                    film = ["--preset", "film", "--width", str(size[0]), "--device", device, *fast]
                    pairs["film"].append(run_dreamvideo(clip, tmp, film, env))
            entry = {"frames": n, "size": f"{size[0]}x{size[1]}", "random_weights": bool(naive["weights"])}
            for key, runs in pairs.items():
                if runs:
                    entry[key] = runs[len(runs) // 2] if len(runs) == 1 else {
                        "frames_per_s_median": statistics.median(r["frames_per_s"] for r in runs),
                        "runs": runs,
                    }
            fps = lambda key: entry[key]["frames_per_s"] if "frames_per_s" in entry[key] else entry[key]["frames_per_s_median"]  # noqa: E731
            entry["ratio_equal_over_naive"] = round(fps("dreamvideo_equal") / fps("naive"), 3)
            startups = [r["startup_s"] for r in pairs["dreamvideo_equal"]]
            entry["startup_over_torch_import_s"] = round(statistics.median(startups) - result["torch_import_s"], 3)
            if "film" in entry:
                entry["ratio_film_over_naive"] = round(fps("film") / fps("naive"), 3)
            result["naive_comparisons"].append(entry)
            save()
            print(json.dumps({k: v for k, v in entry.items() if not isinstance(v, dict)} | {
                k: fps(k) for k in pairs if k in entry}), flush=True)  # fmt: skip
    result["load_average_at_end"] = os.getloadavg()
    save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
