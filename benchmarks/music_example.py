"""Make the README's music example: a clip dreamed to its own soundtrack, and the picture of its
music features beside the measured strength of each dreamed frame (docs/music-example.png).

The clip is a camera turning over the workshop panorama (224x126, 30 fps, 4 s) with a
generated drum track at 120 bpm; it is dreamed with ``--preset music`` and measured with
``dreamvideo music clip.mp4 --plot ... --dreamed ...``.

Run: ``python benchmarks/music_example.py [--out docs/music-example.png] [--seconds 4]``
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from tests.clips import panorama, view  # noqa: E402
from tests.music.tracks import beat_times, drum_track, write_video_with_audio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "docs" / "music-example.png"))
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    rate = Fraction(30)
    count = int(args.seconds * rate)
    pano = panorama("workshop")
    frames = [view(pano, -30 + 0.6 * i, 3 * math.sin(i / 15), size=(224, 126)) for i in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        clip, dreamed = Path(folder) / "clip.mp4", Path(folder) / "dreamed.mp4"
        write_video_with_audio(clip, frames, drum_track(beat_times(120, args.seconds + 0.3), args.seconds + 0.3), fps=rate)
        run = [sys.executable, "-m", "dreamvideo"]
        subprocess.run([*run, "dream", str(clip), str(dreamed), "--preset", "music", "--crf", "12", "--quiet"], check=True)
        subprocess.run([*run, "music", str(clip), "--plot", args.out, "--dreamed", str(dreamed)], check=True)


if __name__ == "__main__":
    main()
