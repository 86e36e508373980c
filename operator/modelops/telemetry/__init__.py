"""modelops.telemetry: the only place the operator makes HTTP calls to pods.

Scrapes of routers and engines, and the rollout's smoke tests.
"""
