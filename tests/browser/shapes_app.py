"""A task type whose parameters use what the dice do not: an enum, a Literal, lists, a nested
model, an optional one, an optional flag. Its result is a list of objects beside an object.

Served by test_own_task_type_form.py with ``taskbus worker shapes_app:app``.
"""

from enum import StrEnum
from typing import Any, Literal

import taskbus
from pydantic import BaseModel, Field

app = taskbus.TaskApp("shapes")


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Size(BaseModel):
    width: int = Field(1, ge=1, le=100)
    height: int = Field(1, ge=1, le=100)


class ShapeIn(BaseModel):
    colour: Colour = Colour.RED
    kind: Literal["square", "circle"] = "square"
    tags: list[str] = Field(default_factory=list, description="Words to label the shape with.")
    weights: list[float] = Field(default_factory=list)
    size: Size = Size()
    border: Size | None = None
    filled: bool | None = None
    note: str | None = Field(None, max_length=50)


class Part(BaseModel):
    tag: str
    weight: float


class ShapeOut(BaseModel):
    received: dict[str, Any]
    parts: list[Part]


@app.task("draw_shape", max_attempts=1, timeout_s=30)
async def draw_shape(ctx: taskbus.TaskContext, params: ShapeIn) -> ShapeOut:
    """Echo the parameters as the worker's model read them."""
    parts = [
        Part(tag=tag, weight=weight)
        for tag, weight in zip(params.tags, params.weights, strict=False)
    ]
    return ShapeOut(received=params.model_dump(mode="json"), parts=parts)
