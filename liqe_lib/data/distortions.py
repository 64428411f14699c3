"""Distortion generators of the embedded synthetic dataset: one per distortion class, five levels each.

Each generator mirrors one of the synthetic types of KADID-10k / LIVE / CSIQ and is
recorded under that type's fine name from the 33 of the official label files, so a
synthetic row is labelled exactly like a real one (`vocab.FINE_TO_COARSE` gives its
class). Levels run from 1 (mildest) to 5 (strongest); the parameters were chosen so
that the pseudo-MOS falls monotonically with the level for every class. Every
generator is a pure function of (image, level, rng): the dataset's bytes depend only
on the seed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance
from scipy import ndimage

from ..vocab import FINE_TO_COARSE

LEVELS = 5

Generator = Callable[[Image.Image, float, np.random.Generator], Image.Image]


def _encode(image: Image.Image, fmt: str, **options) -> Image.Image:
    """Round-trip through an encoder: the artefacts are the codec's own."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def _image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="RGB")


def jpeg2000(image: Image.Image, ratio: float, rng: np.random.Generator) -> Image.Image:
    """OpenJPEG (via Pillow) at a fixed compression ratio: ringing and blur."""
    return _encode(image, "JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True)


def jpeg(image: Image.Image, quality: float, rng: np.random.Generator) -> Image.Image:
    """libjpeg (via Pillow) at a quality factor: blocking, 4:2:0 chroma loss."""
    return _encode(image, "JPEG", quality=int(quality))


def white_noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """Additive white Gaussian noise, independent per channel (sigma in 8-bit units)."""
    pixels = _pixels(image)
    return _image(pixels + rng.normal(0.0, sigma, pixels.shape))


def gaussian_blur(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """Isotropic Gaussian low-pass filter of standard deviation `sigma` pixels."""
    return _image(ndimage.gaussian_filter(_pixels(image), sigma=(sigma, sigma, 0), mode="reflect"))


def oversaturation(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    """Chroma amplified `factor` times around the grey of each pixel (KADID's colour saturation 2)."""
    return ImageEnhance.Color(image).enhance(factor)


def contrast(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    """Contrast reduced towards the image's mean grey (`factor` < 1)."""
    return ImageEnhance.Contrast(image).enhance(factor)


def brighten(image: Image.Image, gain: float, rng: np.random.Generator) -> Image.Image:
    """Exposure gain with clipping: highlights burn out, as in an overexposed photo."""
    return _image(_pixels(image) * gain)


def darken(image: Image.Image, gain: float, rng: np.random.Generator) -> Image.Image:
    """Exposure loss: shadows crushed into few 8-bit codes, as in an underexposed photo."""
    return _image(_pixels(image) * gain)


def pixelate(image: Image.Image, block: float, rng: np.random.Generator) -> Image.Image:
    """Box-downsample by `block`, then nearest-neighbour upsample to the original size."""
    small = image.resize((max(1, round(image.width / block)), max(1, round(image.height / block))), Image.BOX)
    return small.resize(image.size, Image.NEAREST)


def color_quantization(image: Image.Image, colours: float, rng: np.random.Generator) -> Image.Image:
    """Median-cut palette of `colours` entries, no dithering: banding and false contours."""
    return image.quantize(int(colours), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")


def mean_shift(image: Image.Image, shift: float, rng: np.random.Generator) -> Image.Image:
    """A constant added to every pixel (KADID's mean shift), towards mid-grey first.

    Bright images are shifted down and dark ones up, so the shift reads as a washed-out
    or murky cast (and stays apart from the clipping of `brighten` and `darken`), and one
    image is shifted the same way at every level.
    """
    pixels = _pixels(image)
    return _image(pixels + (-shift if pixels.mean() > 127.5 else shift))


@dataclass(frozen=True)
class Distortion:
    """A generator, the fine type name it is recorded under and its parameter at levels 1..5."""

    fine: str
    apply: Generator
    params: tuple[float, ...]

    @property
    def coarse(self) -> str:
        return FINE_TO_COARSE[self.fine]

    @property
    def slug(self) -> str:
        """File-name form of the fine type (`jpeg2000 compression` -> `jpeg2000-compression`)."""
        return self.fine.replace(" ", "-")

    def __call__(self, image: Image.Image, level: int, rng: np.random.Generator) -> Image.Image:
        if not 1 <= level <= len(self.params):
            raise ValueError(f"level {level} outside 1..{len(self.params)} for {self.fine!r}")
        return self.apply(image, self.params[level - 1], rng)


#: One generator per distortion class, in the order of `vocab.DISTORTIONS` (a test holds this).
GENERATORS: tuple[Distortion, ...] = (
    Distortion("jpeg2000 compression", jpeg2000, (24, 48, 96, 192, 384)),
    Distortion("jpeg compression", jpeg, (30, 15, 8, 4, 1)),
    Distortion("white noise", white_noise, (6, 12, 20, 32, 50)),
    Distortion("gaussian blur", gaussian_blur, (0.8, 1.5, 2.5, 4.0, 6.5)),
    Distortion("oversaturation", oversaturation, (1.6, 2.2, 3.0, 4.2, 6.0)),
    Distortion("contrast", contrast, (0.7, 0.5, 0.35, 0.23, 0.14)),
    Distortion("brighten", brighten, (1.25, 1.5, 1.85, 2.3, 3.0)),
    Distortion("darken", darken, (0.7, 0.5, 0.33, 0.2, 0.1)),
    Distortion("pixelate", pixelate, (3, 4, 6, 9, 13)),
    Distortion("color quantization", color_quantization, (48, 24, 12, 6, 3)),
    Distortion("shifting the mean", mean_shift, (15, 30, 50, 75, 105)),
)

