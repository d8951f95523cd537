"""The local runner behind ``make up`` and the test harness.

It starts nats-server and PostgreSQL from their wheels, an SMTP sink, and the five services as
supervised processes, and stops all of it again without leaving a process behind.
"""
