"""One function per command: turn parsed arguments into library calls and print results."""

from __future__ import annotations

import dataclasses
import json
import sys
from argparse import Namespace
from pathlib import Path

from ..config import (
    DreamSettings,
    VideoSettings,
    build_settings,
    list_presets,
    load_preset,
    parse_size,
    preset_description,
)
from ..errors import ConfigError, Interrupted
from .signals import STOP

__all__ = [
    "animate", "assemble", "dream", "farm", "image", "metrics", "models", "music", "presets", "preview", "probe", "render", "view"
]


def _settings(args: Namespace) -> tuple[DreamSettings, VideoSettings]:
    """The dream and video settings: defaults, then ``--preset``, then the flags given."""
    name = getattr(args, "preset", None) or ("live" if getattr(args, "live", None) else None)
    preset = load_preset(name) if name else {}
    made = []
    for cls, table in ((DreamSettings, "dream"), (VideoSettings, "video")):
        flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
        made.append(build_settings(cls, preset=preset.get(table), overrides=flags))
    return made[0], made[1]


def _refuse_animation(args: Namespace) -> None:
    """``render`` and ``farm`` split a clip into frame ranges; an animation's frames each need the last."""
    from ..config import AnimateSettings

    name = getattr(args, "preset", None)
    motion = load_preset(name).get("animate") if name else None
    if motion and build_settings(AnimateSettings, preset=motion).motion:
        raise ConfigError(
            f"preset {name} is an animation from a still: each frame is the previous frame's dream moved, "
            "so it cannot be split into frame ranges",
            hint="run it in one process with `dreamvideo animate`",
        )


def animate(args: Namespace) -> int:
    from ..animate import animate_still
    from ..config import AnimateSettings

    dream_settings, video_settings = _settings(args)
    preset = load_preset(args.preset) if getattr(args, "preset", None) else {}
    flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(AnimateSettings)}
    motion = build_settings(AnimateSettings, preset=preset.get("animate"), overrides=flags)
    bar = None
    if not video_settings.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="animating", unit="frame", file=sys.stderr)

    def step(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        result = animate_still(args.input, args.output, dream_settings, video_settings, motion, progress=step)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: nothing written to {args.output}") from None
    finally:
        if bar is not None:
            bar.close()
    print(
        f"animated {result.frames} frames -> {result.output} (structure {result.structure[0]:.2f} -> "
        f"{result.structure[-1]:.2f}, sharpness {result.sharpness[0]:.2f} -> {result.sharpness[-1]:.2f})"
    )
    return 0


def _is_file(path: str) -> bool:
    from pathlib import Path

    return path != "-" and Path(path).is_file()


def image(args: Namespace) -> int:
    from ..still import dream_image_file

    _refuse_video(args.input, args.output)
    settings, video = _settings(args)
    if args.width is not None and args.size is not None:
        raise ConfigError("give --width or --size, not both")
    if args.width is not None and args.width < 16:
        raise ConfigError("--width must be at least 16")
    size = parse_size(args.size) if args.size is not None else None
    result = dream_image_file(
        args.input, args.output, settings, width=args.width, size=size, vr_names=video.vr_names, force=args.force
    )
    print(
        f"dreamed {args.input} -> {result.output} "
        f"({result.objective_name}: {result.objective_before:.4g} -> {result.objective_after:.4g}, "
        f"x{result.gain:.2f})"
    )
    if result.gain < 1:
        print(
            f"note: the dream lowered {result.objective_name}: too few steps for the step size (a first step "
            "overshoots; DESIGN, The dream); more --steps or a smaller --step-size raise it"
        )
    return 0


def _refuse_video(source: str, output: str) -> None:
    """``image`` given a video: say which command dreams one frame of it as an image."""
    from pathlib import Path

    from ..errors import MediaError
    from ..io import IMAGE_FORMATS
    from ..io.probe import probe as probe_file

    if Path(source).suffix.lower() in IMAGE_FORMATS or not _is_file(source):
        return
    try:
        info = probe_file(source)
    except MediaError:
        return  # not a video either: reading it as an image says what is wrong
    if info["kind"] == "video" and any(s["type"] == "video" for s in info["streams"]):
        raise ConfigError(
            f"{Path(source).name} is a video: `image` dreams a still picture",
            hint=f"dream one frame of it as an image: dreamvideo dream {source} {output} --frames N (0-based)",
        )


def models(args: Namespace) -> int:
    from ..models import DEFAULT_MODEL, get_spec, layer_names, list_models, weights_status

    if args.name:
        spec = get_spec(args.name)
        status = weights_status(args.name)
        print(f"{args.name}: default layer {spec.default_layer}; weights {_presence(status)}")
        for name in layer_names(args.name, every=args.all):
            print(f"  {name}")
        return 0
    for name in list_models():
        status = weights_status(name)
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name:20s} {_presence(status)}{default}")
    return 0


