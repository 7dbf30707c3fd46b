"""Argument declarations for every command: names and help only, no work.

Every option defaults to None so that a flag the user did not give never
hides a preset's value (flag beats preset beats default).
"""

from __future__ import annotations

import argparse

from .. import __version__
from ..config import CODECS, DEVICES, FLOWS, PROJECTIONS, PYRAMIDS, SPHERE_MODES, STEREO_LAYOUTS
from ..errors import ConfigError

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one ``error:`` line (exit 2) via ConfigError."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise ConfigError(message, hint=f"see `{self.prog} --help`")


def _add_dream_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dream options")
    g.add_argument("--preset", metavar="NAME|FILE", help="a preset from `dreamvideo presets`, or a TOML file")
    g.add_argument("--model", help="network to dream with (default efficientnet-lite0; see `dreamvideo models`)")
    g.add_argument("--weights", metavar="PATH", help="local state dict for the model's architecture")
    g.add_argument("--layers", metavar="NAME[:W],...", help="layers to excite, with weights (default: the model's)")
    g.add_argument("--channels", metavar="LIST", help="only these channels of the layers, e.g. 3,7,10-12")
    g.add_argument("--guide", metavar="IMAGE", help="dream towards this image's features")
    g.add_argument(
        "--logit", metavar="CLASS", help="maximise one ImageNet class logit instead: an index or a name (\"goldfish\")"
    )
    g.add_argument(
        "--pyramid",
        choices=PYRAMIDS,
        help="anchored (default): octaves from --base-width up to the frame, the same look at any size; "
        "classic: --octaves levels below the frame",
    )
    g.add_argument("--base-width", type=int, metavar="PX", help="width of the smallest anchored octave (default 224)")
    g.add_argument(
        "--octaves", type=int, metavar="N", help="classic: pyramid levels (default 4); anchored: keep the N finest"
    )
    g.add_argument("--octave-scale", type=float, metavar="S", help="size ratio between octaves (default 1.4)")
    g.add_argument("--steps", type=int, metavar="N", help="ascent steps per octave (default 10)")
    g.add_argument("--step-size", type=float, metavar="F", help="pixels moved per step, in [0,1] units (default 0.02)")
    g.add_argument(
        "--strength", type=float, metavar="S", help="how strong the dream is: 0 none, 1 the default look, 2 twice the ascent"
    )
    g.add_argument(
        "--jitter",
        type=int,
        metavar="PX",
        help="random roll per step: pixels of the base octave, scaled up with each octave (default 6); "
        "classic: frame pixels (default 32)",
    )
    g.add_argument("--smoothing", type=float, metavar="SIGMA", help="Gaussian blur of the gradient (default 0.5)")
    g.add_argument("--tile", type=int, metavar="PX", help="largest side dreamed in one piece (default 512)")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    g.add_argument("--device", choices=DEVICES, help="where to run (default auto: cuda, mps, cpu)")
    g.add_argument(
        "--projection", choices=PROJECTIONS, help="flat, or equirect for 360° (default auto: from the input's metadata)"
    )
    g.add_argument(
        "--stereo", choices=STEREO_LAYOUTS, help="eye layout, left eye top/left (default auto: from metadata, else none)"
    )
    g.add_argument(
        "--sphere-mode", choices=SPHERE_MODES, help="how a 360° frame is shown to the network (default views)"
    )


def _add_video_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video options")
    g.add_argument("--frames", metavar="A-B", help="only frames A to B (inclusive, 0-based)")
    g.add_argument("--width", type=int, metavar="W", help="process at this width (aspect kept)")
    g.add_argument("--size", metavar="WxH", help="process at this size")
    g.add_argument("--flow", choices=FLOWS, help="optical flow for temporal coherence (default farneback)")
    g.add_argument("--flow-scale", type=float, metavar="F", help="flow computed at this fraction of the size (0.5)")
    g.add_argument("--blend", type=float, metavar="F", help="share of the previous dream carried over (1.0)")
    g.add_argument("--refine-steps", type=int, metavar="N", help="steps per octave for carried-over frames (1)")
    g.add_argument("--codec", choices=CODECS, help="output codec (default h264)")
    g.add_argument("--crf", type=int, metavar="N", help="constant rate factor (quality; lower is better)")
    g.add_argument("--json-report", metavar="PATH", help="write settings, counts and stage timings here")
    g.add_argument(
        "--audio", metavar="FILE", help="soundtrack from this file instead of the input's (e.g. for a live stream)"
    )
    g.add_argument("--quiet", action="store_true", default=None, help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    """The ``dreamvideo`` parser with one sub-parser per command."""
    parser = _Parser(prog="dreamvideo", description="DeepDream for videos, live streams and 360° panoramas.")
    parser.add_argument("--version", action="version", version=f"dreamvideo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("image", help="dream a still image (PNG, JPEG, WebP, TIFF)")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT", help="format from the extension")
    _add_dream_options(p)
    g = p.add_argument_group("size")
    g.add_argument("--width", type=int, metavar="W", help="dream at this width (aspect kept)")
    g.add_argument("--size", metavar="WxH", help="dream at this size")

    p = sub.add_parser("dream", help="dream a video, a stream (- for stdin/stdout) or a URL")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT")
    _add_dream_options(p)
    _add_video_options(p)

    p = sub.add_parser("models", help="list models, or one model's layers worth dreaming")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every module with one output, not only the layers worth dreaming")

    p = sub.add_parser("presets", help="list the presets in pipelines/, or one preset's settings")
    p.add_argument("name", nargs="?", metavar="NAME|FILE")

    p = sub.add_parser("probe", help="describe a media file's streams")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("metrics", help="warp error and strength of a dream against its source")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("dreamed", metavar="DREAMED")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", metavar="PNG", help="draw the per-frame warp error here")
    return parser
