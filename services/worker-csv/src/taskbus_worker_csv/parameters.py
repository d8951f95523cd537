"""``csv_processing`` parameters: an uploaded CSV or synthetic rows."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from taskbus import FileRef, accepts
from taskbus.parameters import (
    Parameters,
    default_to_synthetic,
    one_source_schema,
    refuse_both,
)

CsvFile = Annotated[
    FileRef,
    # Excel's type is listed because Windows browsers send it for every .csv file.
    accepts("text/csv", "text/plain", "text/tab-separated-values", "application/vnd.ms-excel"),
]


class CsvParameters(Parameters):
    model_config = ConfigDict(json_schema_extra=one_source_schema("file_id", "num_rows"))

    file_id: CsvFile | None = Field(None, description="An uploaded CSV (POST /api/files).")
    num_rows: int | None = Field(
        None, ge=1, le=5_000_000, description="Rows of deterministic synthetic data."
    )
    seed: int = Field(0, description="Seed of the synthetic data.")
    processing_time: float = Field(0.0, ge=0, le=3600, description="Pacing, in seconds.")
    # None, not ",": a default would be stored with the task and the file never sniffed.
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="Guessed from the file when not given."
    )
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    has_header: bool = True

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return default_to_synthetic(data, "file_id", "num_rows", 1000)

    @model_validator(mode="after")
    def _one_source(self) -> "CsvParameters":
        refuse_both(self, "file_id", "num_rows")
        return self
