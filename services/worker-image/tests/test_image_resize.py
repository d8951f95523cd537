"""Resizing: geometry, formats, orientation, transparency and hostile input."""

import io
import struct
import warnings
import zlib

import pytest
from PIL import Image, ImageCms
from taskbus_worker_image.resize import ImageRejected, Mode, OutputFormat, ResizeSpec, resize_image

FORMATS: tuple[OutputFormat, ...] = ("JPEG", "PNG", "WEBP")


def _encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _colour(pixel: float | tuple[int, ...] | None) -> str:
    assert isinstance(pixel, tuple)
    red, _, blue = pixel[:3]
    if red > 200 and blue < 60:
        return "red"
    if blue > 200 and red < 60:
        return "blue"
    return f"neither: {pixel}"


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", [(1000, 500), (300, 900), (100, 50), (320, 200)])
def test_fit_keeps_the_aspect_ratio_inside_the_box(
    source: tuple[int, int], fmt: OutputFormat
) -> None:
    data = _encoded(Image.new("RGB", source, (10, 120, 200)), "JPEG")

    out = resize_image(data, ResizeSpec(320, 200, "fit", fmt))

    assert out.width <= 320
    assert out.height <= 200
    assert out.width == 320 or out.height == 200
    assert out.width / out.height == pytest.approx(source[0] / source[1], rel=0.02)
    decoded = _decoded(out.data)
    assert (decoded.format, decoded.size) == (fmt, (out.width, out.height))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", [(1000, 500), (300, 900), (100, 50)])
def test_fill_covers_the_box_exactly(source: tuple[int, int], fmt: OutputFormat) -> None:
    data = _encoded(Image.new("RGB", source, (10, 120, 200)))

    out = resize_image(data, ResizeSpec(320, 200, "fill", fmt))

    assert (out.width, out.height) == (320, 200)
    decoded = _decoded(out.data)
    assert (decoded.format, decoded.size) == (fmt, (320, 200))


def test_fill_crops_the_centre() -> None:
    source = Image.new("RGB", (900, 300), (255, 0, 0))
    source.paste((0, 0, 255), (300, 0, 600, 300))

    out = _decoded(resize_image(_encoded(source), ResizeSpec(90, 90, "fill", "PNG")).data)

    # Lanczos reads a few source pixels past the crop, so look just inside its edges.
    assert _colour(out.getpixel((4, 45))) == _colour(out.getpixel((85, 45))) == "blue"


@pytest.mark.parametrize("mode", ["fit", "fill"])
def test_exif_orientation_is_applied_before_resizing(mode: Mode) -> None:
    # Stored sideways: left half red, right half blue; orientation 6 turns it a quarter
    # clockwise on display, so upright it is 1200 x 2400 with red on top.
    stored = Image.new("RGB", (2400, 1200), (255, 0, 0))
    stored.paste((0, 0, 255), (1200, 0, 2400, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encoded(stored, "JPEG", exif=exif.tobytes(), quality=95)

    out = resize_image(data, ResizeSpec(100, 200, mode, "PNG"))

    assert (out.width, out.height) == (100, 200)
    upright = _decoded(out.data).convert("RGB")
    assert _colour(upright.getpixel((50, 20))) == "red"
    assert _colour(upright.getpixel((50, 180))) == "blue"
    assert "exif" not in _decoded(out.data).info


def test_transparency_becomes_white_in_jpeg_and_is_kept_in_png() -> None:
    data = _encoded(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))

    jpeg = _decoded(resize_image(data, ResizeSpec(32, 32, "fit", "JPEG")).data)
    png = _decoded(resize_image(data, ResizeSpec(32, 32, "fit", "PNG")).data)

    white, clear = jpeg.getpixel((16, 16)), png.getpixel((16, 16))
    assert isinstance(white, tuple)
    assert min(white) > 250
    assert png.mode == "RGBA"
    assert isinstance(clear, tuple)
    assert clear[3] == 0


def test_a_decompression_bomb_is_refused_without_decoding_it() -> None:
    with pytest.raises(ImageRejected, match="too large"):
        resize_image(_header_only_png(30_000, 30_000), ResizeSpec(320, 320, "fit", "JPEG"))


def test_an_image_over_the_pixel_limit_is_refused_even_if_pillow_only_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = _encoded(Image.new("RGB", (40, 40)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageRejected, match="the limit is 1,000"):
            resize_image(data, ResizeSpec(10, 10, "fit", "PNG"))
    with pytest.raises(ImageRejected, match="too large"):
        resize_image(data, ResizeSpec(10, 10, "fit", "PNG"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"name,amount\nada,1\n", "not an image in an allowed format"),
        (_encoded(Image.new("RGB", (8, 8)), "TIFF"), "not an image in an allowed format"),
        (_encoded(Image.new("RGB", (400, 400)), "JPEG")[:300], "not a readable image"),
    ],
    ids=["text", "tiff", "truncated-jpeg"],
)
def test_unreadable_or_disallowed_input_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        resize_image(data, ResizeSpec(32, 32, "fit", "PNG"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_rgb_colour_profile_travels_with_the_pixels(fmt: OutputFormat) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _encoded(Image.new("RGB", (100, 80)), "JPEG", icc_profile=profile)

    out = _decoded(resize_image(data, ResizeSpec(50, 50, "fit", fmt)).data)

    assert out.info.get("icc_profile") == profile