def _presence(status) -> str:
    where = f" at {status.path}" if status.path else ""
    if status.present:
        return f"present{where}"
    get = f" (get it: {status.hint})" if status.hint else ""
    return f"missing: {status.source}{where}{get}"


def presets(args: Namespace) -> int:
    if args.name:
        preset = load_preset(args.name)
        print(f"{args.name}: {preset_description(args.name)}")
        for table, values in preset.items():
            if values:
                print(f"[{table}]")
                for key, value in values.items():
                    print(f"  {key.replace('_', '-'):14s} {value!r}")
        return 0
    for name, description in list_presets().items():
        print(f"{name:20s} {description}")
    return 0


def dream(args: Namespace) -> int:
    from ..pipeline import dream_video

    dream_settings, video_settings = _settings(args)
    if args.live_timeout is not None and not video_settings.live:
        raise ConfigError("--live-timeout goes with --live", hint="add --live, or leave --live-timeout out")
    try:
        if video_settings.live:
            # A live run has no end but a stop: the first signal ends it with what was dreamed kept.
            with STOP.gracefully() as stop:
                report = dream_video(args.input, args.output, dream_settings, video_settings, force=args.force, stop=stop)
        else:
            report = dream_video(args.input, args.output, dream_settings, video_settings, force=args.force)
    except KeyboardInterrupt:
        # The sink abandons its temp file: never a cut-off video, and an existing output is untouched.
        raise Interrupted(
            f"{STOP.what}: nothing written to {args.output}"
            + (" (the file already there is kept as it was)" if _is_file(args.output) else "")
        ) from None
    out = sys.stderr if args.output == "-" else sys.stdout  # stdout carries the video then
    if report.live:
        print(report.live_summary(), file=sys.stderr)
        if report.live["stopped"]:
            print(f"stopped ({STOP.name}): kept the {report.frames} frames dreamed -> {report.output}", file=out)
            return 0
    if args.output != "-":
        print(f"dreamed {report.frames} frames -> {report.output}")
    return 0


def music(args: Namespace) -> int:
    from ..music import features_table, load_music, plot_features

    if args.plot:
        from ..io import check_output_path

        check_output_path(args.file, args.plot)
    features = load_music(args.file)
    table = features_table(features, args.file, rate=args.rate)
    if args.dreamed is not None:
        if not args.plot:
            raise ConfigError("--dreamed draws into the plot", hint="give --plot PNG too")
        from ..io import open_video
        from ..metrics import strength

        with open_video(args.file) as source, open_video(args.dreamed) as dreamed:
            pairs = [(s.time, strength([s.image], [d.image])) for s, d in zip(source, dreamed)]
        table["dreamed_strength"] = [{"t": round(t, 4), "strength": round(v, 4)} for t, v in pairs]
    if args.plot:
        extra = {"dream strength": tuple(zip(*pairs))} if args.dreamed else None
        plot_features(features, args.plot, extra=extra)
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        beats = table["beats_s"]
        print(f"{args.file}: {table['duration_s']:.2f} s of sound, {len(beats)} beats, about {table['tempo_bpm']:.0f} bpm")
        print(f"first beats (s): {', '.join(f'{b:.3f}' for b in beats[:8])}{' ...' if len(beats) > 8 else ''}")
        print(f"{len(table['frames'])} frames at {table['rate']} fps; schedules read: t, f, {', '.join(table['features'])}")
        if args.plot:
            print(f"plot -> {args.plot}")
    return 0


