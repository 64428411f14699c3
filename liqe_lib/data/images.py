"""One decode path for every image the project reads.

Whatever the file holds (EXIF rotation, grey, palette with transparency, alpha,
CMYK, 16-bit), the rest of the project sees an 8-bit RGB PIL image, or an
`ImageDecodeError` that names the path and the reason. Nothing is silently
dropped: callers that skip unreadable files count them.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

ImageSource = Union[str, os.PathLike, bytes, Image.Image]


class ImageDecodeError(ValueError):
    """An image could not be read: truncated, not an image, or too large."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"cannot read image {source}: {reason}")
        self.source = source
        self.reason = reason


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if image.mode.startswith("I") and array.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(array * scale + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(source: ImageSource, name: str | None = None) -> Image.Image:
    """Decode `source` (a path, encoded bytes or a PIL image) into an 8-bit RGB image.

    EXIF orientation is applied, so a photo is seen the way a viewer shows it.
    Raises `ImageDecodeError` for truncated or non-image data and for images over
    twice Pillow's `Image.MAX_IMAGE_PIXELS` (a decompression bomb, not a photograph;
    images between one and two times the limit, huge scans, are read).
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<image>")
    if isinstance(source, Image.Image):
        return _to_rgb(ImageOps.exif_transpose(source))
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(Path(source), "rb")
    except OSError as err:
        raise ImageDecodeError(label, err.strerror or str(err)) from err
    with handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(handle)
                image.load()
        except Image.DecompressionBombError as err:
            raise ImageDecodeError(label, f"decompression bomb: {err}") from err
        except Image.UnidentifiedImageError as err:
            raise ImageDecodeError(label, "not an image file Pillow can identify") from err
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageDecodeError(label, f"corrupt or truncated image data ({err})") from err
    return _to_rgb(ImageOps.exif_transpose(image))
