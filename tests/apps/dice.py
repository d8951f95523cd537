"""A task type that exists only in the tests: roll dice, one progress event per die.

Declared the way a user declares one, with nothing in libs/ or services/ knowing of it.
"""

import random

import taskbus
from pydantic import BaseModel, ConfigDict, Field

app = taskbus.TaskApp("games")


class RollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dice: int = Field(2, ge=1, le=50, description="How many dice to roll.")
    sides: int = Field(6, ge=2, le=1000, description="Sides of each die.")
    seed: int = Field(0, description="The same seed rolls the same numbers.")


class RollOut(BaseModel):
    rolls: list[int]
    total: int


@app.task("roll_dice", max_attempts=2, timeout_s=30)
async def roll_dice(ctx: taskbus.TaskContext, params: RollIn) -> RollOut:
    """Roll some dice and add them up."""
    rng = random.Random(params.seed)
    rolls: list[int] = []
    for die in range(params.dice):
        rolls.append(rng.randint(1, params.sides))
        await ctx.progress(100 * (die + 1) / params.dice, f"die {die + 1} of {params.dice}")
    return RollOut(rolls=rolls, total=sum(rolls))
