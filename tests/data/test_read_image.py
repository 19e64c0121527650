"""read_image: 8/16-bit, grey/RGB/RGBA images to grey float32 in [0, 1]; unreadable = one DataFormatError."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpdesc.data.sequences import read_image
from hpdesc.errors import DataFormatError


def _ramp16(h=12, w=40):
    return (np.arange(h * w, dtype=np.float64).reshape(h, w) * 65535 / (h * w - 1)).round().astype(np.uint16)


def test_16bit_grey_png_keeps_its_precision(tmp_path):
    img = _ramp16()
    cv2.imwrite(str(tmp_path / "a.png"), img)
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, img / 65535.0, atol=1e-6)  # 8-bit reading is off by up to 1/255


def test_16bit_colour_png_scaled_by_65535(tmp_path):
    g = _ramp16()
    cv2.imwrite(str(tmp_path / "a.png"), cv2.merge([g, g, g]))
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), g / 65535.0, atol=1e-5)


def _write_p5(path, img, maxval):
    """A binary single-channel PNM (P5; big-endian 16-bit samples when maxval > 255)."""
    data = img.astype(">u2").tobytes() if maxval > 255 else img.astype(np.uint8).tobytes()
    path.write_bytes(b"P5\n%d %d\n%d\n" % (img.shape[1], img.shape[0], maxval) + data)


@pytest.mark.parametrize("ext", [".ppm", ".pgm", ".png"])
def test_single_channel_8bit(tmp_path, ext):
    img = np.random.default_rng(0).integers(0, 256, (9, 13)).astype(np.uint8)
    if ext == ".png":
        cv2.imwrite(str(tmp_path / f"a{ext}"), img)
    else:  # a grey PNM (P5) named .ppm, as some tools write it; OpenCV only writes P6 to .ppm
        _write_p5(tmp_path / f"a{ext}", img, 255)
    out = read_image(tmp_path / f"a{ext}")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img / 255.0, atol=1e-6)


def test_16bit_single_channel_pnm(tmp_path):
    img = _ramp16(7, 9)
    _write_p5(tmp_path / "a.ppm", img, 65535)
    np.testing.assert_allclose(read_image(tmp_path / "a.ppm"), img / 65535.0, atol=1e-6)


def test_rgb_to_grey_uses_the_usual_weights(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 200  # red
    bgr[..., 1] = 100
    cv2.imwrite(str(tmp_path / "a.ppm"), bgr)
    expected = (0.299 * 200 + 0.587 * 100) / 255.0
    np.testing.assert_allclose(read_image(tmp_path / "a.ppm"), expected, atol=1.0 / 255)


def test_rgba_alpha_is_dropped(tmp_path):
    bgra = np.zeros((6, 7, 4), np.uint8)
    bgra[..., :3] = 120
    bgra[..., 3] = np.arange(7, dtype=np.uint8) * 40  # a varying alpha must not change the grey value
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), 120 / 255.0, atol=1e-6)


def test_rgba_16bit(tmp_path):
    g = _ramp16(5, 8)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.merge([g, g, g, np.full_like(g, 7)]))
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), g / 65535.0, atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"P6\n garbage", b"not an image at all"])
def test_unreadable_file_is_one_clear_error(tmp_path, content):
    p = tmp_path / "1.ppm"
    p.write_bytes(content)
    with pytest.raises(DataFormatError, match=r"1\.ppm.*cannot read image"):
        read_image(p)


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_image(tmp_path / "nope.png")
