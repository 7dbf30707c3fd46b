"""One function per command: turn parsed arguments into library calls and print results."""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace

from ..config import DreamSettings, VideoSettings, build_settings, list_presets, load_preset

__all__ = ["dream", "image", "metrics", "models", "presets", "preview", "probe", "view"]


def _settings(args: Namespace) -> tuple[DreamSettings, VideoSettings]:
    """The dream and video settings: defaults, then ``--preset``, then the flags given."""
    preset = load_preset(args.preset) if getattr(args, "preset", None) else {}
    made = []
    for cls, table in ((DreamSettings, "dream"), (VideoSettings, "video")):
        flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
        made.append(build_settings(cls, preset=preset.get(table), overrides=flags))
    return made[0], made[1]


def image(args: Namespace) -> int:
    from ..still import dream_image_file

    settings, _ = _settings(args)
    result = dream_image_file(args.input, args.output, settings)
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
        for name in layer_names(args.name):
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
    for name, description in list_presets().items():
        print(f"{name:20s} {description}")
    return 0


def dream(args: Namespace) -> int:
    from ..pipeline import dream_video

    dream_settings, video_settings = _settings(args)
    report = dream_video(args.input, args.output, dream_settings, video_settings)
    if args.output != "-":  # stdout carries the video then
        print(f"dreamed {report.frames} frames -> {args.output}")
    return 0


def probe(args: Namespace) -> int:
    from ..io.probe import format_probe, probe as probe_file

    info = probe_file(args.file)
    print(json.dumps(info, indent=2) if args.json else format_probe(info))
    return 0


def metrics(args: Namespace) -> int:
    from ..metrics import compare_files, plot_warp_error

    report = compare_files(args.source, args.dreamed)
    if args.plot:
        plot_warp_error(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"frames            {report.frames}")
        print(f"warp error        {report.warp_error:.3f}  (source itself: {report.source_warp_error:.3f})")
        print(f"strength          {report.strength:.3f}")
    return 0


def preview(args: Namespace) -> int:
    from ..errors import ConfigError
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
