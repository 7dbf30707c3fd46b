"""One function per command: turn parsed arguments into library calls and print results."""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace

from ..errors import ConfigError

from ..config import (
    DreamSettings,
    VideoSettings,
    build_settings,
    list_presets,
    load_preset,
    parse_size,
    preset_description,
)

__all__ = ["dream", "image", "metrics", "models", "presets", "probe"]


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
    return f"present{where}" if status.present else f"missing: {status.source}{where}"


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
    report = dream_video(args.input, args.output, dream_settings, video_settings)
    if args.output != "-":  # stdout carries the video then
        print(f"dreamed {report.frames} frames -> {report.output}")
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
        print(
            f"warp error        {report.warp_error:.3f}  (source itself: {report.source_warp_error:.3f}; "
            "mean |change| of a frame against the previous one warped along the flow, 0-255 RGB: lower is steadier)"
        )
        print(f"strength          {report.strength:.3f}  (mean |dream - source|, 0-255 RGB: higher is a stronger dream)")
    return 0