def probe(args: Namespace) -> int:
    from ..io.probe import format_probe, probe as probe_file

    info = probe_file(args.file)
    print(json.dumps(info, indent=2) if args.json else format_probe(info))
    return 0


def metrics(args: Namespace) -> int:
    from ..config import parse_frame_range
    from ..metrics import compare_files, plot_warp_error, read_run_report

    decoded = read_run_report(args.report) if args.report else {}
    if args.frames is not None:
        decoded["frames"] = parse_frame_range(args.frames)
    if args.plot:
        from ..io import check_output_path

        check_output_path(args.source, args.plot)
    report = compare_files(args.source, args.dreamed, projection=args.projection, **decoded)
    if args.plot:
        plot_warp_error(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_metrics(report))
    return 0


# What DESIGN.md's measurements say is typical (`make bench`, default settings, the 2-core CPU):
# a dream carried along the flow has 1.3-2.3x its source's warp error on the test clips
# (sample pan 2.29, camera path 1.99, occluder 1.28, cut 1.41, cross-fade 1.42, fast pan 1.29;
# its detail kept sharp, issue 19); each frame dreamed on its own, 1.3x (fast pan) to 6.9x (pan).
# Sharpness: independent dreams 2.8-3.3 on those clips, carried ones 2.7-3.1. Seam ratio of a 360° dream
# through views 0.89-1.03 (flat dreaming 1.25-1.49); pole streaks -0.04-0.07 (flat 0.39-0.49).
CARRIED_OVER_SOURCE = (1.3, 2.3)
INDEPENDENT_OVER_SOURCE = (1.3, 6.9)


def format_metrics(report) -> str:
    """The ``metrics`` text: each figure with its unit and direction, its ratio to the source's
    own figure, and the range DESIGN.md measured for it, so a number comes with a verdict."""
    from ..metrics import SHARPNESS_FROM

    lines = [f"frames            {report.frames}"]
    ratio = report.warp_error / report.source_warp_error if report.source_warp_error > 0 else float("nan")
    lines.append(
        f"warp error        {report.warp_error:.3f}  (source itself: {report.source_warp_error:.3f}; "
        "mean |change| of a frame against the previous one warped along the flow, 0-255 RGB: lower is steadier)"
    )
    if ratio == ratio:  # not NaN: two frames or more, and a source that moves
        low, high = CARRIED_OVER_SOURCE
        if ratio <= high:
            verdict = "steady: as steady as the dreams DESIGN measured"
        elif ratio <= INDEPENDENT_OVER_SOURCE[1]:
            verdict = "flickers more than those, less than frames dreamed each on their own at most do"
        else:
            verdict = "flickers more than frames dreamed each on their own typically do"
        lines.append(
            f"  over source     {ratio:.2f}x  ({verdict}; dreams carried along the flow measured "
            f"{low}-{high}x on DESIGN's flat test clips at default settings, frames dreamed each on their own "
            f"{INDEPENDENT_OVER_SOURCE[0]}-{INDEPENDENT_OVER_SOURCE[1]}x, more where the flow explains the clip well)"
        )
    lines.append(f"strength          {report.strength:.3f}  (mean |dream - source|, 0-255 RGB: higher is a stronger dream)")
    lines.append(
        f"sharpness         {report.sharpness:.3f}  (mean |Laplacian| over mean |detail| of the dream's own detail, "
        f"unitless, mean over frames {SHARPNESS_FROM} onwards: higher is crisper; at default settings "
        "frames dreamed each on their own measured 2.8-3.3, dreams carried along the flow 2.7-3.1)"
    )
    if report.panorama is not None:
        pano = report.panorama
        lines.append(
            f"seam ratio        {pano['seam_ratio']:.3f}  (source itself: {pano['source_seam_ratio']:.3f}; "
            "about 1 is seamless: a 360° dream through views measured 0.89-1.03, a flat dream 1.25-1.49)"
        )
        lines.append(
            f"pole streaks      zenith {pano['pole_streak_zenith']:.3f}  nadir {pano['pole_streak_nadir']:.3f}  "
            "(0: no streaks, 1: streaks from the pole; views measured -0.04-0.07, a flat dream 0.39-0.49)"
        )
    return "\n".join(lines)


