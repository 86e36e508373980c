"""Metric names and labels shared by the side that emits them and the side that reads them.

The router emits the `ROUTER_*` series; the operator's telemetry package scrapes and reads
them (rollout analysis, autoscaling). The `VLLM_*` names are vLLM's own (the simulator emits
the same). Change a name here and both sides follow.
"""

from __future__ import annotations

ROUTER_PREFIX = "modelops_router"

# Requests as the client saw them, per model (served name), track and revision, by outcome.
# Counter; the exposition adds `_total`.
ROUTER_MODEL_REQUESTS = f"{ROUTER_PREFIX}_model_requests"
# Histograms (seconds) per model, track, revision and outcome: failed requests are recorded too.
ROUTER_MODEL_LATENCY = f"{ROUTER_PREFIX}_model_request_duration_seconds"
ROUTER_MODEL_TTFT = f"{ROUTER_PREFIX}_model_time_to_first_token_seconds"
# Gauges per model: requests being served right now, and requests held for lack of an endpoint.
ROUTER_MODEL_IN_FLIGHT = f"{ROUTER_PREFIX}_model_in_flight_requests"
ROUTER_MODEL_HOLDING = f"{ROUTER_PREFIX}_model_holding_requests"
# Histogram (seconds) per model and hold outcome: how long held requests waited.
ROUTER_MODEL_HOLD_DURATION = f"{ROUTER_PREFIX}_model_hold_duration_seconds"
# Gauge: when this router process started (Unix seconds). A reader that sees it change knows
# every counter of that router restarted from zero, even one that has already grown past its
# value before the restart.
ROUTER_START_TIME = f"{ROUTER_PREFIX}_start_time_seconds"

LABEL_MODEL = "model"
LABEL_TRACK = "track"
LABEL_REVISION = "revision"
LABEL_OUTCOME = "outcome"

# Outcomes of one track's part in a request:
OUTCOME_OK = "ok"  # answered by this track
OUTCOME_ERROR = "error"  # failed, and the client saw the failure
OUTCOME_RETRIED = "retried"  # failed on this track (a canary), then answered by stable
OUTCOMES = (OUTCOME_OK, OUTCOME_ERROR, OUTCOME_RETRIED)
FAILED_OUTCOMES = (OUTCOME_ERROR, OUTCOME_RETRIED)

# How a hold (a request waiting for an endpoint of a model at zero) ended:
HOLD_SERVED = "served"  # an endpoint became ready; the request was forwarded
HOLD_EXPIRED = "expired"  # the router's holdSeconds ran out; the client got a 503
HOLD_GONE = "gone"  # the client disconnected while waiting
HOLD_REMOVED = "removed"  # the model left the router's config while the request waited (404)
HOLD_OUTCOMES = (HOLD_SERVED, HOLD_EXPIRED, HOLD_GONE, HOLD_REMOVED)

# vLLM's own gauges (per pod, label model_name).
VLLM_RUNNING = "vllm:num_requests_running"
VLLM_WAITING = "vllm:num_requests_waiting"
VLLM_KV_CACHE = "vllm:kv_cache_usage_perc"
VLLM_KV_CACHE_LEGACY = "vllm:gpu_cache_usage_perc"  # the same gauge in older vLLM releases


def _geometric(low: float, high: float, factor: float) -> tuple[float, ...]:
    bounds, value = [], low
    while value < high * (1 + 1e-9):
        bounds.append(float(f"{value:.4g}"))
        value *= factor
    return tuple(bounds)


# Bucket bounds of the per-model latency and TTFT histograms: 1 ms to 10 min, each 25 % above
# the last, so a p95 read from them is within 25 % of the truth. The rollout compares canary
# and stable p95s; the usual 1-2.5-5 buckets would make two equal tracks look 2.5x apart.
MODEL_LATENCY_BUCKETS = _geometric(0.001, 600.0, 1.25)
