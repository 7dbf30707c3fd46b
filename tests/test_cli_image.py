"""`dreamvideo image` end to end: formats, bit depths, grey and alpha, seeds, errors.

Most runs call ``dreamvideo.cli.main`` in this process (the model loads in a
fraction of a second once torch is imported); a few run ``python -m dreamvideo``
as a subprocess to check what a user really sees: exit code, stdout, stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dreamvideo.cli import main
from dreamvideo.models import list_models

from .conftest import photo

FAST = ["--octaves", "2", "--steps", "3"]
SIZE = (128, 96)  # (w, h)

MAGIC = {
    ".png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
    ".jpg": lambda b: b[:3] == b"\xff\xd8\xff",
    ".jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    ".webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    ".tif": lambda b: b[:4] in (b"II*\x00", b"MM\x00*"),
    ".tiff": lambda b: b[:4] in (b"II*\x00", b"MM\x00*"),
}

# "dreamed IN -> OUT (energy(blocks.10): 74.05 -> 118.5, x1.60)"
RESULT_LINE = re.compile(r"dreamed (?P<src>.+) -> (?P<out>.+) \((?P<name>.+): (?P<before>\S+) -> (?P<after>\S+), x(?P<gain>\S+)\)")


# ---------------------------------------------------------------------------
# helpers


def run(capsys, *argv) -> tuple[int, str, str]:
    """``dreamvideo ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(*argv, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dreamvideo", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def rgb8() -> np.ndarray:
    return photo("chelsea", SIZE)


def rgb16() -> np.ndarray:
    """A 16-bit photo whose low byte varies: ``uint16 (H, W, 3)`` RGB."""
    h, w = SIZE[1], SIZE[0]
    y, x = np.mgrid[0:h, 0:w]
    low = ((x * 7 + y * 3) % 256).astype(np.uint16)
    return (rgb8().astype(np.uint16) << 8) | low[:, :, None]


def alpha_plane(dtype) -> np.ndarray:
    h, w = SIZE[1], SIZE[0]
    y, x = np.mgrid[0:h, 0:w]
    top = np.iinfo(dtype).max
    return ((x * 2003 + y * 977) % (top + 1)).astype(dtype)


def write(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """Write RGB (or grey when 2-D), optionally with alpha, through OpenCV (which stores BGR)."""
    pixels = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        pixels = np.dstack([pixels, alpha])
    assert cv2.imwrite(str(path), pixels), path
    return path


def read(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, f"{path} does not decode"
    return pixels


def levels8(pixels: np.ndarray) -> np.ndarray:
    """Samples on the 0-255 scale as float, whatever the bit depth."""
    return pixels.astype(np.float64) / (257.0 if pixels.dtype == np.uint16 else 1.0)


def colour(pixels: np.ndarray) -> np.ndarray:
    """The colour planes (drop alpha)."""
    return pixels[:, :, :3] if pixels.ndim == 3 else pixels


def parse_result(out: str) -> re.Match:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    m = RESULT_LINE.fullmatch(lines[0])
    assert m, lines[0]
    return m


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_one_error(code: int, out: str, err: str, *needles: str) -> None:
    """Exit 2, nothing on stdout, stderr = one ``error:`` line (+ optional ``hint:``), no traceback."""
    lines = err.strip("\n").splitlines()
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) <= 2, err
    if len(lines) == 2:
        assert lines[1].startswith("hint: "), err
    for needle in needles:
        assert needle in err, (needle, err)


# ---------------------------------------------------------------------------
# formats, bit depth, grey, alpha

# (input kind, output extension, expected output dtype, expected channels)
FORMATS = [
    ("rgb8.png", ".png", np.uint8, 3),
    ("rgb8.png", ".jpg", np.uint8, 3),
    ("rgb8.png", ".jpeg", np.uint8, 3),
    ("rgb8.png", ".webp", np.uint8, 3),
    ("rgb8.png", ".tif", np.uint8, 3),
    ("rgb8.png", ".tiff", np.uint8, 3),
    ("rgb8.jpg", ".png", np.uint8, 3),
    ("rgb16.png", ".png", np.uint16, 3),
    ("rgb16.tif", ".tif", np.uint16, 3),
    ("rgb16.png", ".tiff", np.uint16, 3),
    ("rgb16.png", ".jpg", np.uint8, 3),
    ("rgb16.png", ".webp", np.uint8, 3),
    ("grey8.png", ".png", np.uint8, 1),
    ("grey8.png", ".jpg", np.uint8, 1),
    ("grey16.png", ".tif", np.uint16, 1),
    ("rgba8.png", ".png", np.uint8, 4),
    ("rgba8.png", ".webp", np.uint8, 4),
    ("rgba8.png", ".tif", np.uint8, 4),
    ("rgba16.png", ".png", np.uint16, 4),
    ("rgba16.tif", ".tiff", np.uint16, 4),
]


def make_input(folder: Path, kind: str) -> tuple[Path, np.ndarray]:
    """Write the input ``kind`` (e.g. ``rgba16.png``); returns its path and pixels as OpenCV reads them."""
    stem, ext = kind.split(".")
    path = folder / f"in_{stem}.{ext}"
    base = rgb16() if stem.endswith("16") else rgb8()
    if stem.startswith("grey"):
        write(path, cv2.cvtColor(base, cv2.COLOR_RGB2GRAY))
    elif stem.startswith("rgba"):
        write(path, base, alpha_plane(base.dtype))
    else:
        write(path, base)
    return path, read(path)


@pytest.mark.parametrize("kind, ext, dtype, channels", FORMATS, ids=[f"{k}->{e}" for k, e, *_ in FORMATS])
def test_image_formats(tmp_path, capsys, kind, ext, dtype, channels):
    src, before = make_input(tmp_path, kind)
    out = tmp_path / f"out{ext}"

    code, stdout, stderr = run(capsys, "image", src, out, *FAST)

    assert code == 0, stderr
    assert MAGIC[ext](out.read_bytes()), f"{out.name} is not {ext}"
    after = read(out)
    assert after.dtype == dtype
    assert (after.shape[2] if after.ndim == 3 else 1) == channels
    assert after.shape[:2] == before.shape[:2]
    assert not list(tmp_path.glob(".*partial*")), "a temporary file was left behind"

    # A visible dream: several levels on the 8-bit scale on average.
    diff = np.abs(levels8(colour(after)) - levels8(colour(before))).mean()
    assert diff > 4, f"mean |diff| {diff:.2f} levels: the output barely changed"

    if channels == 4:
        expected_alpha = before[:, :, 3]
        if dtype == np.uint8 and expected_alpha.dtype == np.uint16:
            expected_alpha = ((expected_alpha.astype(np.uint32) + 128) // 257).astype(np.uint8)
        np.testing.assert_array_equal(after[:, :, 3], expected_alpha, err_msg="alpha did not pass through unchanged")

    if dtype == np.uint16:
        # The dream is written at 16-bit precision, not as an 8-bit image times 257.
        samples = colour(after)
        assert np.mean(samples % 257 != 0) > 0.9
        assert np.unique(samples).size > 1024

    m = parse_result(stdout)
    assert m["out"] == str(out)
    assert m["src"] == str(src)
    assert m["name"] == "energy(blocks.10)"
    assert float(m["before"]) > 0 and float(m["after"]) > 0
    assert float(m["gain"]) == pytest.approx(float(m["after"]) / float(m["before"]), abs=0.006)


def test_extension_case_does_not_matter(tmp_path, capsys):
    src = write(tmp_path / "in.png", rgb8())
    out = tmp_path / "OUT.JPG"
    code, stdout, stderr = run(capsys, "image", src, out, *FAST)
    assert code == 0, stderr
    assert MAGIC[".jpg"](out.read_bytes())
    assert parse_result(stdout)["out"] == str(out)


def test_rgba_to_jpeg_drops_alpha_with_one_warning(tmp_path, capsys):
    src, _ = make_input(tmp_path, "rgba8.png")
    out = tmp_path / "out.jpg"
    code, stdout, stderr = run(capsys, "image", src, out, *FAST)
    assert code == 0
    assert read(out).ndim == 3 and read(out).shape[2] == 3
    assert [line for line in stderr.splitlines() if line] == [
        "warning: JPEG has no alpha channel; out.jpg is written without it"
    ]
    assert parse_result(stdout)["out"] == str(out)


def test_gain_printed_is_the_gain_of_the_written_file(tmp_path, capsys, lite0):
    """The printed gain is DESIGN's objective gain: mean squared activation, output file over input file."""
    src = write(tmp_path / "in.png", rgb8())
    out = tmp_path / "out.png"
    code, stdout, _ = run(capsys, "image", src, out, "--octaves", "2", "--steps", "4")
    assert code == 0
    m = parse_result(stdout)
    measured = energy(lite0, out) / energy(lite0, src)
    assert float(m["gain"]) > 1.05, "the dream did not raise its own objective"
    assert float(m["gain"]) == pytest.approx(measured, rel=0.03)


def test_grey_output_gain_matches_the_file(tmp_path, capsys, lite0):
    """A grey input is written grey: the printed gain should describe that grey file."""
    src = write(tmp_path / "in.png", cv2.cvtColor(rgb8(), cv2.COLOR_RGB2GRAY))
    out = tmp_path / "out.png"
    code, stdout, _ = run(capsys, "image", src, out, "--octaves", "2", "--steps", "4")
    assert code == 0 and read(out).ndim == 2
    m = parse_result(stdout)
    measured = energy(lite0, out) / energy(lite0, src)
    assert float(m["gain"]) == pytest.approx(measured, rel=0.03)


def test_subprocess_image_run(tmp_path):
    """The real command: exit 0, one line on stdout naming the output and the gain, nothing on stderr."""
    src = write(tmp_path / "in.png", rgb8())
    out = tmp_path / "out.webp"
    result = run_subprocess("image", src, out, *FAST, "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    m = parse_result(result.stdout)
    assert m["out"] == str(out) and float(m["gain"]) > 0
    assert MAGIC[".webp"](out.read_bytes())


# ---------------------------------------------------------------------------
# the defaults make a visible dream


def energy(model, path: Path, layer: str | None = None) -> float:
    """Mean squared activation of ``layer`` (default: the model's) on the image file at ``path``."""
    from dreamvideo.dream import image_to_tensor
    from dreamvideo.io.images import read_image

    layer = layer or model.default_layer
    x = image_to_tensor(read_image(path).rgb)
    with torch.no_grad():
        return float(model.activations(x, [layer])[layer].pow(2).mean())


def test_defaults_make_a_visible_dream(tmp_path, capsys, lite0):
    src = write(tmp_path / "chelsea.png", photo("chelsea", (320, 240)))
    out = tmp_path / "dream.png"

    code, stdout, stderr = run(capsys, "image", src, out)

    assert code == 0, stderr
    assert lite0.default_layer == "blocks.10"
    gain = energy(lite0, out) / energy(lite0, src)
    assert gain >= 2.0, f"objective gain {gain:.2f} with the default settings"
    diff = np.abs(levels8(read(out)) - levels8(read(src))).mean()
    assert diff > 10, f"mean |diff| {diff:.2f} levels"
    assert float(parse_result(stdout)["gain"]) >= 2.0


# ---------------------------------------------------------------------------
# seeds


def test_seed_decides_the_dream(tmp_path, capsys):
    src = write(tmp_path / "in.png", rgb8())
    outs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        outs[name] = tmp_path / f"{name}.png"
        code, _, stderr = run(capsys, "image", src, outs[name], *FAST, "--seed", seed)
        assert code == 0, stderr
    a, b, c = (read(outs[k]) for k in "abc")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 0.5


# ---------------------------------------------------------------------------
# presets through the command line


def test_preset_value_used_and_flag_beats_preset(tmp_path, capsys):
    src = write(tmp_path / "in.png", rgb8())
    preset = tmp_path / "mine.toml"
    preset.write_text('description = "test"\n[dream]\noctaves = 2\nsteps = 2\nseed = 5\n[video]\nblend = 0.3\n')

    def dream(name, *argv):
        code, _, stderr = run(capsys, "image", src, tmp_path / name, *argv)
        assert code == 0, stderr
        return read(tmp_path / name)

    by_flags = dream("flags.png", "--octaves", "2", "--steps", "2", "--seed", "5")
    by_preset = dream("preset.png", "--preset", preset)
    np.testing.assert_array_equal(by_preset, by_flags)  # the preset's values were used

    by_flags_seed6 = dream("flags6.png", "--octaves", "2", "--steps", "2", "--seed", "6")
    by_preset_seed6 = dream("preset6.png", "--preset", preset, "--seed", "6")
    np.testing.assert_array_equal(by_preset_seed6, by_flags_seed6)  # the flag beat the preset
    assert not np.array_equal(by_preset_seed6, by_preset)


def test_named_preset_default(tmp_path, capsys):
    src = write(tmp_path / "in.png", rgb8())
    code, stdout, stderr = run(capsys, "image", src, tmp_path / "out.png", "--preset", "default", *FAST)
    assert code == 0, stderr
    assert parse_result(stdout)["out"] == str(tmp_path / "out.png")


# ---------------------------------------------------------------------------
# bad input: one error line, exit 2, nothing written

OLD_OUTPUT = "old.png"

# (id, argv with {in}, {out}, {dir} placeholders, substrings the stderr must hold)
BAD = [
    ("missing input", ["image", "{dir}/nope.png", "{out}"], ["nope.png"]),
    ("text file named png", ["image", "{dir}/text.png", "{out}"], ["text.png"]),
    ("input is a folder", ["image", "{dir}/folder", "{out}"], ["folder"]),
    ("unknown model", ["image", "{in}", "{out}", "--model", "nope"], ["nope", *list_models()]),
    ("unknown layer", ["image", "{in}", "{out}", "--layers", "blocks.99"], ["blocks.99", "blocks.15"]),
    ("octaves 0", ["image", "{in}", "{out}", "--octaves", "0"], ["--octaves"]),
    ("step-size -1", ["image", "{in}", "{out}", "--step-size", "-1"], ["--step-size"]),
    ("empty layers", ["image", "{in}", "{out}", "--layers", ""], ["--layers"]),
    ("channels 5-2", ["image", "{in}", "{out}", "--channels", "5-2"], ["--channels", "5-2"]),
    ("octave-scale 1", ["image", "{in}", "{out}", "--octave-scale", "1"], ["--octave-scale"]),
    ("steps 0", ["image", "{in}", "{out}", "--steps", "0"], ["--steps"]),
    ("tile 8", ["image", "{in}", "{out}", "--tile", "8"], ["--tile"]),
    ("channel out of range", ["image", "{in}", "{out}", *FAST, "--channels", "5000"], ["5000"]),
    ("logit out of range", ["image", "{in}", "{out}", *FAST, "--logit", "5000"], ["5000"]),
    ("unknown output extension", ["image", "{in}", "{dir}/old.bmp", *FAST], [".bmp", ".png"]),
    ("no output extension", ["image", "{in}", "{dir}/old", *FAST], ["old"]),
    ("output folder is a file", ["image", "{in}", "{in}/out.png", *FAST], ["in.png", "not a folder"]),
    ("unknown preset", ["image", "{in}", "{out}", "--preset", "nope"], ["nope", "default"]),
    ("bad preset file", ["image", "{in}", "{out}", "--preset", "{dir}/bad.toml"], ["bad.toml"]),
    ("preset value of the wrong type", ["image", "{in}", "{out}", "--preset", "{dir}/typed.toml"], ["octaves"]),
    ("missing weights file", ["image", "{in}", "{out}", "--weights", "{dir}/none.pth"], ["none.pth"]),
    ("weights not a state dict", ["image", "{in}", "{out}", "--weights", "{dir}/text.png"], ["text.png"]),
    ("missing guide", ["image", "{in}", "{out}", *FAST, "--guide", "{dir}/guide.png"], ["guide.png"]),
    ("output is the input", ["image", "{in}", "{in}", *FAST], ["in.png"]),
    ("output is the input, spelt differently", ["image", "{in}", "{dir}/./in.png", *FAST], ["in.png"]),
    ("output is a link to the input", ["image", "{in}", "{dir}/link.png", *FAST], ["link.png"]),
    ("unknown flag", ["image", "{in}", "{out}", "--bogus"], ["--bogus"]),
    ("missing output argument", ["image", "{in}"], ["OUTPUT"]),
    ("option without its value", ["image", "{in}", "{out}", "--octaves"], ["--octaves"]),
    ("option value not an integer", ["image", "{in}", "{out}", "--octaves", "two"], ["--octaves", "two"]),
    ("bad choice", ["image", "{in}", "{out}", "--device", "tpu"], ["--device", "tpu"]),
    ("no command", [], ["COMMAND"]),
    ("unknown command", ["paint"], ["paint"]),
    pytest.param(
        "cuda without a GPU",
        ["image", "{in}", "{out}", "--device", "cuda"],
        ["cuda"],
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
    ),
]


def _bad_case_ids(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.fixture
def bad_input_dir(tmp_path) -> Path:
    write(tmp_path / "in.png", rgb8())
    write(tmp_path / OLD_OUTPUT, rgb8()[::-1])
    (tmp_path / "old.bmp").write_bytes(b"BM an old file that must survive")
    (tmp_path / "old").write_bytes(b"an old file that must survive")
    (tmp_path / "text.png").write_text("this is not an image\n")
    (tmp_path / "bad.toml").write_text("[dream\noctaves = \n")
    (tmp_path / "typed.toml").write_text('[dream]\noctaves = "3"\n')
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.png").symlink_to(tmp_path / "in.png")
    return tmp_path


@pytest.mark.parametrize("name, argv, needles", BAD, ids=[_bad_case_ids(c) for c in BAD])
def test_bad_input(bad_input_dir, capsys, name, argv, needles):
    folder = bad_input_dir
    fill = {"in": str(folder / "in.png"), "out": str(folder / OLD_OUTPUT), "dir": str(folder)}
    argv = [a.format(**fill) for a in argv]
    before = snapshot(folder)

    code, out, err = run(capsys, *argv)

    assert_one_error(code, out, err, *needles)
    assert snapshot(folder) == before, "an existing file changed, or a new file was left behind"
    assert not (folder / "nodir").exists()


def test_bad_input_subprocess(tmp_path):
    """A library error in a real process: exit 2, one error line and a hint, no traceback, output untouched."""
    src = write(tmp_path / "in.png", rgb8())
    old = write(tmp_path / "old.png", rgb8()[::-1]).read_bytes()
    result = run_subprocess("image", src, tmp_path / "old.png", "--layers", "blocks.99")
    assert_one_error(result.returncode, result.stdout, result.stderr, "blocks.99")
    assert len(result.stderr.strip().splitlines()) == 2  # the hint lists the layers
    assert (tmp_path / "old.png").read_bytes() == old


def test_fast_compile_without_a_compiler_is_a_user_error(tmp_path):
    """--fast compile on a CPU with no working C++ compiler (inductor needs one): exit 2, one
    error line and a hint, output untouched."""
    src = write(tmp_path / "in.png", rgb8())
    old = write(tmp_path / "old.png", rgb8()[::-1]).read_bytes()
    env = {"CXX": str(tmp_path / "no-such-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    result = run_subprocess("image", src, tmp_path / "old.png", "--fast", "compile", "--steps", "1", "--device", "cpu", env=env)
    assert_one_error(result.returncode, result.stdout, result.stderr, "--fast compile failed")
    assert "drop compile from --fast" in result.stderr
    assert (tmp_path / "old.png").read_bytes() == old


def test_argparse_error_subprocess(tmp_path):
    result = run_subprocess("image", "in.png", "out.png", "--no-such-flag", cwd=tmp_path)
    assert_one_error(result.returncode, result.stdout, result.stderr, "--no-such-flag")
    assert not (tmp_path / "out.png").exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "--debug", "image", tmp_path / "nope.png", tmp_path / "out.png")
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("error: ")