def render(args: Namespace) -> int:
    from ..farm.plan import parse_frame_ranges
    from ..render import DEFAULT_PREROLL, render_frames

    _refuse_animation(args)
    if args.frames is None:
        raise ConfigError("render needs --frames A-B", hint="e.g. --frames 0-99 (inclusive, 0-based)")
    ranges = parse_frame_ranges(args.frames)
    args.frames = None  # the ranges go to render_frames, not into the video settings
    dream_settings, video_settings = _settings(args)
    if video_settings.json_report:  # found out before the first frame, not after the last
        from ..io import check_output_path

        check_output_path(args.input, video_settings.json_report)
    try:
        result = render_frames(
            args.input,
            args.out,
            ranges,
            dream_settings,
            video_settings,
            preroll=DEFAULT_PREROLL if args.preroll is None else args.preroll,
            bit_depth=args.bit_depth or 8,
            force=args.force,
        )
    except KeyboardInterrupt:
        raise Interrupted(
            f"{STOP.what}: the frames finished so far are in {args.out}",
            hint="run the same command again to render the rest",
        ) from None
    if video_settings.json_report:
        from ..io.atomic import write_atomically

        report = {
            "input": args.input,
            "folder": str(result.folder),
            "frames": [str(r) for r in result.frames],
            "written": len(result.written),
            "skipped": len(result.skipped),
            "preroll_frames": result.preroll_frames,
            "scene_cuts": result.cuts,
            "wall_time_s": round(result.wall_time, 3),
        }
        write_atomically(video_settings.json_report, json.dumps(report, indent=2) + "\n")
    print(
        f"rendered {len(result.written)} frames into {result.folder}"
        + (f" ({len(result.skipped)} already complete)" if result.skipped else "")
    )
    return 0


def assemble(args: Namespace) -> int:
    from ..config import parse_frame_range
    from ..render import assemble as assemble_frames

    frames = parse_frame_range(args.frames) if args.frames else None
    result = assemble_frames(
        args.folder, args.output, source=args.source, frames=frames, codec=args.codec, crf=args.crf,
        final_frames=args.final_frames,
    )
    if args.output != "-":
        print(f"assembled {result.frames} frames -> {args.output}")
        print(_final_line(args.folder, result))
    return 0


def _final_line(folder: str, result) -> str:
    """Where the final PNG sequence is (the film's pixels), for the message after assembly."""
    if result.final_folder.resolve() != Path(folder).resolve():
        return f"the final PNG sequence (the film's pixels) is in {result.final_folder}"
    joined = f"{len(result.written)} joined frames written back, " if result.written else ""
    return f"the PNG sequence in {folder} is final ({joined}the film's pixels)"


def _farm_options(args: Namespace) -> tuple[str, DreamSettings, VideoSettings, dict]:
    """The job's frame range text, the settings, and the options the user gave (forwarded to each chunk)."""
    frames, args.frames = args.frames, None
    _refuse_animation(args)
    dream_settings, video_settings = _settings(args)  # validates the options once, here
    given = {}
    if getattr(args, "preset", None):
        given["preset"] = args.preset
    for cls in (DreamSettings, VideoSettings):
        for f in dataclasses.fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                given[f.name] = value
    return frames, dream_settings, video_settings, given


