"""Frame-range renders into a PNG sequence (``render``), and the sequence back into a film (``assemble``).

    DIR/frame_%06d.png                 one per frame, 0-based source index, written atomically
    DIR/preroll_A/frame_%06d.png       the pre-roll dreamed before frame A (the K frames before it)
    DIR/unjoined/frame_%06d.png        a chunk's own dream of a frame that ``assemble`` replaced by the join
    DIR/chunks/A-B.json                one per run (chunk) rendered into DIR: its frames and pre-roll
    DIR/render.json                    the sidecar: the source (identity, facts), frame size, bit depth, settings

``render`` is the staged runner of ``pipeline.py`` with a PNG-sequence sink.
A range A-B is dreamed from A−K (the pre-roll), so the dream entering frame A
is warmed up and carried along the flow like in a sequential run. Its pattern is
not the one the previous chunk carries, though: two runs of the dream never
converge to one pattern (measured: the difference from a sequential run does
not shrink over 20 pre-roll frames), so ``assemble`` cross-fades the previous
chunk's last K frames into the pre-roll's dreams of the same frames; the join
is spread over K frames instead of showing as a pop. ``assemble`` writes the
joined frames back into DIR (the chunk's own dreams of them move to
``unjoined/``), or a final sequence into another folder, so the PNG sequence
carries the film's pixels.

Rerunning skips complete frames. A run (the frames given, contiguous ranges
merged) with frames missing is dreamed again from its pre-roll, exactly as the
first time, and only the missing frames are written: each frame's random numbers
come from (seed, frame index) and the temporal state from the frames before it,
so a resumed frame is the frame the first run wrote (bit-identical on the CPU).
The sidecar holds nothing about the range, so chunks rendering into one DIR at
the same time write the same sidecar; each run records itself in ``chunks/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

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
from .io.sequence import SequenceFrame, frame_indices, frame_path, index_runs, is_complete, read_frame, write_frame
from .io.spherical import spherical_for
from .layout import Layout, check_aspect, resolve_layout

if TYPE_CHECKING:
    from .pipeline import Progress

__all__ = [
    "Assembled",
    "DEFAULT_PREROLL",
    "SIDECAR",
    "RenderResult",
    "assemble",
    "assembled_frames",
    "finalize_frames",
    "format_indices",
    "missing_frames",
    "prepare_render",
    "read_chunks",
    "read_sidecar",
    "record_chunks",
    "render_frames",
]

DEFAULT_PREROLL = 8
SIDECAR = "render.json"
LEAD_PATTERN = "preroll_{:06d}"  # DIR/preroll_A/frame_%06d.png: the pre-roll dreamed before frame A
_LEAD_NAME = re.compile(r"preroll_(\d{6,})")
UNJOINED = "unjoined"  # DIR/unjoined/frame_%06d.png: a chunk's own dream of a frame the join replaced
CHUNKS = "chunks"  # DIR/chunks/A-B.json: the runs rendered into DIR (what `farm status` reads)
_CHUNK_NAME = re.compile(r"(\d+)-(\d+)\.json")
SIDECAR_VERSION = 1
# Settings that do not change a frame's pixels: not compared between renders into one DIR.
_DREAM_NOT_COMPARED = {"device"}
_VIDEO_COMPARED = ("width", "size", "flow", "flow_scale", "blend", "refine_steps")
_HEAD_BYTES = 1 << 20  # the source is known by its size and the hash of its first MiB


@dataclass
class RenderResult:
    """What a render did: frames written, frames found complete, pre-roll frames dreamed, scene cuts, seconds."""

    folder: Path
    frames: list[FrameRange]
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    preroll_frames: int = 0
    cuts: list[int] = field(default_factory=list)
    wall_time: float = 0.0


@dataclass
class Assembled:
    """What ``assemble`` did: frames encoded, the folder of the final PNG sequence, the frames written there."""

    frames: int
    final_folder: Path
    written: list[int]


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
    progress: Progress | None = None,
) -> RenderResult:
    """Render ``frames`` of ``source`` into ``folder`` as ``frame_%06d.png``, resuming a partial render.

    ``frames``: a range or non-overlapping ranges (``video.frames`` is ignored); contiguous
    ranges are one run, each run dreamed from ``preroll`` frames before its first. A run with
    frames missing is dreamed again from there, up to its last missing frame, and only the
    missing frames (and pre-roll frames) are written: they equal what the first run wrote.
    ``force`` renders into a folder made from another source or with other settings (or
    with frames and no sidecar): its frames and pre-rolls are removed first and the sidecar
    replaced. ``progress``: where the frames dreamed are counted (default: a bar or a line
    on stderr, pre-roll and frames apart, unless ``video.quiet``).

    Raises:
        ConfigError: bad pre-roll or bit depth; the folder holds another render (without ``force``).
        MediaError: unreadable source, a range beyond the clip, an unusable folder.
        ModelError: bad model or layer.
    """
    from .pipeline import Progress, RunReport, run_frames  # the runner (and torch) only once the checks pass
    from .sinks import PngSequenceSink
    from .panorama.projection import dreamer_for
    from .timeline import Timeline

    ranges = [frames] if isinstance(frames, FrameRange) else list(frames)
    if preroll < 0:
        raise ConfigError("--preroll must not be negative")
    started = time.perf_counter()
    folder, wanted, replace = prepare_render(source, folder, ranges, dream, video, bit_depth=bit_depth, force=force)

    result = RenderResult(folder, ranges)
    done = set() if replace else {i for i in wanted if is_complete(frame_path(folder, i))}
    result.skipped = sorted(done)
    runs = [FrameRange(a, b) for a, b in index_runs(wanted)]
    # A missing frame is dreamed again as the chunk that first held it dreamed it (its start and
    # pre-roll, from chunks/), whatever ranges this command gives; else as part of this run.
    recorded = {} if replace else _recorded_chunks(folder)
    record_chunks(folder, [r for r in runs if not any(_overlap(r, c) for c in recorded)], preroll=preroll)
    owners: dict[tuple[FrameRange, int], set[int]] = {}
    for run in runs:
        for i in range(run.start, run.end + 1):
            if i not in done:
                owner = max((c for c in recorded if c.start <= i <= c.end), key=lambda c: c.start, default=None)
                key = (owner, recorded[owner]) if owner is not None else (run, preroll)
                owners.setdefault(key, set()).add(i)
    # Each chunk with a frame missing: dreamed from its pre-roll up to its last missing frame.
    todo = [
        (run, FrameRange(max(0, run.start - lead), max(missing)), missing)
        for (run, lead), missing in sorted(owners.items(), key=lambda item: item[0][0].start)
    ]
    if not todo:
        result.wall_time = time.perf_counter() - started
        return result

    layout = Layout(**read_sidecar(folder)["layout"])
    dreamer = dreamer_for(dream, layout)
    lead_total = sum(run.start - decode.start for run, decode, _ in todo)
    frames_total = sum(decode.end - run.start + 1 for run, decode, _ in todo)
    with ExitStack() as stack:
        if progress is None:
            progress = stack.enter_context(Progress(lead_total + frames_total, quiet=video.quiet, preroll=lead_total))
        dreamed = 0
        for run, decode, missing in todo:
            if len(missing) < len(run):
                progress.note(
                    f"resuming {run}: {len(missing)} of its {len(run)} frames missing ({format_indices(sorted(missing))}); "
                    f"dreaming again from frame {decode.start} so that they match the frames already there"
                )
            report = RunReport(source, str(folder))
            with open_video(source, frames=decode, size=video.frame_size, width=video.width) as reader:
                sink = PngSequenceSink(folder, bit_depth=bit_depth, times=report.stage_times)
                lead = None
                if decode.start < run.start:  # the pre-roll's dreams: the cross-fade into this run at assembly
                    lead_folder = folder / LEAD_PATTERN.format(run.start)
                    lead_folder.mkdir(exist_ok=True)
                    lead_missing = {i for i in range(decode.start, run.start) if not is_complete(frame_path(lead_folder, i))}
                    lead = _Only(PngSequenceSink(lead_folder, bit_depth=bit_depth, times=report.stage_times), lead_missing)
                run_frames(
                    reader, _Only(sink, missing), dreamer, video, report=report, write_from=run.start,
                    preroll_sink=lead, stereo=layout.stereo, progress=_Offset(progress, dreamed),
                    timeline=Timeline.for_run(dream, video, reader),  # frame index → settings: chunks agree
                )
            dreamed += report.frames + report.preroll_frames
            result.written += sink.written
            result.preroll_frames += report.preroll_frames
            result.cuts += report.cuts
    result.wall_time = time.perf_counter() - started
    return result


class _Only:
    """A sink that passes on only the frames in ``indices`` (a resumed run dreams all, writes the missing)."""

    def __init__(self, sink, indices: set[int]) -> None:
        self.sink, self.indices = sink, indices
        self.dtype = sink.dtype

    def __enter__(self) -> _Only:
        self.sink.__enter__()
        return self

    def put(self, frame, image) -> None:
        if frame.index in self.indices:
            self.sink.put(frame, image)

    def __exit__(self, *exc) -> None:
        self.sink.__exit__(*exc)


class _Offset:
    """One run's progress counted on into the progress of the whole render (its runs in turn)."""

    def __init__(self, progress: Progress, base: int) -> None:
        self.progress, self.base = progress, base

    def update(self, done: int, _total: int | None) -> None:
        self.progress.update(self.base + done, self.progress.total)

    def cut(self, index: int) -> None:
        self.progress.cut(index)


def record_chunks(folder: str | os.PathLike, runs: list[FrameRange], *, preroll: int) -> None:
    """Record each run (chunk) in ``folder/chunks/A-B.json``: what ``farm status`` reads."""
    chunks = Path(folder) / CHUNKS
    chunks.mkdir(exist_ok=True)
    for run in runs:
        path = chunks / f"{run}.json"
        text = json.dumps({"frames": str(run), "preroll": preroll}) + "\n"
        if not path.is_file() or path.read_text() != text:
            write_atomically(path, text)


def read_chunks(folder: str | os.PathLike) -> list[FrameRange]:
    """The runs (chunks) recorded in ``folder``, by first frame; [] when none is."""
    return sorted(_recorded_chunks(folder), key=lambda r: (r.start, r.end))


def _recorded_chunks(folder: str | os.PathLike) -> dict[FrameRange, int]:
    """The recorded runs (chunks) of ``folder`` → the pre-roll each was dreamed with."""
    chunks = Path(folder) / CHUNKS
    if not chunks.is_dir():
        return {}
    found = {}
    for entry in os.scandir(chunks):
        m = _CHUNK_NAME.fullmatch(entry.name)
        if m:
            try:
                preroll = int(json.loads(Path(entry.path).read_text())["preroll"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a record this version wrote: the frames count, not the chunk
            found[FrameRange(int(m[1]), int(m[2]))] = preroll
    return found


def _overlap(a: FrameRange, b: FrameRange) -> bool:
    return a.start <= b.end and b.start <= a.end


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
    """Remove the frames, pre-rolls, unjoined frames and chunk records of an earlier render (``--force``)."""
    for index in frame_indices(folder):
        frame_path(folder, index).unlink(missing_ok=True)
    for entry in os.scandir(folder):
        if (_LEAD_NAME.fullmatch(entry.name) or entry.name in (UNJOINED, CHUNKS)) and entry.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)


def _check_folder(folder: str | os.PathLike) -> Path:
    """The output folder, checked (created if missing, a file made in it) before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MediaError(f"--out {folder} is a file, not a folder")
    return check_writable_folder(folder)


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
    runs = index_runs(indices)
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def assemble(
    folder: str | os.PathLike,
    output: str,
    *,
    source: str | None = None,
    frames: FrameRange | None = None,
    codec: str | None = None,
    crf: int | None = None,
    final_frames: str | os.PathLike | None = None,
) -> Assembled:
    """Encode the frames of ``folder`` into ``output`` at the source's rate and timestamps, with its audio.

    ``frames``: the span to assemble (default: from the first to the last frame file
    present). The audio (the source's, or the render's ``--audio``) is cut to the span;
    the source's metadata and the render's 360° layout are written. First the PNG
    sequence is made final (``finalize_frames``): the joined frames are written back
    into ``folder``, or the whole final sequence into ``final_frames``; the film is
    encoded from the same pixels.

    Raises:
        MediaError: no sidecar, a missing or different source, missing or cut-short frames
            (all listed), an unwritable output.
        ConfigError: ``final_frames`` is ``folder``.
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

    written = finalize_frames(folder, frames, into=final_frames)

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
    final = Path(final_frames) if final_frames is not None else folder
    return Assembled(len(frames), final, written)


def _lead_ins(folder: Path) -> dict[int, list[int]]:
    """Pre-roll folders: the frame A they lead into → the indices of their complete frames."""
    leads = {}
    for entry in os.scandir(folder):
        m = _LEAD_NAME.fullmatch(entry.name)
        if m and entry.is_dir():
            leads[int(m[1])] = [i for i in frame_indices(entry.path) if is_complete(frame_path(entry.path, i))]
    return leads


def _fades(folder: Path) -> dict[int, list[tuple[Path, float]]]:
    """Frame index → the pre-roll folders whose dream of it fades in, with their weights.

    The frames before a run (a chunk) that was rendered with a pre-roll fade from the
    previous chunk's dream into the pre-roll's: the pre-roll's weight rises linearly to
    its last frame, and the chunk continues that dream.
    """
    fades: dict[int, list[tuple[Path, float]]] = {}
    for start, indices in _lead_ins(folder).items():
        run = [i for i in indices if i < start]
        if not run or run != list(range(run[0], start)):
            continue  # no whole pre-roll right before the run it leads into
        for j, i in enumerate(run):
            fades.setdefault(i, []).append((folder / LEAD_PATTERN.format(start), (j + 1) / (len(run) + 1)))
    return fades


def _own_dream(folder: Path, index: int) -> SequenceFrame:
    """Frame ``index`` as its chunk dreamed it: ``unjoined/`` once the join has been written back."""
    kept = folder / UNJOINED
    return read_frame(kept if is_complete(frame_path(kept, index)) else folder, index)


def _joined(folder: Path, index: int, fades: dict[int, list[tuple[Path, float]]]) -> SequenceFrame:
    """Frame ``index`` of the film at the sequence's bit depth (uint8 or uint16 RGB), its join faded in."""
    if index not in fades:
        return read_frame(folder, index)
    frame = _own_dream(folder, index)
    top = float(np.iinfo(frame.image.dtype).max)
    mixed = frame.image.astype(np.float32) / top
    for lead_folder, weight in sorted(fades[index], key=lambda f: f[0].name):
        lead = read_frame(lead_folder, index).image
        mixed = (1 - weight) * mixed + weight * (lead.astype(np.float32) / float(np.iinfo(lead.dtype).max))
    image = (np.clip(mixed, 0, 1) * top + 0.5).astype(frame.image.dtype)
    return SequenceFrame(index, frame.pts, frame.time, image)


def assembled_frames(folder: str | os.PathLike, frames: FrameRange):
    """The film's frames, ``(SequenceFrame, uint8 (H, W, 3) RGB)``, joins cross-faded.

    Where a run of frames (a chunk) was rendered with a pre-roll, the frames before
    its first one fade from the previous chunk's dream into the pre-roll's (see
    ``_fades``). (Two runs of the dream never converge to one pattern, whatever the
    pre-roll; without the fade a join shows as a pop.) The same pixels as
    ``finalize_frames`` writes, in 8 bits.

    Raises:
        MediaError: a frame cannot be read.
    """
    folder = Path(folder)
    fades = _fades(folder)
    for index in range(frames.start, frames.end + 1):
        frame = _joined(folder, index, fades)
        image = frame.image
        yield frame, image if image.dtype == np.uint8 else _to_8bit(image)


def finalize_frames(folder: str | os.PathLike, frames: FrameRange, *, into: str | os.PathLike | None = None) -> list[int]:
    """Make the PNG sequence final: the film's frames (joins faded in) as ``frame_%06d.png``.

    ``into`` None: the joined frames are written back into ``folder``; each frame's own
    dream is kept in ``folder/unjoined/`` first, so running this again (or after a
    resumed render) gives the same pixels. ``into`` a folder: every frame of ``frames``
    is written there, ``folder`` is left as it is. Returns the frames written.

    Raises:
        MediaError: a frame cannot be read, ``into`` cannot be written.
    """
    folder = Path(folder)
    bit_depth = read_sidecar(folder)["bit_depth"]
    fades = _fades(folder)
    written = []
    if into is not None:
        into = _check_folder(into)
        if into.resolve() == folder.resolve():
            raise ConfigError("the final frames would overwrite the render", hint="give another folder, or leave it out to write the joins back")
    for index in range(frames.start, frames.end + 1):
        if into is not None:
            if index in fades:
                _write(into, _joined(folder, index, fades), bit_depth)
            else:  # unchanged: the file itself
                write_atomically(frame_path(into, index), frame_path(folder, index).read_bytes())
            written.append(index)
        elif index in fades:
            joined = _joined(folder, index, fades)
            if np.array_equal(joined.image, read_frame(folder, index).image):
                continue  # written back before
            kept = folder / UNJOINED
            if not is_complete(frame_path(kept, index)):
                kept.mkdir(exist_ok=True)
                write_atomically(frame_path(kept, index), frame_path(folder, index).read_bytes())
            _write(folder, joined, bit_depth)
            written.append(index)
    return written


def _write(folder: Path, frame: SequenceFrame, bit_depth: int) -> None:
    image = frame.image if frame.image.dtype == np.uint8 and bit_depth == 8 else frame.image / float(np.iinfo(frame.image.dtype).max)
    write_frame(folder, frame.index, image, bit_depth=bit_depth, pts=frame.pts, time=frame.time)


def _to_8bit(image: np.ndarray) -> np.ndarray:
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
