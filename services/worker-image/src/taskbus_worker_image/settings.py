"""worker-image settings: the worker runtime's plus the decompression-bomb limit."""

from pydantic import Field
from taskbus.worker import WorkerSettings


class ImageWorkerSettings(WorkerSettings):
    # Above Pillow's default (89 MP) so that a 100-megapixel photo is accepted; decoding one
    # such image takes about 4 bytes per pixel, which bounds a worker's memory per image.
    image_max_pixels: int = Field(120_000_000, ge=1, validation_alias="IMAGE_MAX_PIXELS")
