"""Deterministic synthetic photos: the seed's ``num_images`` input."""

import io
import random

from PIL import Image, ImageDraw

_SIZES = (
    (640, 480),
    (1024, 768),
    (1600, 1200),
    (1920, 1080),
    (1080, 1350),
    (1200, 1200),
    (2048, 1536),
    (800, 600),
)
# Bilinear is as smooth as the default bicubic on a gradient, at a fraction of the cost.
_SMOOTH = Image.Resampling.BILINEAR


def synthetic_image(index: int) -> bytes:
    """Image ``index`` of the synthetic set, as JPEG: gradients and shapes, 640 to 2048 px wide.

    The same index gives the same picture; sizes and aspect ratios vary so that both resize
    modes have something to do.
    """
    size = _SIZES[index % len(_SIZES)]
    rng = random.Random(index)
    image = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size, _SMOOTH),
            Image.radial_gradient("L").resize(size, _SMOOTH),
            Image.linear_gradient("L").rotate(rng.choice((90, 180, 270))).resize(size, _SMOOTH),
        ),
    )
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(6):
        left, top = rng.randrange(width), rng.randrange(height)
        box = (
            left,
            top,
            left + rng.randrange(20, width // 2),
            top + rng.randrange(20, height // 2),
        )
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour, outline=(0, 0, 0), width=4)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
