"""Argument declarations for every command: names and help only, no work.

Every option defaults to None so that a flag the user did not give never
hides a preset's value (flag beats preset beats default).
"""

from __future__ import annotations

import argparse
import difflib

from .. import __version__
from ..config import CODECS, DEVICES, FLOWS, PROJECTIONS, PYRAMIDS, SPHERE_MODES, STEREO_LAYOUTS
from ..errors import ConfigError
from ..schedule import number_or_schedule

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one ``error:`` line (exit 2) via ConfigError.

    Arguments no parser took are reported by the (sub)command that was given, with its help
    and the option nearest to an unknown one (``--frmaes`` → did you mean ``--frames``?).
    """

    def error(self, message: str):  # noqa: D102 - argparse API
        raise ConfigError(message, hint=f"see `{self.prog} --help`")

    def parse_args(self, args=None, namespace=None):  # noqa: D102 - argparse API
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._chosen(namespace)
            message = f"unrecognized arguments: {' '.join(extras)}"
            unknown = next((a.split("=")[0] for a in extras if a.startswith("--")), None)
            options = [o for action in command._actions for o in action.option_strings if o.startswith("--")]
            close = difflib.get_close_matches(unknown, options, n=1, cutoff=0.6) if unknown else []
            if close:
                message += f" (did you mean {close[0]}?)"
            raise ConfigError(message, hint=f"see `{command.prog} --help`")
        return namespace

    def _chosen(self, namespace: argparse.Namespace) -> argparse.ArgumentParser:
        """The deepest sub-command parser ``namespace`` went through (this parser if none)."""
        parser: argparse.ArgumentParser = self
        while True:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            name = getattr(namespace, subs[0].dest, None) if subs else None
            if name not in (subs[0].choices if subs else {}):
                return parser
            parser = subs[0].choices[name]


def _add_debug(p: argparse.ArgumentParser) -> None:
    """``--debug`` after a command name too (the hint of an internal failure asks for it)."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


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
    # A number, or a schedule over the clip (SCHED): "0:(1), 48:(2.5), 4s:(1 + beat)"; see the README.
    g.add_argument("--steps", type=number_or_schedule, metavar="N|SCHED", help="ascent steps per octave (default 10)")
    g.add_argument(
        "--step-size", type=number_or_schedule, metavar="F|SCHED", help="pixels moved per step, in [0,1] units (default 0.02)"
    )
    g.add_argument(
        "--strength",
        type=number_or_schedule,
        metavar="S|SCHED",
        help="how strong the dream is: 0 none, 1 the default look, 2 twice the ascent; or a schedule, "
        "e.g. \"0:(1 + 1.5*beat)\" pulses on the music's beats",
    )
    g.add_argument(
        "--jitter",
        type=number_or_schedule,
        metavar="PX|SCHED",
        help="random roll per step: pixels of the base octave, scaled up with each octave (default 6); "
        "classic: frame pixels (default 32)",
    )
    g.add_argument("--smoothing", type=float, metavar="SIGMA", help="Gaussian blur of the gradient (default 0.5)")
    g.add_argument("--tile", type=int, metavar="PX", help="largest side dreamed in one piece (default 512 on the CPU, 1536 on CUDA)")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    g.add_argument("--device", choices=DEVICES, help="where to run (default auto: cuda, mps, cpu)")
    g.add_argument(
        "--fast",
        metavar="LIST",
        help="opt-in speed paths, comma-separated: cudnn (autotuned kernels), channels-last, bf16 or fp16 autocast, "
        "compile (torch.compile; tens of seconds before the first frame)",
    )
    g.add_argument(
        "--projection", choices=PROJECTIONS, help="flat, or equirect for 360° (default auto: from the input's metadata)"
    )
    g.add_argument(
        "--stereo", choices=STEREO_LAYOUTS, help="eye layout, left eye top/left (default auto: from metadata, else none)"
    )
    g.add_argument(
        "--sphere-mode", choices=SPHERE_MODES, help="how a 360° frame is shown to the network (default views)"
    )
    g.add_argument(
        "--strict", action="store_true", default=None, help="doubtful input is an error, not a warning "
        "(e.g. an equirect frame that is not 2:1 per eye)"
    )


