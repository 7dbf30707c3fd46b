"""One function per command: turn parsed arguments into library calls and print results."""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace

from ..config import DreamSettings, VideoSettings, build_settings, list_presets, load_preset

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
    return f"present{where}" if status.present else f"missing: {status.source}{where}"


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

    report = compare_files(args.source, args.dreamed, projection=getattr(args, "projection", "auto"))
    if args.plot:
        plot_warp_error(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"frames            {report.frames}")
        print(f"warp error        {report.warp_error:.3f}  (source itself: {report.source_warp_error:.3f})")
        print(f"strength          {report.strength:.3f}")
        if report.panorama is not None:
            pano = report.panorama
            print(f"seam ratio        {pano['seam_ratio']:.3f}  (source itself: {pano['source_seam_ratio']:.3f})")
            print(f"pole streaks      zenith {pano['pole_streak_zenith']:.3f}  nadir {pano['pole_streak_nadir']:.3f}")
    return 0
