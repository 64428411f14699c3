"""Bad inputs to the one decode path, each a real file written by the test."""
import io

import numpy as np
import pytest
from PIL import Image

from liqe_lib.crops import eval_crops
from liqe_lib.data.images import ImageDecodeError, load_rgb


def _gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], axis=2), mode="RGB")


def test_truncated_jpeg_raises_typed_error_naming_the_path(tmp_path):
    buffer = io.BytesIO()
    _gradient(256, 256).save(buffer, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match="cut.jpg") as err:
        load_rgb(path)
    assert err.value.source == str(path)


def test_text_file_named_jpg_raises_typed_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_rgb(path)


def test_missing_file_raises_typed_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="gone.png"):
        load_rgb(tmp_path / "gone.png")


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(path, "JPEG", quality=95)  # pure red in CMYK
    image = load_rgb(path)
    assert image.mode == "RGB" and image.size == (40, 30)
    r, g, b = np.asarray(image)[15, 20]
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_scaled_to_8_bits_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    ramp = np.linspace(0, 65535, 50 * 40).reshape(40, 50).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_rgb(path))
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 50, 3)
    assert pixels.min() == 0 and pixels.max() == 255 and len(np.unique(pixels[..., 0])) > 200


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 255] + [255, 0, 0] * 255)
    image.paste(1, (10, 0, 20, 10))
    image.info["transparency"] = 0  # index 0 (blue) is fully transparent
    image.save(path, transparency=0)
    pixels = np.asarray(load_rgb(path))
    assert tuple(pixels[5, 2]) == (255, 255, 255)  # transparent -> white, not blue
    assert tuple(pixels[5, 15]) == (255, 0, 0)


def test_small_100x80_image_is_read_and_upscaled_for_crops(tmp_path):
    path = tmp_path / "small.png"
    _gradient(100, 80).save(path)
    image = load_rgb(path)
    assert image.size == (100, 80)
    crops = eval_crops(image)
    assert crops.shape == (15, 3, 224, 224)


def test_exif_rotated_jpeg_is_seen_upright(tmp_path):
    path = tmp_path / "rotated.jpg"
    stored = Image.new("RGB", (60, 30), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 30, 30))  # white on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    stored.save(path, "JPEG", quality=95, exif=exif)
    image = load_rgb(path)
    assert image.size == (30, 60)
    pixels = np.asarray(image).mean(axis=2)
    assert pixels[:30].mean() > 200 and pixels[30:].mean() < 50  # stored left is displayed on top


def test_greyscale_and_alpha_modes_become_rgb(tmp_path):
    for mode, colour in (("L", 128), ("LA", (128, 255)), ("RGBA", (10, 20, 30, 255)), ("I;16", 30000)):
        path = tmp_path / f"{mode.replace(';', '_')}.png"
        Image.new(mode, (8, 8), colour).save(path)
        assert load_rgb(path).mode == "RGB", mode


def test_decompression_bomb_raises_typed_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 pixels > 2 x 1000
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_rgb(path)
