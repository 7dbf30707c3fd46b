"""Frame-range renders into a PNG sequence (``render``), and the sequence back into a film (``assemble``).

    DIR/frame_%06d.png                 one per frame, 0-based source index, written atomically
    DIR/preroll_A/frame_%06d.png       the pre-roll dreamed before frame A (the K frames before it)
    DIR/render.json                    the sidecar: the source (identity, facts), frame size, bit depth, settings

``render`` is the staged runner of ``pipeline.py`` with a PNG-sequence sink.
A range A-B is dreamed from A−K (the pre-roll), so the dream entering frame A
is warmed up and carried along the flow like in a sequential run. Its pattern is
not the one the previous chunk carries, though: two runs of the dream never
converge to one pattern (measured: the difference from a sequential run does
not shrink over 20 pre-roll frames), so ``assemble`` cross-fades the previous
chunk's last K frames into the pre-roll's dreams of the same frames; the join
is spread over K frames instead of showing as a pop.

Rerunning skips complete frames: each run of missing frames is rendered with
its own pre-roll (and lead-in). Each frame's random numbers come from (seed,
frame index), so chunking never changes them and a chunk rendered twice gives
the same pixels on the CPU. The sidecar holds nothing about the range, so
chunks rendering into one DIR at the same time write the same sidecar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .config import DreamSettings, FrameRange, VideoSettings
from .errors import ConfigError, MediaError
from .io import (
    check_input_file,
    check_output_path,
    check_video_input,
    check_video_output,
    check_writable_folder,
    is_stream,
    open_video,
    open_writer,
)
from .io.atomic import write_atomically
from .io.sequence import frame_indices, frame_path, is_complete, read_frame
from .io.spherical import spherical_for
from .layout import Layout, check_aspect, resolve_layout

__all__ = [
    "DEFAULT_PREROLL",
    "SIDECAR",
    "RenderResult",
    "assemble",
    "assembled_frames",
    "format_indices",
    "missing_frames",
    "prepare_render",
    "read_sidecar",
    "render_frames",
]

DEFAULT_PREROLL = 8
SIDECAR = "render.json"
LEAD_PATTERN = "preroll_{:06d}"  # DIR/preroll_A/frame_%06d.png: the pre-roll dreamed before frame A
_LEAD_NAME = re.compile(r"preroll_(\d{6,})")
SIDECAR_VERSION = 1
# Settings that do not change a frame's pixels: not compared between renders into one DIR.
_DREAM_NOT_COMPARED = {"device"}
_VIDEO_COMPARED = ("width", "size", "flow", "flow_scale", "blend", "refine_steps")
_HEAD_BYTES = 1 << 20  # the source is known by its size and the hash of its first MiB


@dataclass
class RenderResult:
    """What a render did: frames written, frames found complete, pre-roll frames dreamed, seconds."""

    folder: Path
    frames: list[FrameRange]
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    preroll_frames: int = 0
    wall_time: float = 0.0


# ---------------------------------------------------------------------------
# render


def render_frames(
    source: str,
    folder: str | os.PathLike,
    frames: FrameRange | list[FrameRange],
    dream: DreamSettings,
    video: VideoSettings,
    *,
    preroll: int = DEFAULT_PREROLL,
    bit_depth: int = 8,
    force: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> RenderResult:
    """Render ``frames`` of ``source`` into ``folder`` as ``frame_%06d.png``, resuming a partial render.

    ``frames``: a range or non-overlapping ranges (``video.frames`` is ignored). ``force`` renders into a
    folder made from another source or with other settings (or with frames and no sidecar):
    its frames and pre-rolls are removed first and the sidecar replaced.

    Raises:
        ConfigError: bad pre-roll or bit depth; the folder holds another render (without ``force``).
        MediaError: unreadable source, a range beyond the clip, an unusable folder.
        ModelError: bad model or layer.
    """
    from .pipeline import RunReport, run_frames  # the runner (and torch) only once the checks pass
    from .sinks import PngSequenceSink
    from .panorama.projection import dreamer_for

    ranges = [frames] if isinstance(frames, FrameRange) else list(frames)
    if preroll < 0:
        raise ConfigError("--preroll must not be negative")
    started = time.perf_counter()
    folder, wanted, replace = prepare_render(source, folder, ranges, dream, video, bit_depth=bit_depth, force=force)

    result = RenderResult(folder, ranges)
    done = set() if replace else {i for i in wanted if is_complete(frame_path(folder, i))}
    result.skipped = sorted(done)
    to_write = {i for i in wanted if i not in done}
    segments = _segments(sorted(to_write))
    if segments:
        layout = Layout(**read_sidecar(folder)["layout"])
        dreamer = dreamer_for(dream, layout)
        total = sum(end - max(0, start - preroll) + 1 for start, end in segments)
        dreamed = 0
        for start, end in segments:
            report = RunReport(source, str(folder))
            decode = FrameRange(max(0, start - preroll), end)
            with open_video(source, frames=decode, size=video.frame_size, width=video.width) as reader:
                sink = PngSequenceSink(folder, bit_depth=bit_depth, times=report.stage_times)
                lead = None
                if decode.start < start:  # the pre-roll's dreams: the cross-fade into this run at assembly
                    lead_folder = folder / LEAD_PATTERN.format(start)
                    lead_folder.mkdir(exist_ok=True)
                    lead = PngSequenceSink(lead_folder, bit_depth=bit_depth, times=report.stage_times)
                base = dreamed

                def step(n: int, _total: int | None, base: int = base) -> None:
                    if progress is not None:
                        progress(base + n, total)

                run_frames(
                    reader, sink, dreamer, video, report=report, write_from=start, preroll_sink=lead, stereo=layout.stereo,
                    progress=step if progress is not None else None,
                )
            dreamed += report.frames + report.preroll_frames
            result.written += sink.written
            result.preroll_frames += report.preroll_frames
    result.wall_time = time.perf_counter() - started
    return result


def prepare_render(
    source: str,
    folder: str | os.PathLike,
    ranges: list[FrameRange],
    dream: DreamSettings,
    video: VideoSettings,
    *,
    bit_depth: int = 8,
    force: bool = False,
) -> tuple[Path, list[int], bool]:
    """Check a render before any dreaming; create ``folder`` and write its sidecar.

    Returns the folder, the wanted frame indices, and whether the folder's frames are
    to be replaced (``force`` over another source or other settings).

    Raises:
        ConfigError, MediaError: as ``render_frames``.
    """
    if bit_depth not in (8, 16):
        raise ConfigError("--bit-depth must be 8 or 16")
    if is_stream(source):
        raise ConfigError("render needs a file: a pipe or URL cannot be split into frame ranges")
    check_video_input(source)
    wanted = sorted({i for r in ranges for i in range(r.start, r.end + 1)})
    if len(wanted) != sum(len(r) for r in ranges):
        raise ConfigError(f"frame ranges {', '.join(map(str, ranges))} overlap", hint="give each frame once")
    span = FrameRange(wanted[0], wanted[-1])
    folder = _check_folder(folder)

    with open_video(source, frames=span, size=video.frame_size, width=video.width) as reader:
        # 360°: as in `dream`, `auto` follows the input's metadata; assemble writes the layout's.
        layout = resolve_layout(dream, reader.info.spherical, name=source)
        check_aspect(reader.output_size, layout, strict=dream.strict, name=source)
        sidecar = _sidecar(source, reader, dream, video, bit_depth, layout)
    folder.mkdir(exist_ok=True)
    existing = read_sidecar(folder, missing_ok=True)
    replace = False
    if existing is None and frame_indices(folder) and not force:
        raise ConfigError(
            f"{folder} holds frames but no {SIDECAR}: they are not known to be of this source and settings",
            hint="render into an empty folder, or give --force to replace the frames of this range",
        )
    if existing is not None:
        differences = _differences(existing, sidecar)
        if differences and not force:
            raise ConfigError(
                f"{folder} holds a render of {_what(differences)}: {', '.join(differences)} differ",
                hint="render into another folder, or give --force to replace it",
            )
        replace = bool(differences)
    elif force:
        replace = True
    if replace:
        _clear(folder)  # the old render's frames must not be assembled with the new ones
    if existing != sidecar:
        write_atomically(folder / SIDECAR, json.dumps(sidecar, indent=2, sort_keys=True) + "\n")

    return folder, wanted, replace


def _clear(folder: Path) -> None:
    """Remove the frames and pre-rolls of an earlier render (``--force``)."""
    for index in frame_indices(folder):
        frame_path(folder, index).unlink(missing_ok=True)
    for entry in os.scandir(folder):
        if _LEAD_NAME.fullmatch(entry.name) and entry.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)


def _check_folder(folder: str | os.PathLike) -> Path:
    """The output folder, checked (created if missing, a file made in it) before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MediaError(f"--out {folder} is a file, not a folder")
    return check_writable_folder(folder)