def _farm_status(args: Namespace) -> int:
    from ..config import parse_frame_range
    from ..errors import MediaError
    from ..farm.plan import chunk_progress, format_progress, job_chunks
    from ..render import read_chunks

    if not Path(args.folder).is_dir():
        raise MediaError(f"no such folder: {args.folder}", hint="give the job's frames folder (render --out, FramesDir)")
    if args.chunk is not None and args.chunk < 1:
        raise ConfigError("--chunk must be at least 1")
    frames = parse_frame_range(args.frames) if args.frames else None
    recorded = read_chunks(args.folder)
    chunks = job_chunks(recorded, frames=frames, chunk=args.chunk)
    if recorded:
        print(f"chunks as the job rendered them into {args.folder} ({len(recorded)} started"
              + ("; give --frames A-B to count the chunks not started yet)" if frames is None else ")"))
        sizes = {len(r) for r in recorded[:-1]}
        if args.chunk is not None and sizes and sizes != {args.chunk}:
            print(f"note: the job's chunks are of {', '.join(map(str, sorted(sizes)))} frames; --chunk {args.chunk} "
                  "only cuts the frames no chunk has started")
    else:
        planned = f"planned with --chunk {args.chunk}" if args.chunk else "one per gap (give --chunk N to plan them)"
        print(f"no chunk has started in {args.folder}: chunks {planned}")
    print(format_progress(chunk_progress(args.folder, chunks)))
    return 0


def farm(args: Namespace) -> int:
    from ..render import DEFAULT_PREROLL

    if args.farm_command == "status":
        return _farm_status(args)
    frames, dream_settings, video_settings, given = _farm_options(args)
    preroll = DEFAULT_PREROLL if args.preroll is None else args.preroll
    bit_depth = args.bit_depth or 8
    if args.farm_command == "openjd":
        from ..farm.openjd import write_bundle

        if frames is None:
            raise ConfigError("farm openjd needs --frames A-B")
        path = write_bundle(
            args.input, args.output, args.bundle,
            frames=frames, chunk=args.chunk, preroll=preroll, bit_depth=bit_depth, options=given,
        )
        print(f"wrote {path}")
        return 0
    from ..farm.ray_runner import run_on_ray

    result = run_on_ray(
        args.input, args.output,
        frames=frames, chunk=args.chunk, preroll=preroll, bit_depth=bit_depth,
        dream=dream_settings, video=video_settings,
        address=args.address, gpus_per_task=args.gpus_per_task, retries=2 if args.retries is None else args.retries,
        work=args.work,
    )
    print(f"assembled {result.frames} frames from {result.chunks} chunks -> {args.output} "
          f"(the final PNG sequence in {result.work})")
    return 0


def preview(args: Namespace) -> int:
    from ..preview import contact_sheet, layers_sheet

    dream_settings, video = _settings(args)
    where = {"frames": video.frame_range, "size": video.frame_size, "width": video.width, "video": video}
    where["progress"] = lambda what: print(f"preview: dreaming {what}", file=sys.stderr, flush=True)
    if args.layers_sheet:
        if args.count is not None:
            raise ConfigError("--count goes with a frames sheet, not --layers-sheet")
        result = layers_sheet(args.input, args.output, dream_settings, frame=args.frame, **where)
        what = f"{len(result.dreams)} layers of frame {result.frames[0]}"
    else:
        if args.frame is not None:
            raise ConfigError("--frame goes with --layers-sheet", hint="use --frames A-B to choose the span")
        result = contact_sheet(args.input, args.output, dream_settings, count=4 if args.count is None else args.count, **where)
        what = f"frames {', '.join(map(str, result.frames))}"
    print(f"preview of {what} -> {result.output} ({result.width}x{result.height})")
    return 0


def view(args: Namespace) -> int:
    from ..view import serve

    serve(args.file, port=args.port, projection=args.projection, stereo=args.stereo, open_browser=not args.no_browser)
    print("stopped", flush=True)
    return 0
