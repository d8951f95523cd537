"""Fixtures for every cross-service test; each group lives in a module of its own."""

from infra import database_url as database_url
from infra import fresh_database_url as fresh_database_url
from infra import fresh_smtp_server as fresh_smtp_server
from infra import nats_url as nats_url
from infra import new_database as new_database
from infra import servers as servers
from infra import smtp_server as smtp_server
