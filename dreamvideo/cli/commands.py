"""One function per command: turn parsed arguments into library calls and print results."""

from __future__ import annotations

import dataclasses
import json
import sys
from argparse import Namespace

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

__all__ = ["assemble", "dream", "farm", "image", "metrics", "models", "presets", "preview", "probe", "render", "view"]


def _settings(args: Namespace) -> tuple[DreamSettings, VideoSettings]:
    """The dream and video settings: defaults, then ``--preset``, then the flags given."""
    name = getattr(args, "preset", None) or ("live" if getattr(args, "live", None) else None)
    preset = load_preset(name) if name else {}
    made = []
    for cls, table in ((DreamSettings, "dream"), (VideoSettings, "video")):
        flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
        made.append(build_settings(cls, preset=preset.get(table), overrides=flags))
    return made[0], made[1]


def _is_file(path: str) -> bool:
    from pathlib import Path

    return path != "-" and Path(path).is_file()


def image(args: Namespace) -> int:
    from ..still import dream_image_file

    settings, video = _settings(args)
    if args.width is not None and args.size is not None:
        raise ConfigError("give --width or --size, not both")
    if args.width is not None and args.width < 16:
        raise ConfigError("--width must be at least 16")
    size = parse_size(args.size) if args.size is not None else None
    result = dream_image_file(
        args.input, args.output, settings, width=args.width, size=size, vr_names=video.vr_names
    )
    print(
        f"dreamed {args.input} -> {result.output} "
        f"({result.objective_name}: {result.objective_before:.4g} -> {result.objective_after:.4g}, "
        f"x{result.gain:.2f})"
    )
    return 0


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
    try:
        report = dream_video(args.input, args.output, dream_settings, video_settings)
    except KeyboardInterrupt:
        # The sink abandons its temp file: never a cut-off video, and an existing output is untouched.
        raise Interrupted(
            f"interrupted: nothing written to {args.output}"
            + (" (the file already there is kept as it was)" if _is_file(args.output) else "")
        ) from None
    if report.live:
        print(report.live_summary(), file=sys.stderr)
    if args.output != "-":  # stdout carries the video then
        print(f"dreamed {report.frames} frames -> {report.output}")
    return 0


def probe(args: Namespace) -> int:
    from ..io.probe import format_probe, probe as probe_file

    info = probe_file(args.file)
    print(json.dumps(info, indent=2) if args.json else format_probe(info))
    return 0


def metrics(args: Namespace) -> int:
    from ..config import parse_frame_range
    from ..metrics import SHARPNESS_FROM, compare_files, plot_warp_error, read_run_report

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
        print(f"frames            {report.frames}")
        print(
            f"warp error        {report.warp_error:.3f}  (source itself: {report.source_warp_error:.3f}; "
            "mean |change| of a frame against the previous one warped along the flow, 0-255 RGB: lower is steadier)"
        )
        print(f"strength          {report.strength:.3f}  (mean |dream - source|, 0-255 RGB: higher is a stronger dream)")
        print(
            f"sharpness         {report.sharpness:.3f}  (mean |Laplacian| over mean |detail| of the dream's own detail, "
            f"unitless, mean over frames {SHARPNESS_FROM} onwards: higher is crisper)"
        )
        if report.panorama is not None:
            pano = report.panorama
            print(f"seam ratio        {pano['seam_ratio']:.3f}  (source itself: {pano['source_seam_ratio']:.3f})")
            print(f"pole streaks      zenith {pano['pole_streak_zenith']:.3f}  nadir {pano['pole_streak_nadir']:.3f}")
    return 0


def render(args: Namespace) -> int:
    from ..farm.plan import parse_frame_ranges
    from ..render import DEFAULT_PREROLL, render_frames

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
            f"interrupted: the frames finished so far are in {args.out}",
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
    count = assemble_frames(args.folder, args.output, source=args.source, frames=frames, codec=args.codec, crf=args.crf)
    if args.output != "-":
        print(f"assembled {count} frames -> {args.output}")
    return 0


def _farm_options(args: Namespace) -> tuple[str, DreamSettings, VideoSettings, dict]:
    """The job's frame range text, the settings, and the options the user gave (forwarded to each chunk)."""
    frames, args.frames = args.frames, None
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


def farm(args: Namespace) -> int:
    from ..render import DEFAULT_PREROLL

    if args.farm_command == "status":
        from ..config import parse_frame_range
        from ..farm.plan import chunk_progress, format_progress, plan_chunks

        chunks = plan_chunks(parse_frame_range(args.frames), args.chunk, preroll=0)
        print(format_progress(chunk_progress(args.folder, chunks)))
        return 0
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
        address=args.address, retries=2 if args.retries is None else args.retries, work=args.work,
    )
    print(f"assembled {result.frames} frames from {result.chunks} chunks -> {args.output} (frames in {result.work})")
    return 0


def preview(args: Namespace) -> int:
    from ..preview import contact_sheet, layers_sheet

    dream_settings, video = _settings(args)
    where = {"frames": video.frame_range, "size": video.frame_size, "width": video.width}
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
