"""An Open Job Description job bundle (``template.yaml``, ``jobtemplate-2023-09``) for a dream.

    Dream     one task per chunk of ``Frames`` (TASK_CHUNKING: ``CHUNK[INT]``, ``ChunkSize`` frames each),
              each running ``dreamvideo render INPUT --frames CHUNK --out FramesDir --preroll K …``
    Assemble  after every Dream task: ``dreamvideo assemble FramesDir Output --source Input --frames Frames``

Job parameters: ``Input``, ``Output``, ``FramesDir``, ``Frames``, ``ChunkSize``,
``Preroll``, ``BitDepth``, ``Python`` (the interpreter that has dreamvideo), and
one per dream/video option given, with the given value as its default. PATH
defaults are relative to the template's folder, as OpenJD requires; a path
outside the bundle gets no default and is given at submission (``-p Input=…``).
``FramesDir`` defaults to the output's frames folder (``film.mp4`` →
``film.frames``, as ``farm ray``) when the output is in the bundle, and is
required otherwise: a relative folder of its own would land in the worker's
session directory, which the job's session cleans up.
The same bundle is what AWS Deadline Cloud submits. No YAML library is
needed: the writer emits block YAML with JSON-quoted strings.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import ConfigError, MediaError
from ..io._util import check_writable_folder
from ..io.atomic import write_atomically
from .plan import frames_folder, parse_frame_ranges, plan_chunks, render_argv

__all__ = ["build_template", "write_bundle", "to_yaml"]

_PATH_OPTIONS = {"guide", "weights", "audio"}
_NOT_PARAMETERS = {"frames", "json_report", "quiet"}
_TYPES = {int: "INT", float: "FLOAT", str: "STRING"}


def parameter_name(option: str) -> str:
    """``octave_scale`` → ``OctaveScale`` (an OpenJD identifier)."""
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", option) if part)


def _relative_default(path: str, bundle: Path) -> str | None:
    """``path`` relative to the bundle folder when inside it, else None (OpenJD forbids other defaults)."""
    p, base = Path(path).resolve(), bundle.resolve()
    return p.relative_to(base).as_posix() if p.is_relative_to(base) else None


def _path_parameter(name: str, kind: str, flow: str, default: str | None, description: str) -> dict:
    param = {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow, "description": description}
    if default is not None:
        param["default"] = default
    return param


def build_template(
    source: str,
    output: str,
    bundle: Path,
    *,
    frames: str,
    chunk: int,
    preroll: int,
    bit_depth: int,
    options: dict[str, object],
) -> dict:
    """The job template as a dict (see the module docstring)."""
    ranges = parse_frame_ranges(frames)
    if len(ranges) != 1:
        raise ConfigError("farm openjd takes one frame range A-B")
    plan_chunks(ranges, chunk, preroll=preroll)  # checks --chunk and --preroll
    params = [
        _path_parameter("Input", "FILE", "IN", _relative_default(source, bundle), "the video to dream"),
        _path_parameter("Output", "FILE", "OUT", _relative_default(output, bundle), "the dreamed video"),
        _path_parameter(
            "FramesDir", "DIRECTORY", "OUT", _relative_default(str(frames_folder(output)), bundle),
            "where the chunks put frame_%06d.png (the final PNG sequence after Assemble); default beside Output",
        ),
        {"name": "Frames", "type": "STRING", "default": str(ranges[0]), "description": "frames A-B (0-based)"},
        {"name": "ChunkSize", "type": "INT", "default": chunk, "minValue": 1, "description": "frames per task"},
        {"name": "Preroll", "type": "INT", "default": preroll, "minValue": 0,
         "description": "frames dreamed before each chunk, not written"},
        {"name": "BitDepth", "type": "INT", "default": bit_depth, "allowedValues": [8, 16]},
        {"name": "Python", "type": "STRING", "default": "python3",
         "description": "the Python interpreter that has dreamvideo installed"},
    ]
    option_args: list[str] = []
    for option, value in options.items():
        if option in _NOT_PARAMETERS or value is None or value is False:
            continue
        if value is True:  # a flag (--strict, --vr-names): passed as given, not a parameter
            option_args.append(f"--{option.replace('_', '-')}")
            continue
        name = parameter_name(option)
        param: dict = {"name": name, "description": f"--{option.replace('_', '-')}"}
        relative = _relative_default(str(value), bundle) if option in _PATH_OPTIONS else None
        if relative is not None:
            param.update(type="PATH", objectType="FILE", dataFlow="IN", default=relative)
        else:
            param.update(type=_TYPES.get(type(value), "STRING"), default=value)
        params.append(param)
        option_args += [f"--{option.replace('_', '-')}", f"{{{{Param.{name}}}}}"]

    render = ["-m", "dreamvideo", *render_argv(
        "{{Param.Input}}", "{{Param.FramesDir}}", "{{Task.Param.Frame}}",
        preroll="{{Param.Preroll}}", bit_depth="{{Param.BitDepth}}", options=option_args,
    )]
    encode = [a for o in ("codec", "crf") if o in options for a in (f"--{o}", f"{{{{Param.{parameter_name(o)}}}}}")]
    assemble = [
        "-m", "dreamvideo", "assemble", "{{Param.FramesDir}}", "{{Param.Output}}",
        "--source", "{{Param.Input}}", "--frames", "{{Param.Frames}}", *encode,
    ]
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "extensions": ["TASK_CHUNKING"],
        "name": f"dreamvideo {Path(source).name}",
        "description": "DeepDream a video in chunks of frames, then assemble the film (written by dreamvideo farm openjd)",
        "parameterDefinitions": params,
        "steps": [
            {
                "name": "Dream",
                "parameterSpace": {
                    "taskParameterDefinitions": [
                        {
                            "name": "Frame",
                            "type": "CHUNK[INT]",
                            "range": "{{Param.Frames}}",
                            "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"},
                        }
                    ]
                },
                "script": {"actions": {"onRun": {"command": "{{Param.Python}}", "args": render}}},
            },
            {
                "name": "Assemble",
                "dependencies": [{"dependsOn": "Dream"}],
                "script": {"actions": {"onRun": {"command": "{{Param.Python}}", "args": assemble}}},
            },
        ],
    }


def write_bundle(
    source: str,
    output: str,
    bundle: str | os.PathLike,
    *,
    frames: str,
    chunk: int,
    preroll: int,
    bit_depth: int,
    options: dict[str, object],
) -> Path:
    """Write ``bundle/template.yaml`` (the folder is created); returns its path.

    Raises:
        ConfigError: a bad range, chunk size or pre-roll.
        MediaError: the bundle folder cannot be made.
    """
    bundle = Path(bundle)
    template = build_template(
        source, output, bundle, frames=frames, chunk=chunk, preroll=preroll, bit_depth=bit_depth, options=options
    )
    if bundle.exists() and not bundle.is_dir():
        raise MediaError(f"--bundle {bundle} is a file, not a folder")
    check_writable_folder(bundle)  # created with its parents if missing, as every output folder is
    path = bundle / "template.yaml"
    write_atomically(path, to_yaml(template))
    return path


def to_yaml(value: object, indent: int = 0) -> str:
    """Block YAML for dicts, lists, strings (JSON-quoted, valid YAML), numbers and booleans."""
    return "\n".join(_yaml_lines(value, indent)) + "\n"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(item) if not isinstance(item, (dict, list)) else '[]'}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines
