"""Where the commands find the API, and how their outcomes become exit codes.

0: done (a followed task ended SUCCESS); 1: a followed task ended FAILED or CANCELLED, the
API failed or could not be reached; 2: the API refused the request (a 4xx), as for a usage
error.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import typer
from rich.console import Console

from taskbus.client import ApiError, Client

out = Console()
err = Console(stderr=True)

EXIT_FAILED = 1
EXIT_REFUSED = 2


@dataclass(frozen=True, slots=True)
class Target:
    api_url: str
    api_key: str | None


def run(ctx: typer.Context, work: Callable[[Client], Awaitable[int]]) -> None:
    """Run ``work`` with a client of the API the global options name; exit with its code."""
    target: Target = ctx.obj

    async def session() -> int:
        async with Client(target.api_url, target.api_key, via="cli") as client:
            return await work(client)

    try:
        code = asyncio.run(session())
    except ApiError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        code = EXIT_REFUSED if 400 <= exc.status < 500 else EXIT_FAILED
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/] cannot reach the API at {target.api_url}: {exc!r}")
        code = EXIT_FAILED
    raise typer.Exit(code)