def _segments(missing: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive indices: ``[3, 4, 5, 9]`` → ``[(3, 5), (9, 9)]``."""
    runs: list[list[int]] = []
    for i in missing:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs]


# ---------------------------------------------------------------------------
# the sidecar


def _fingerprint(path: str) -> dict:
    p = Path(path)
    with open(p, "rb") as f:
        head = hashlib.sha256(f.read(_HEAD_BYTES)).hexdigest()
    return {"bytes": p.stat().st_size, "sha256_head": head}


def _sidecar(source: str, reader, dream: DreamSettings, video: VideoSettings, bit_depth: int, layout: Layout) -> dict:
    info = reader.info
    return {
        "dreamvideo_render": SIDECAR_VERSION,
        "source": {
            "path": str(Path(source).resolve()),
            **_fingerprint(source),
            "width": info.width,
            "height": info.height,
            "rate": str(info.rate),
            "time_base": str(info.time_base),
            "frame_count": info.frame_count,
            "duration": info.duration,
            "codec": info.codec,
            "audio_streams": info.audio_streams,
            "metadata": dict(info.metadata),
        },
        "frame_size": list(reader.output_size),
        "bit_depth": bit_depth,
        "settings": {
            "dream": {k: v for k, v in dataclasses.asdict(dream).items() if k not in _DREAM_NOT_COMPARED},
            "video": {k: getattr(video, k) for k in _VIDEO_COMPARED},
        },
        "layout": {"projection": layout.projection, "stereo": layout.stereo},
        "encode": {"codec": video.codec, "crf": video.crf, "audio": video.audio},
    }


def _differences(old: dict, new: dict) -> list[str]:
    """Names of what differs between two sidecars (the source path and the encode options do not count)."""
    out = []
    if old.get("dreamvideo_render") != new.get("dreamvideo_render"):
        return ["sidecar version"]
    for key, value in new["source"].items():
        if key != "path" and old["source"].get(key) != value:
            out.append(f"source {key}")
    for key in ("frame_size", "bit_depth", "layout"):
        if old.get(key) != new[key]:
            out.append(key.replace("_", " "))
    for table in ("dream", "video"):
        old_table = old.get("settings", {}).get(table, {})
        for key in sorted(set(old_table) | set(new["settings"][table])):
            if old_table.get(key) != new["settings"][table].get(key):
                out.append(f"--{key.replace('_', '-')}")
    return out


def _what(differences: list[str]) -> str:
    return "another source" if any(d.startswith("source ") for d in differences) else "other settings"


def read_sidecar(folder: str | os.PathLike, *, missing_ok: bool = False) -> dict | None:
    """The render sidecar of ``folder``.

    Raises:
        MediaError: no sidecar (unless ``missing_ok``) or an unreadable one.
    """
    path = Path(folder) / SIDECAR
    if not Path(folder).is_dir():
        raise MediaError(f"no such folder: {folder}")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if missing_ok:
            return None
        raise MediaError(f"{folder} holds no render: {SIDECAR} is missing", hint="render into it first") from None
    except (OSError, ValueError) as e:
        raise MediaError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or "dreamvideo_render" not in data:
        raise MediaError(f"{path} is not a dreamvideo render sidecar")
    return data


# ---------------------------------------------------------------------------
# assemble


def missing_frames(folder: str | os.PathLike, frames: FrameRange) -> list[int]:
    """Indices in ``frames`` without a complete file in ``folder``."""
    return [i for i in range(frames.start, frames.end + 1) if not is_complete(frame_path(folder, i))]


def format_indices(indices: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3-5, 9"``."""
    runs = _segments(indices)
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def assemble(
    folder: str | os.PathLike,
    output: str,
    *,
    source: str | None = None,
    frames: FrameRange | None = None,
    codec: str | None = None,
    crf: int | None = None,
) -> int:
    """Encode the frames of ``folder`` into ``output`` at the source's rate and timestamps, with its audio.

    ``frames``: the span to assemble (default: from the first to the last frame file
    present). The audio (the source's, or the render's ``--audio``) is cut to the span;
    the source's metadata and the render's 360° layout are written.
    Returns the number of frames encoded.

    Raises:
        MediaError: no sidecar, a missing or different source, missing or cut-short frames
            (all listed), an unwritable output.
    """
    folder = Path(folder)
    sidecar = read_sidecar(folder)
    given = source is not None
    source = source if given else sidecar["source"]["path"]
    if not Path(source).is_file():
        raise MediaError(
            f"the source {source} is missing",
            hint="give it with --source" if not given else "check the path",
        )
    check_input_file(source)
    if _fingerprint(source) != {k: sidecar["source"][k] for k in ("bytes", "sha256_head")}:
        raise MediaError(f"{source} is not the source these frames were rendered from")
    check_output_path(source, output)
    if frames is None:
        present = frame_indices(folder)
        if not present:
            raise MediaError(f"{folder} holds no frames")
        frames = FrameRange(present[0], present[-1])
    missing = missing_frames(folder, frames)
    if missing:
        raise MediaError(
            f"{len(missing)} of the {len(frames)} frames {frames} are missing or cut short in {folder}: "
            f"{format_indices(missing)}",
            hint="render them again (a rerun of render resumes)",
        )

    src = sidecar["source"]
    rate, time_base = Fraction(src["rate"]), Fraction(src["time_base"])
    encode = sidecar.get("encode", {})
    codec = codec or encode.get("codec") or "h264"
    crf = crf if crf is not None else encode.get("crf")
    check_video_output(output, codec, crf)
    # --audio: a soundtrack on its own clock, cut from the time since the input's frame 0.
    soundtrack = encode.get("audio")
    if soundtrack is not None:
        check_input_file(soundtrack)

    def audio_time(frame, index: int) -> float:
        if soundtrack is None and frame.time is not None:
            return frame.time
        return index / float(rate)

    layout = sidecar.get("layout")
    spherical = spherical_for(layout["projection"], layout["stereo"]) if layout else None
    writer = None
    try:
        for frame, image in assembled_frames(folder, frames):
            if writer is None:
                first = frame
                height, width = image.shape[:2]
                start_time = audio_time(first, frames.start)
                writer = open_writer(
                    output,
                    width=width,
                    height=height,
                    rate=rate,
                    time_base=time_base,
                    codec=codec,
                    crf=crf,
                    audio_from=soundtrack or source,
                    audio_span=(start_time, None),
                    metadata=src.get("metadata") or {},
                    spherical=spherical,
                )
            if image.shape[:2] != (height, width):
                raise MediaError(
                    f"frame {frame.index} in {folder} is {image.shape[1]}x{image.shape[0]}, "
                    f"not {width}x{height} like frame {frames.start}"
                )
            pts = None if frame.pts is None or first.pts is None else frame.pts - first.pts
            writer.write(image, pts)
            last = frame
        end_time = audio_time(last, frames.end)
        writer.set_audio_span(start_time, end_time + 1 / float(rate))
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()  # an existing output stays as it was
        raise
    return len(frames)


def _lead_ins(folder: Path) -> dict[int, list[int]]:
    """Pre-roll folders: the frame A they lead into → the indices of their complete frames."""
    leads = {}
    for entry in os.scandir(folder):
        m = _LEAD_NAME.fullmatch(entry.name)
        if m and entry.is_dir():
            leads[int(m[1])] = [i for i in frame_indices(entry.path) if is_complete(frame_path(entry.path, i))]
    return leads


def assembled_frames(folder: str | os.PathLike, frames: FrameRange):
    """The film's frames, ``(SequenceFrame, uint8 (H, W, 3) RGB)``, joins cross-faded.

    Where a run of frames (a chunk) was rendered with a pre-roll, the frames before
    its first one fade from the previous chunk's dream into the pre-roll's: the weight
    of the pre-roll rises linearly to its last frame, and the chunk continues that
    dream. (Two runs of the dream never converge to one pattern, whatever the
    pre-roll; without the fade a join shows as a pop.)

    Raises:
        MediaError: a frame cannot be read.
    """
    folder = Path(folder)
    fades: dict[int, list[tuple[Path, float]]] = {}
    for start, indices in _lead_ins(folder).items():
        run = [i for i in indices if i < start]
        if not run or run != list(range(run[0], start)):
            continue  # no whole pre-roll right before the run it leads into
        for j, i in enumerate(run):
            fades.setdefault(i, []).append((folder / LEAD_PATTERN.format(start), (j + 1) / (len(run) + 1)))
    for index in range(frames.start, frames.end + 1):
        frame = read_frame(folder, index)
        image = frame.image
        if index in fades:
            top = float(np.iinfo(image.dtype).max)
            mixed = image.astype(np.float32) / top
            for lead_folder, weight in sorted(fades[index], key=lambda f: f[0].name):
                lead = read_frame(lead_folder, index).image
                mixed = (1 - weight) * mixed + weight * (lead.astype(np.float32) / float(np.iinfo(lead.dtype).max))
            yield frame, (np.clip(mixed, 0, 1) * 255 + 0.5).astype(np.uint8)
        else:
            yield frame, image if image.dtype == np.uint8 else _to_8bit(image)


def _to_8bit(image: np.ndarray) -> np.ndarray:
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