def _add_vr_names(g) -> None:
    g.add_argument(
        "--vr-names",
        action="store_true",
        default=None,
        help="add _360, _TB or _LR to the output name of a 360° run, as headset players expect",
    )


def _add_memory_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="start even where the memory estimate says the frames will not fit (refused otherwise)",
    )


def _add_video_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video options")
    g.add_argument("--frames", metavar="A-B", help="only frames A to B (inclusive, 0-based; render takes lists: 3-5,9)")
    g.add_argument("--width", type=int, metavar="W", help="process at this width (aspect kept)")
    g.add_argument("--size", metavar="WxH", help="process at this size")
    g.add_argument("--flow", choices=FLOWS, help="optical flow for temporal coherence (default farneback)")
    g.add_argument("--flow-scale", type=float, metavar="F", help="flow computed at this fraction of the size (default 0.5, more for frames under 1280 px wide)")
    g.add_argument("--blend", type=number_or_schedule, metavar="F|SCHED", help="share of the previous dream carried over (1.0)")
    g.add_argument(
        "--refine-steps", type=number_or_schedule, metavar="N|SCHED", help="steps per octave for carried-over frames (1)"
    )
    g.add_argument(
        "--frame-batch", type=int, metavar="N",
        help="with --flow none or --blend 0, dream N frames at once (default 4 on CUDA, 1 on the CPU)",
    )  # fmt: skip
    g.add_argument("--codec", choices=CODECS, help="output codec (default h264)")
    g.add_argument("--crf", type=int, metavar="N", help="constant rate factor (quality; lower is better)")
    g.add_argument("--json-report", metavar="PATH", help="write settings, counts, stage timings and peak memory here")
    g.add_argument(
        "--audio", metavar="FILE", help="soundtrack from this file instead of the input's (e.g. for a live stream)"
    )
    g.add_argument(
        "--music", metavar="FILE", help="the soundtrack whose features (beat, onset, loudness, low, mid, high) "
        "schedules read (default: the input's own); it is also the output's soundtrack unless --audio"
    )
    g.add_argument("--quiet", action="store_true", default=None, help="no progress output")
    _add_vr_names(g)


