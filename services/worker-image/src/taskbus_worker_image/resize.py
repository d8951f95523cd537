"""Resizing one image: bytes in, encoded rendition out (pure, no I/O, safe on hostile input).

Pillow's pixel limit guards against decompression bombs: ``configure_pillow`` sets it and makes
its warning an error, and ``resize_image`` also checks the header's size itself before decoding.
"""

import io
import math
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

Size = tuple[int, int]
Mode = Literal["fit", "fill"]
OutputFormat = Literal["JPEG", "PNG", "WEBP"]

# Formats Pillow may open; everything else is refused before any decoder runs.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")

CONTENT_TYPES: dict[OutputFormat, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
# zlib level 3 writes thumbnails about three times faster than the default 6, ~14 % larger.
_SAVE_OPTIONS: dict[OutputFormat, dict[str, int]] = {
    "JPEG": {"quality": 85},
    "PNG": {"compress_level": 3},
    "WEBP": {"quality": 80},
}
# EXIF orientations 5 to 8 turn the picture a quarter: width and height swap on display.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112


class ImageRejected(Exception):
    """The input is not an image this worker will decode: unreadable, not allowed or too big."""


@dataclass(frozen=True, slots=True)
class ResizeSpec:
    width: int
    height: int
    mode: Mode
    format: OutputFormat


@dataclass(frozen=True, slots=True)
class Rendition:
    data: bytes
    width: int
    height: int
    format: OutputFormat

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def configure_pillow(max_pixels: int) -> None:
    """Process-wide: images above ``max_pixels`` are refused as decompression bombs."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def fit_size(source: Size, box: Size) -> Size:
    """The largest size with ``source``'s aspect ratio inside ``box``."""
    scale = min(box[0] / source[0], box[1] / source[1])
    return max(1, round(source[0] * scale)), max(1, round(source[1] * scale))


def fill_crop(source: Size, box: Size) -> tuple[float, float, float, float]:
    """The centred region of ``source`` with ``box``'s aspect ratio, to scale onto the box."""
    scale = max(box[0] / source[0], box[1] / source[1])
    width, height = box[0] / scale, box[1] / scale
    left, top = (source[0] - width) / 2, (source[1] - height) / 2
    return left, top, left + width, top + height


def _covering_size(source: Size, box: Size, mode: Mode) -> Size:
    """The smallest size the source may be decoded at and still fill the output."""
    if mode == "fit":
        return fit_size(source, box)
    scale = max(box[0] / source[0], box[1] / source[1])
    return math.ceil(source[0] * scale), math.ceil(source[1] * scale)


def _check_pixels(image: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = image.width * image.height
    if limit is not None and pixels > limit:
        raise ImageRejected(
            f"image is {image.width}x{image.height} = {pixels:,} pixels; the limit is {limit:,}"
        )


def _draft(image: Image.Image, spec: ResizeSpec) -> None:
    """Let the JPEG decoder scale down by 1/2 to 1/8 itself: much faster, far less memory."""
    if image.format != "JPEG":
        return
    box = (spec.width, spec.height)
    if image.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
        box = (spec.height, spec.width)
    image.draft(None, _covering_size(image.size, box, spec.mode))


def _working_mode(image: Image.Image) -> Image.Image:
    """RGB, L or RGBA: the modes that resample well and that every output format takes."""
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if transparent:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: transparent areas become white rather than black."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def _resized(image: Image.Image, spec: ResizeSpec) -> Image.Image:
    box = (spec.width, spec.height)
    if spec.mode == "fit":
        return image.resize(fit_size(image.size, box), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image.resize(
        box, Image.Resampling.LANCZOS, box=fill_crop(image.size, box), reducing_gap=3.0
    )


def _decode_and_resize(data: bytes, spec: ResizeSpec) -> tuple[Image.Image, bytes | None]:
    """The resized image, and the colour profile that still describes its pixels, if any."""
    with Image.open(io.BytesIO(data), formats=INPUT_FORMATS) as image:
        _check_pixels(image)
        _draft(image, spec)
        # A phone's Display P3 profile must travel with its RGB pixels or colours go dull;
        # after a mode conversion (CMYK, grey, palette) the source's profile no longer fits.
        profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
        # In place: otherwise an image already upright is copied whole, doubling the memory
        # a large PNG takes (a 100 MP PNG: 1,047 MB peak RSS with the copy, 666 MB without).
        ImageOps.exif_transpose(image, in_place=True)
        resized = _resized(_working_mode(image), spec)
    return (_flatten(resized) if spec.format == "JPEG" else resized), profile


def image_size(data: bytes) -> tuple[int, int]:
    """The width and height of an image this worker produced (its header only is read)."""
    with Image.open(io.BytesIO(data), formats=tuple(CONTENT_TYPES)) as image:
        return image.size


def resize_image(data: bytes, spec: ResizeSpec) -> Rendition:
    """Decode ``data``, turn it upright, resize it as ``spec`` says and encode it.

    Raises ``ImageRejected`` for anything that is not an allowed, readable, reasonably sized
    image. Of the metadata only an RGB colour profile is carried over: no EXIF (location),
    no comments.
    """
    try:
        resized, profile = _decode_and_resize(data, spec)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        allowed = ", ".join(INPUT_FORMATS)
        raise ImageRejected(f"not an image in an allowed format ({allowed})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports unreadable or truncated input with any of these.
        raise ImageRejected(f"not a readable image: {exc}") from exc
    buffer = io.BytesIO()
    resized.save(buffer, spec.format, icc_profile=profile, **_SAVE_OPTIONS[spec.format])
    return Rendition(buffer.getvalue(), resized.width, resized.height, spec.format)
