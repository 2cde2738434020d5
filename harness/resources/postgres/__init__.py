"""Postgres: its limits, local server and container, admin connection, sampler, log replay and faults."""
