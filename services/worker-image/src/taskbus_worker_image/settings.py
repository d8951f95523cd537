"""worker-image settings: the worker runtime's plus limits on what an input may cost."""

from pydantic import Field
from taskbus.worker import WorkerSettings


class ImageWorkerSettings(WorkerSettings):
    # Above Pillow's default (89 MP) so that a 100-megapixel photo is accepted; decoding one
    # such image takes about 4 bytes per pixel, which bounds a worker's memory per image.
    image_max_pixels: int = Field(120_000_000, ge=1, validation_alias="IMAGE_MAX_PIXELS")
    # Inputs are decoded from memory: an encoded image past this is refused before reading.
    image_max_input_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, validation_alias="IMAGE_MAX_INPUT_BYTES"
    )
