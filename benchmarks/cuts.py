"""The figures behind the scene-cut threshold (``dreamvideo.temporal.cuts.MAX_EXPLAINED``).

Frame pairs from real pictures, within a shot and across cuts: views along paths
over the two sample panoramas (pans of 0.5-12 degrees a frame, zooms, tilts), the
test clips of ``tests/clips.py`` (camera path, whip pan, occluder, cross-fade) and
fades to black; crops of four scikit-image photos panned by 12 and 20 px and
zoomed by 1.1. Cuts: views of one panorama 60-200 degrees apart, crops of one
photo far apart, crops of two photos, the similar-palette cut. Each pair raw and
JPEG-compressed at quality 50, with Farneback and DIS flow at half size, as the
pipeline computes it. Prints the explained fraction's lowest values within a shot
and highest across cuts, and whether the threshold separates them.

Run: ``python benchmarks/cuts.py [--json]``. Rerun it with every OpenCV the
project claims (``make test-floors`` installs the oldest) when the check changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.clips, when run as a script

from dreamvideo.temporal.cuts import MAX_EXPLAINED, cut_evidence  # noqa: E402
from dreamvideo.temporal.flow import flow_pair  # noqa: E402
from dreamvideo.temporal.occlusion import consistency_mask  # noqa: E402
from tests.clips import camera_path, crossfade, fast_pan, occluder, panorama, similar_cut, view  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def crop(image: np.ndarray, x: int, y: int, size: int = 128, zoom: float = 1.0) -> np.ndarray:
    """A ``size`` square of ``image`` at ``(x, y)``, magnified ``zoom`` times about its centre."""
    side = round(size / zoom)
    offset = (size - side) // 2
    patch = image[y + offset : y + offset + side, x + offset : x + offset + side]
    return np.ascontiguousarray(patch) if side == size else cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def jpeg(frame: np.ndarray, quality: int = 50) -> np.ndarray:
    """``frame`` through a JPEG round trip."""
    _, buffer = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def frame_pairs() -> tuple[list, list]:
    """``(within, cuts)``: lists of ``(name, prev, cur)``, uint8 RGB frames."""
    within, cuts = [], []
    for name in ("workshop", "lab"):
        pano = panorama(name)
        for step in (0.5, 1.5, 3, 6, 9, 12):
            for yaw in (0, 90, 200, 290):
                within.append((f"{name} pan {step} deg @{yaw}", view(pano, yaw, 2.0), view(pano, yaw + step, 2.0 + 0.3 * step)))
        for yaw in (30, 150, 250):
            within.append((f"{name} zoom @{yaw}", view(pano, yaw, fov=75), view(pano, yaw, fov=68)))
            within.append((f"{name} tilt 4 deg @{yaw}", view(pano, yaw, 0), view(pano, yaw, 4)))
            for apart in (60, 90, 107, 150, 200):
                cuts.append((f"{name} views {apart} deg apart @{yaw}", view(pano, yaw), view(pano, yaw + apart)))
    for make in (camera_path, fast_pan, occluder, crossfade):
        frames = make().frames
        within += [(f"{make.__name__} {i}", frames[i - 1], frames[i]) for i in range(1, len(frames))]
    faded = [(frame * (1 - i / 8)).astype(np.uint8) for i, frame in enumerate(camera_path(9).frames)]
    within += [(f"fade to black {i}", faded[i - 1], faded[i]) for i in range(1, len(faded))]
    clip = similar_cut()
    cuts.append(("similar-palette cut", clip.frames[clip.cut - 1], clip.frames[clip.cut]))
    photos = {name: getattr(data, name)() for name in PHOTOS}
    for name, image in photos.items():
        h, w = image.shape[:2]
        x, y = int(w * 0.3), int(h * 0.3)
        for shift in (12, 20):
            within.append((f"{name} pan {shift} px", crop(image, x, y), crop(image, x + shift, y + shift // 3)))
        within.append((f"{name} zoom 1.1", crop(image, x, y), crop(image, x, y, zoom=1.1)))
        cuts.append((f"{name} crops far apart", crop(image, w // 10, h // 10), crop(image, w // 2, h // 2)))
    for a, b in zip(PHOTOS, PHOTOS[1:] + PHOTOS[:1]):
        A, B = photos[a], photos[b]
        cuts.append((f"{a} to {b}", crop(A, A.shape[1] // 3, A.shape[0] // 3), crop(B, B.shape[1] // 3, B.shape[0] // 4)))
    compressed = lambda pairs: [(f"{n}, JPEG 50", jpeg(a), jpeg(b)) for n, a, b in pairs]  # noqa: E731
    return within + compressed(within), cuts + compressed(cuts)


def measure(pairs: list) -> list[dict]:
    """Each pair's evidence with Farneback and DIS flow at half size."""
    rows = []
    for name, prev, cur in pairs:
        for method in ("farneback", "dis"):
            flow_cur_to_prev, flow_prev_to_cur = flow_pair(prev, cur, method=method, scale=0.5)
            evidence = cut_evidence(prev, cur, flow_cur_to_prev, consistency_mask(flow_cur_to_prev, flow_prev_to_cur))
            rows.append({"pair": name, "flow": method, "explained": evidence.explained,
                         "flow_explained": evidence.flow_explained, "shift_explained": evidence.shift_explained})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    within_pairs, cut_pairs = frame_pairs()
    within, cuts = measure(within_pairs), measure(cut_pairs)
    lowest = sorted(within, key=lambda r: r["explained"])[:5]
    highest = sorted(cuts, key=lambda r: -r["explained"])[:5]
    separated = lowest[0]["explained"] >= MAX_EXPLAINED > highest[0]["explained"]
    if args.json:
        print(json.dumps({"opencv": cv2.__version__, "max_explained": MAX_EXPLAINED, "within": within,
                          "cuts": cuts, "separated": separated}, indent=1))
        return
    print(f"OpenCV {cv2.__version__}: {len(within)} pairs within a shot, {len(cuts)} across cuts "
          f"(explained fraction; a cut below {MAX_EXPLAINED})")
    for title, rows in (("lowest within a shot", lowest), ("highest across a cut", highest)):
        print(title)
        for r in rows:
            print(f"  {r['explained']:.3f}  {r['pair']} ({r['flow']}; flow {r['flow_explained']:.2f}, "
                  f"shift {r['shift_explained']:.2f})")
    print("the threshold separates them" if separated else "THE THRESHOLD DOES NOT SEPARATE THEM")
    sys.exit(0 if separated else 1)


if __name__ == "__main__":
    main()
