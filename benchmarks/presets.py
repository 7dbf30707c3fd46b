"""Frames per second of presets, for their descriptions.

For each preset: make a real clip at the stated size (a pan across a sample
panorama, or for 360° presets the panorama turning), dream it with the preset
and print frames/s = frames / (wall time - model load), plus the stage times.
GoogLeNet's cost does not depend on its weights, so when torchvision's file is
not cached a random state dict stands in (the line says so).

Run: ``python benchmarks/presets.py [NAME[@WxH[:FRAMES]] ...]`` (default: the list below).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torchvision

from dreamvideo.config import DreamSettings, VideoSettings, build_settings, load_preset
from dreamvideo.models import weights_status
from dreamvideo.pipeline import dream_video

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["live@320x180:24", "film@640x360:6", "hallucination-machine@512x256:4"]


def make_clip(path: Path, size: tuple[int, int], frames: int, equirect: bool) -> Path:
    """A pan across samples/workshop.png (or, for 360°, the whole panorama turning), H.264."""
    pano = cv2.cvtColor(cv2.imread(str(ROOT / "samples" / "workshop.png")), cv2.COLOR_BGR2RGB)
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18"}
        if equirect:
            big = cv2.resize(pano, (w, h), interpolation=cv2.INTER_AREA)
        else:
            scale = h / 160  # a 160-row band of the panorama fills the frame height
            big = cv2.resize(pano, (round(pano.shape[1] * scale), round(pano.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
            top = (big.shape[0] - h) // 2
            big = np.concatenate([big, big], axis=1)[top : top + h]
        for i in range(frames):
            image = np.roll(big, -2 * i, axis=1)[:, :w] if not equirect else np.roll(big, -2 * i, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode())
    return path


def measure(name: str, size: tuple[int, int], frames: int, tmp: Path) -> dict:
    preset = load_preset(name)
    dream = build_settings(DreamSettings, preset=preset["dream"])
    video = build_settings(VideoSettings, preset=preset["video"])
    weights_note = "pretrained"
    if dream.weights is None and not weights_status(dream.model).present and dream.model == "googlenet":
        torch.manual_seed(0)
        state = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False).state_dict()
        torch.save(state, tmp / "googlenet-random.pth")
        dream = dataclasses.replace(dream, weights=str(tmp / "googlenet-random.pth"))
        weights_note = "random (cost only)"
    equirect = dream.projection == "equirect"
    clip = make_clip(tmp / f"{name}.mp4", size, frames, equirect)
    # the preset's own width/size wins, as it would on the command line without --width
    video = dataclasses.replace(video, quiet=True)
    cpu = time.process_time()
    report = dream_video(str(clip), str(tmp / f"{name}-out.mp4"), dream, video)
    cpu = time.process_time() - cpu  # every thread of this process (on the CPU the flow runs in it too)
    work = report.wall_time - report.stage_times.get("model_load", 0.0)
    with av.open(str(tmp / f"{name}-out.mp4")) as c:
        out_size = (c.streams.video[0].width, c.streams.video[0].height)
    return {
        "preset": name,
        "size": f"{out_size[0]}x{out_size[1]}",
        "frames": report.frames,
        "frames_per_s": round(report.frames / work, 3),
        "s_per_frame": round(work / report.frames, 2),
        # CPU seconds a frame (model load included): what a loaded, shared machine still measures
        # fairly; on free cores the wall time is about this over the cores torch uses.
        "cpu_s_per_frame": round(cpu / report.frames, 2),
        "weights": weights_note,
        "stage_times_s": {k: round(v, 2) for k, v in report.stage_times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", default=DEFAULT, metavar="NAME[@WxH[:FRAMES]]")
    args = parser.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    )
    print(f"machine: {machine}")
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            name, _, rest = run.partition("@")
            size_text, _, count = (rest or "320x180").partition(":")
            w, h = (int(v) for v in size_text.lower().split("x"))
            print(json.dumps(measure(name, (w, h), int(count or 8), Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
