"""Request dependencies, as ``Annotated`` aliases the routes declare."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from nats.aio.client import Client as NATS
from taskbus.eventlog import EventLog
from taskbus.files import FileStore
from taskbus.readmodel.database import Connection

from taskbus_api.feed import ChangeFeed
from taskbus_api.readmodel import ReadModel
from taskbus_api.settings import ApiSettings
from taskbus_api.task_types import TaskTypes


@dataclass
class Resources:
    """What the lifespan opened, shared by every request of this process."""

    settings: ApiSettings
    nc: NATS
    pool: asyncpg.Pool
    readmodel: ReadModel
    eventlog: EventLog
    feed: ChangeFeed
    files: FileStore
    task_types: TaskTypes


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_resources(request: Request) -> Resources:
    # async: FastAPI runs a sync dependency in a worker thread, a hop per request.
    return resources_of(request)


async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """For routes that only read the read model (a route that also talks to NATS opens its
    own, so that a NATS timeout is not taken for Postgres trouble)."""
    async with resources_of(request).readmodel.connection() as conn:
        yield conn


ResourcesDep = Annotated[Resources, Depends(get_resources)]
ConnectionDep = Annotated[Connection, Depends(get_connection)]