def _add_render_options(p: argparse.ArgumentParser, *, out: bool = True) -> None:
    g = p.add_argument_group("render options")
    if out:
        g.add_argument("--out", required=True, metavar="DIR", help="folder for frame_%%06d.png and render.json")
        g.add_argument("--force", action="store_true", help="render into a DIR made from another source or settings (its frames are removed first)")
    g.add_argument("--preroll", type=int, metavar="K", help="frames dreamed before each range, not written (default 8; 0: none)")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), metavar="8|16", help="PNG bits per sample (8)")


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
    _add_vr_names(p.add_argument_group("output options"))
    _add_memory_force(p)

    p = sub.add_parser("dream", help="dream a video, a stream (- for stdin/stdout) or a URL")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT")
    _add_dream_options(p)
    _add_video_options(p)
    p.add_argument(
        "--live",
        action="store_true",
        default=None,
        help="real time: drop input frames rather than fall behind; report latency (preset live unless --preset)",
    )
    p.add_argument(
        "--live-timeout",
        type=float,
        metavar="S",
        help="with --live: a stream input that sends nothing for S seconds has ended (default 5; 0: wait for ever)",
    )

    _add_memory_force(p)

    p = sub.add_parser("animate", help="animate a still (or a video's last frame): each frame the last dream moved and dreamed more")
    p.add_argument("input", metavar="INPUT", help="a still image, 360° too, or a video (its last frame)")
    p.add_argument("output", metavar="OUTPUT", help="the video")
    g = p.add_argument_group("motion options (per frame; each a number or a schedule)")
    g.add_argument("--length", type=int, metavar="N", help="frames (default: as long as --music)")
    g.add_argument("--rate", metavar="FPS", help="frames per second, e.g. 30000/1001 (default 30)")
    g.add_argument("--zoom", type=number_or_schedule, metavar="S|SCHED", help="scale a frame, e.g. 1.02 moves in (flat)")
    g.add_argument("--angle", type=number_or_schedule, metavar="DEG|SCHED", help="turn a frame counter-clockwise (flat)")
    g.add_argument("--translation-x", type=number_or_schedule, metavar="PX|SCHED", help="shift a frame right (flat)")
    g.add_argument("--translation-y", type=number_or_schedule, metavar="PX|SCHED", help="shift a frame down (flat)")
    g.add_argument("--yaw", type=number_or_schedule, metavar="DEG|SCHED", help="turn the 360° camera right")
    g.add_argument("--pitch", type=number_or_schedule, metavar="DEG|SCHED", help="turn the 360° camera up")
    g.add_argument("--roll", type=number_or_schedule, metavar="DEG|SCHED", help="roll the 360° camera clockwise")
    _add_dream_options(p)
    g = p.add_argument_group("video options")
    g.add_argument(
        "--carry", type=number_or_schedule, metavar="F|SCHED",
        help="share of the last frame's moved detail carried (0.85; the rest is dreamed afresh, which keeps it crisp)",
    )  # fmt: skip
    g.add_argument(
        "--refine-steps", type=number_or_schedule, metavar="N|SCHED", help="steps per octave for each moved frame (1)"
    )
    g.add_argument("--music", metavar="FILE", help="the soundtrack: muxed in, and read by schedules (beat, onset, ...)")
    g.add_argument("--codec", choices=CODECS, help="output codec (default h264)")
    g.add_argument("--crf", type=int, metavar="N", help="constant rate factor (quality; lower is better)")
    g.add_argument("--json-report", metavar="PATH", help="write the scheduled values, structure and sharpness per frame here")
    g.add_argument("--quiet", action="store_true", default=None, help="no progress output")

    p = sub.add_parser("render", help="dream a frame range into DIR/frame_%%06d.png (resumable; for farms)")
    p.add_argument("input", metavar="INPUT")
    _add_render_options(p)
    _add_dream_options(p)
    _add_video_options(p)

    p = sub.add_parser("assemble", help="encode a rendered PNG sequence with the source's timing and audio")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("output", metavar="OUTPUT")
    p.add_argument("--source", metavar="INPUT", help="the source video (default: the one recorded in DIR)")
    p.add_argument("--frames", metavar="A-B", help="the span to encode (default: first to last frame in DIR)")
    p.add_argument("--codec", choices=CODECS, help="output codec (default: the render's, else h264)")
    p.add_argument("--crf", type=int, metavar="N", help="constant rate factor (default: the render's)")
    p.add_argument(
        "--final-frames", metavar="DIR2",
        help="write the final PNG sequence (joins faded in, the film's pixels) here instead of back into DIR",
    )

    p = sub.add_parser("farm", help="split a dream over machines: OpenJD job bundles, Ray")
    farm = p.add_subparsers(dest="farm_command", metavar="RUNNER", parser_class=_Parser)
    farm.required = True
    f = farm.add_parser("openjd", help="write an Open Job Description job bundle (template.yaml)")
    f.add_argument("input", metavar="INPUT")
    f.add_argument("output", metavar="OUTPUT")
    f.add_argument("--chunk", type=int, required=True, metavar="N", help="frames per task")
    f.add_argument("--bundle", required=True, metavar="DIR", help="folder to write the bundle into")
    _add_render_options(f, out=False)
    _add_dream_options(f)
    _add_video_options(f)
    f = farm.add_parser("ray", help="render the chunks as Ray tasks, then assemble")
    f.add_argument("input", metavar="INPUT")
    f.add_argument("output", metavar="OUTPUT")
    f.add_argument("--chunk", type=int, required=True, metavar="N", help="frames per task")
    f.add_argument(
        "--address", metavar="HOST:PORT",
        help="a Ray cluster's head (default: a local instance of this job's own, whatever Ray recorded); "
        "with token authentication set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN",
    )
    f.add_argument(
        "--gpus-per-task", type=float, metavar="N",
        help="GPUs each chunk's task asks Ray for (0: CPU tasks; default 1 where the cluster has GPUs, else 0)",
    )
    f.add_argument("--retries", type=int, metavar="N", help="times a failed chunk is tried again (default 2)")
    f.add_argument("--work", metavar="DIR", help="where the frames go (default: OUTPUT's name + .frames)")
    _add_render_options(f, out=False)
    _add_dream_options(f)
    _add_video_options(f)
    f = farm.add_parser("status", help="chunks done and frames rendered in DIR (the chunks the job's renders recorded)")
    f.add_argument("folder", metavar="DIR")
    f.add_argument("--frames", metavar="A-B", help="the job's frame range: also list the frames no chunk has started")
    f.add_argument("--chunk", type=int, metavar="N", help="frames per task, to cut the frames no chunk has started")

    p = sub.add_parser("music", help="the music features schedules can read: per frame, with the beats; a plot")
    p.add_argument("file", metavar="FILE", help="anything with a soundtrack that FFmpeg reads")
    p.add_argument("--rate", metavar="FPS", help="one row per frame at this rate, e.g. 30000/1001 (default: FILE's video rate, else 30)")
    p.add_argument("--plot", metavar="PNG", help="draw the features over time, beats marked")
    p.add_argument(
        "--dreamed", metavar="VIDEO", help="a dream of FILE: draw its measured strength per frame under the features"
    )
    p.add_argument("--json", action="store_true", help="print JSON: beats, tempo, and the features of each frame")

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
    p.add_argument(
        "--projection",
        choices=("auto", "flat", "equirect"),
        default="auto",
        help="equirect adds the seam ratio and pole streak scores (auto: for 2:1 frames)",
    )
    p.add_argument("--frames", metavar="A-B", help="the source frames the dream was made from (its --frames)")
    p.add_argument("--report", metavar="JSON", help="the dream's --json-report: its frame range and size")

    p = sub.add_parser("preview", help="contact sheet: source above dream for a few frames, or one frame per layer")
    p.add_argument("input", metavar="INPUT", help="a video file or a still image")
    p.add_argument("output", metavar="PNG", help="the sheet (an image; format from the extension)")
    g = p.add_argument_group("preview options")
    g.add_argument("--count", type=int, metavar="N", help="frames spread across the clip (default 4)")
    g.add_argument("--layers-sheet", action="store_true", help="dream one frame once per layer of the model")
    g.add_argument("--frame", type=int, metavar="N", help="the frame for --layers-sheet (default: the middle)")
    g.add_argument("--frames", metavar="A-B", help="pick the frames from A to B only (inclusive, 0-based)")
    g.add_argument("--width", type=int, metavar="W", help="dream at this width (aspect kept; default the source's)")
    g.add_argument("--size", metavar="WxH", help="dream at this size")
    _add_dream_options(p)

    p = sub.add_parser("view", help="look around a 360° photo or video in the browser (local page)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (default 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="only print the address; open no browser")
    p.add_argument("--projection", choices=("equirect", "flat"), help="show as (default: from metadata, else 2:1 = equirect)")
    p.add_argument("--stereo", choices=("none", "top-bottom", "left-right"), help="stereo layout; one eye is shown")
    for p in sub.choices.values():
        _add_debug(p)
    for f in farm.choices.values():
        _add_debug(f)
    return parser
