"""mypy ties a declared task type's handler, its submit and its result to the type's models."""

import re
from pathlib import Path

from mypy import api as mypy_api

REPO = Path(__file__).resolve().parents[3]

USER_CODE = """
import taskbus
from pydantic import BaseModel

app = taskbus.TaskApp("shop")


class Order(BaseModel):
    items: int


class Invoice(BaseModel):
    total: int


class Refund(BaseModel):
    reason: str


@app.task("invoice")
async def invoice(ctx: taskbus.TaskContext, params: Order) -> Invoice:
    return Invoice(total=params.items * 3)


@app.task("wrong_result")
async def wrong_result(ctx: taskbus.TaskContext, params: Order) -> Invoice:
    return Refund(reason="none")  # line 27


async def order() -> None:
    async with taskbus.Client():
        await invoice.submit(Refund(reason="no"))  # line 32
        handle = await invoice.submit(Order(items=2))
        bill = await handle.result()
        reveal_type(bill)  # line 35
        bill.reason  # line 36
"""


def _errors(source: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "shop.py"
    path.write_text(source)
    out, _, _ = mypy_api.run(
        [
            *("--config-file", str(REPO / "pyproject.toml")),
            *("--cache-dir", str(tmp_path / "mypy-cache")),
            str(path),
        ]
    )
    return [re.sub(r"^.*shop\.py:", "", line) for line in out.splitlines() if "shop.py:" in line]


def test_a_mismatched_model_is_a_type_error_and_the_result_is_the_declared_model(
    tmp_path: Path,
) -> None:
    errors = _errors(USER_CODE, tmp_path)

    lines = {int(line.split(":")[0]): line for line in errors}
    assert sorted(lines) == [27, 32, 35, 36], errors
    assert 'Incompatible return value type (got "Refund", expected "Invoice")' in lines[27]
    assert (
        'Argument 1 to "submit" of "TaskDef" has incompatible type "Refund"; expected "Order"'
        in lines[32]
    )
    assert 'Revealed type is "shop.Invoice"' in lines[35]
    assert '"Invoice" has no attribute "reason"' in lines[36]
