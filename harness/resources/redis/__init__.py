"""Redis (Valkey): its limit, local server and container, admin connection, sampler, log replay and faults."""
