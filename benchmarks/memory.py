"""Host memory of a `dreamvideo dream` run: peak RSS, and whether it grows with the clip's length.

Runs ``python -m dreamvideo dream`` on a generated pan (``presets.make_clip``) and samples the
resident set of the process and of its children (the flow workers, their fork server) from
/proc every 0.2 s. Prints the peak of the main process, of the whole tree, and the tree's RSS
at each quarter of the run: a flat second half means memory does not grow with the clip.

    python benchmarks/memory.py --size 1280x720 --frames 12          # peak on 720p input
    python benchmarks/memory.py --size 160x90 --frames 600 --preset live   # growth over a longer clip

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(c) for t in Path(f"/proc/{p}/task").iterdir() for c in (t / "children").read_text().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--preset", default="default")
    parser.add_argument("extra", nargs="*", help="more dream options (after --)")
    args = parser.parse_args()
    from presets import make_clip

    w, h = (int(v) for v in args.size.split("x"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", (w, h), args.frames, False)
        argv = [sys.executable, "-m", "dreamvideo", "dream", str(clip), str(Path(tmp) / "out.mp4"),
                "--preset", args.preset, "--width", str(w), "--quiet", *args.extra]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, int, int]] = []
        while proc.poll() is None:
            main_kib = rss_kib(proc.pid)
            tree = main_kib + sum(rss_kib(c) for c in children(proc.pid))
            samples.append((time.perf_counter() - started, main_kib, tree))
            time.sleep(0.2)
        err = proc.stderr.read()
        if proc.returncode != 0:
            raise SystemExit(err)
    wall = time.perf_counter() - started
    quarters = [max((s[2] for s in samples if s[0] <= wall * q / 4), default=0) // 1024 for q in (1, 2, 3, 4)]
    print(json.dumps({
        "size": args.size, "frames": args.frames, "preset": args.preset, "wall_s": round(wall, 1),
        "peak_rss_main_mib": max(s[1] for s in samples) // 1024,
        "peak_rss_tree_mib": max(s[2] for s in samples) // 1024,
        "peak_rss_tree_by_quarter_mib": quarters,
        "load_average": os.getloadavg(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
