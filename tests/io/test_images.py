import os
import struct

import cv2
import numpy as np
import pytest

from dreamvideo.errors import MediaError
from dreamvideo.io.images import StillImage, read_image, write_image


def _pixels(dtype, grey: bool, alpha: bool, h: int = 48, w: int = 64) -> np.ndarray:
    """Pixels as OpenCV stores them (BGR[A] or grey), in ``dtype``, with fine steps."""
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * 997 + y * 31) % (top + 1), (y * 1013 + x * 7) % (top + 1), ((x + y) * 4099) % (top + 1)]
    colour = np.stack(planes[:1] if grey else planes, axis=2).astype(dtype)
    if alpha:
        if grey:
            colour = np.repeat(colour, 3, axis=2)
        colour = np.dstack([colour, ((x * 37 + y * 11) % (top + 1)).astype(dtype)])
    return colour[:, :, 0] if colour.shape[2] == 1 else colour


def _smooth(grey: bool, alpha: bool, h: int = 48, w: int = 64) -> np.ndarray:
    """Gentle 8-bit gradients that lossy codecs keep well."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [x * 3 + 20, y * 4 + 10, (x + y) * 2 + 30]
    colour = np.stack(planes[:1] if grey else planes, axis=2).astype(np.uint8)
    if alpha:
        colour = np.dstack([colour, (x * 2 + y + 40).astype(np.uint8)])
    return colour[:, :, 0] if colour.shape[2] == 1 else colour


LOSSLESS = [
    (ext, dtype, grey, alpha)
    for ext in (".png", ".tif", ".tiff")
    for dtype in (np.uint8, np.uint16)
    for grey in (False, True)
    for alpha in (False, True)
]


@pytest.mark.parametrize("ext, dtype, grey, alpha", LOSSLESS)
def test_lossless_round_trip(tmp_path, ext, dtype, grey, alpha):
    pixels = _pixels(dtype, grey, alpha)
    src = tmp_path / f"src{ext}"
    assert cv2.imwrite(str(src), pixels)

    image = read_image(src)
    assert image.dtype == dtype
    assert image.grey == grey
    assert image.rgb.dtype == np.float32 and image.rgb.shape == (48, 64, 3)
    assert 0.0 <= image.rgb.min() and image.rgb.max() <= 1.0
    if alpha:
        np.testing.assert_array_equal(image.alpha, pixels[:, :, 3])
        assert image.alpha.dtype == dtype
    else:
        assert image.alpha is None

    out = tmp_path / f"out{ext}"
    write_image(out, image.rgb, like=image)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, pixels)  # 16-bit steps survive the float trip


@pytest.mark.parametrize("grey", [False, True])
def test_jpeg_round_trip(tmp_path, grey):
    pixels = _smooth(grey, False)
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), pixels, [cv2.IMWRITE_JPEG_QUALITY, 98])
    image = read_image(src)
    assert (image.dtype, image.grey, image.alpha) == (np.uint8, grey, None)
    out = tmp_path / "out.jpeg"
    write_image(out, image.rgb, like=image)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.shape == pixels.shape
    assert np.abs(back.astype(int) - pixels).mean() < 1.5


@pytest.mark.parametrize("alpha", [False, True])
def test_webp_round_trip(tmp_path, alpha):
    pixels = _smooth(False, alpha)
    src = tmp_path / "src.webp"
    cv2.imwrite(str(src), pixels, [cv2.IMWRITE_WEBP_QUALITY, 101])  # lossless
    image = read_image(src)
    assert image.dtype == np.uint8
    assert (image.alpha is not None) == alpha
    out = tmp_path / "out.webp"
    write_image(out, image.rgb, like=image)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.shape == pixels.shape
    assert np.abs(back[:, :, :3].astype(int) - pixels[:, :, :3]).mean() < 1.5
    if alpha:
        assert np.abs(back[:, :, 3].astype(int) - pixels[:, :, 3]).mean() < 1.5


def test_16_bit_goes_8_bit_in_8_bit_formats(tmp_path):
    pixels = _pixels(np.uint16, False, True)
    src = tmp_path / "src.png"
    cv2.imwrite(str(src), pixels)
    image = read_image(src)
    write_image(tmp_path / "out.webp", image.rgb, like=image)
    back = cv2.imread(str(tmp_path / "out.webp"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and back.shape == (48, 64, 4)
    assert np.abs(back[:, :, 3].astype(int) - (pixels[:, :, 3] / 257)).max() <= 1


def test_jpeg_drops_alpha_with_a_warning(tmp_path):
    src = tmp_path / "src.png"
    cv2.imwrite(str(src), _pixels(np.uint8, False, True))
    image = read_image(src)
    with pytest.warns(UserWarning, match="alpha"):
        write_image(tmp_path / "out.jpg", image.rgb, like=image)
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)


def test_write_without_like_takes_uint8_frames(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_image(tmp_path / "f.png", rgb)
    back = cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and back.shape == (10, 12, 3)
    assert (back[..., 2] == 200).all() and (back[..., :2] == 0).all()  # BGR on disk


def test_alpha_follows_a_resized_output(tmp_path):
    like = StillImage(
        rgb=np.zeros((20, 30, 3), np.float32),
        alpha=np.full((20, 30), 77, np.uint8),
        dtype=np.dtype(np.uint8),
        grey=False,
    )
    write_image(tmp_path / "big.png", np.zeros((40, 60, 3), np.float32), like=like)
    back = cv2.imread(str(tmp_path / "big.png"), cv2.IMREAD_UNCHANGED)
    assert back.shape == (40, 60, 4) and (back[:, :, 3] == 77).all()


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # white band on the left
    jpeg = cv2.imencode(".jpg", pixels)[1].tobytes()
    # An APP1 EXIF block with Orientation = 6 (turn 90° clockwise to view).
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    image = read_image(path)
    assert image.rgb.shape == (40, 20, 3)
    assert image.rgb[:10].mean() > 0.9 and image.rgb[-10:].mean() < 0.1  # the band is now on top


def test_unknown_extension_lists_the_supported_ones(tmp_path):
    with pytest.raises(MediaError) as info:
        write_image(tmp_path / "out.gif", np.zeros((4, 4, 3), np.uint8))
    assert ".png" in info.value.hint and ".webp" in info.value.hint and ".tiff" in info.value.hint
    assert not list(tmp_path.iterdir())


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(MediaError, match="cannot read"):
        read_image(tmp_path / "text.png")
    with pytest.raises(MediaError, match="folder"):
        read_image(tmp_path)


def test_unsupported_sample_type(tmp_path):
    cv2.imwrite(str(tmp_path / "float.tif"), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(MediaError, match="float32"):
        read_image(tmp_path / "float.tif")


def test_failed_write_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(MediaError, match="No space left"):
        write_image(out, np.zeros((8, 8, 3), np.uint8))
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp file left behind


def test_write_into_a_missing_folder(tmp_path):
    with pytest.raises(MediaError, match="cannot write"):
        write_image(tmp_path / "no" / "such" / "out.png", np.zeros((8, 8, 3), np.uint8))
