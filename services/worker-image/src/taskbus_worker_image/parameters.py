"""``image_processing`` parameters: uploaded images (or synthetic ones) and the thumbnail."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from taskbus import FileRef, accepts
from taskbus.parameters import (
    Parameters,
    default_to_synthetic,
    one_source_schema,
    refuse_both,
)

ImageFile = Annotated[
    FileRef, accepts("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp")
]


class ImageParameters(Parameters):
    model_config = ConfigDict(json_schema_extra=one_source_schema("file_ids", "num_images"))

    file_ids: list[ImageFile] | None = Field(None, min_length=1, max_length=500)
    num_images: int | None = Field(None, ge=1, le=100)
    target_width: int = Field(320, ge=1, le=10_000)
    target_height: int = Field(320, ge=1, le=10_000)
    mode: Literal["fit", "fill"] = "fit"
    format: Literal["JPEG", "PNG", "WEBP"] = "JPEG"

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return default_to_synthetic(data, "file_ids", "num_images", 1)

    @model_validator(mode="after")
    def _one_source(self) -> "ImageParameters":
        refuse_both(self, "file_ids", "num_images")
        return self
