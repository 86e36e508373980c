"""One idempotent reconcile for every trigger: gather -> plan -> execute.

Gather reads what is observed: children from kopf indexes (the operator's informer cache, so
no API reads), our own last status write (never the stale cache), the rollout's analysis
window from telemetry, and smoke-test verdicts for a canary's new pods. `policies.plan`
decides everything with no I/O. Execute applies only what differs, posts the rollout's
Events (named, so a retry never posts one twice), writes the status, and hands the plan's
router tracks to the config publisher.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelops.api import (
    InvalidModelDeploymentError,
    ModelDeployment,
    ModelDeploymentStatus,
    dump_status,
    parse_model_deployment,
)
from modelops.api.conditions import make_condition, set_condition
from modelops.api.spec import Rollout, SmokeTest
from modelops.api.status import READY, CanaryStatus
from modelops.builders.common import stable_hash
from modelops.builders.router_config import backend_model
from modelops.controller.smoke import PodTarget, SmokeRunner
from modelops.controller.tracing import ReconcileTracer
from modelops.k8s import writes
from modelops.k8s.client import ApiClient
from modelops.policies.analysis import Figures
from modelops.policies.autoscaling import LoadSample, history_seconds
from modelops.policies.observed import observe_pod
from modelops.policies.plan import Gathered, Plan, PlannedEvent, RouteTracks, plan
from modelops.policies.rollout import SmokeVerdict

log = logging.getLogger(__name__)

Key = tuple[str, str]
Body = Mapping[str, Any]
APPLY_RETRY_SECONDS = 10.0
# Phases whose decisions read the analysis window.
MEASURED_PHASES = ("Progressing", "Paused", "Promoting", "Draining")


class Children(Protocol):
    """Children of one ModelDeployment by kind (`deployments`, `pods`, `services`, `claims`)."""

    def __call__(self, key: Key) -> Mapping[str, Iterable[Body]]: ...


class RolloutTelemetry(Protocol):
    """The analysis window of a model's two tracks, and its load over time (for the
    autoscaler); the telemetry package answers both."""

    def rollout_figures(
        self,
        served_name: str,
        *,
        stable_revision: str,
        canary_revision: str,
        since: datetime.datetime,
    ) -> Figures | None: ...

    def load_samples(
        self,
        served_name: str,
        *,
        vllm_pods: Sequence[str],
        ready_replicas: int,
        since: datetime.datetime,
    ) -> list[LoadSample]: ...


class NoTelemetry:
    def rollout_figures(
        self,
        served_name: str,
        *,
        stable_revision: str,
        canary_revision: str,
        since: datetime.datetime,
    ) -> Figures | None:
        return None

    def load_samples(
        self,
        served_name: str,
        *,
        vllm_pods: Sequence[str],
        ready_replicas: int,
        since: datetime.datetime,
    ) -> list[LoadSample]:
        return []


@dataclass
class Context:
    client: ApiClient
    model_deployments: Mapping[Key, Body]
    children: Children
    routing_problems: Callable[[Key], tuple[str, ...] | None]
    on_change: Callable[[], None]  # something that depends on all ModelDeployments changed
    now: Callable[[], datetime.datetime] = field(
        default=lambda: datetime.datetime.now(datetime.UTC)
    )
    telemetry: RolloutTelemetry = field(default_factory=NoTelemetry)
    smoke: SmokeRunner = field(default_factory=SmokeRunner)
    # The router tracks of each ModelDeployment's last plan (None: not routed, e.g. an
    # invalid spec); the config publisher reads them, so it never re-reads status.
    routes: MutableMapping[Key, RouteTracks | None] = field(default_factory=dict)
    # The served name of each ModelDeployment, as last reconciled (telemetry is by name).
    served_names: MutableMapping[Key, str] = field(default_factory=dict)
    tracer: ReconcileTracer = field(default_factory=lambda: ReconcileTracer(None))
    # Our last status write per object, until the cache shows it: (uid, resourceVersion,
    # status). Comparing with the stale cached status would patch again and post the same
    # Events twice, and a rollout would decide on a step it already left.
    written: dict[Key, tuple[str, str, ModelDeploymentStatus]] = field(default_factory=dict)


def latest_status(ctx: Context, body: Body) -> ModelDeploymentStatus | None:
    """Our last write while the cache has not caught up with it, else what the cache holds."""
    meta = body["metadata"]
    key = (meta.get("namespace", ""), meta["name"])
    cached = previous_status(body)
    mine = ctx.written.get(key)
    if mine is not None:
        uid, version, status = mine
        caught_up = version == meta.get("resourceVersion") or (
            cached is not None and dump_status(cached) == dump_status(status)
        )
        if uid == meta.get("uid") and not caught_up:
            return status
        del ctx.written[key]  # the cache shows our write (or this is another object)
    return cached


def previous_status(body: Body) -> ModelDeploymentStatus | None:
    try:
        return ModelDeploymentStatus.model_validate(body.get("status") or {})
    except ValueError:
        return None


async def reconcile(key: Key, ctx: Context) -> float | None:
    """Bring one ModelDeployment's children and status in line; return a recheck delay."""
    body = ctx.model_deployments.get(key)
    if body is None or body["metadata"].get("deletionTimestamp"):
        ctx.written.pop(key, None)
        ctx.routes.pop(key, None)
        ctx.served_names.pop(key, None)
        ctx.smoke.forget(key)
        ctx.on_change()
        return None
    try:
        md = parse_model_deployment(body)
    except InvalidModelDeploymentError as error:
        await _report_invalid(ctx, body, str(error))
        ctx.routes[key] = None
        ctx.on_change()
        return None

    ctx.served_names[key] = md.served_name
    started = time.time_ns()
    decided = None
    try:
        gathered = await gather(ctx, key, md, body)
        decided = plan(gathered)
        failures = await execute(ctx, body, decided)
    except Exception as error:
        ctx.tracer.record(key, decided, started, error=f"{type(error).__name__}: {error}")
        raise
    ctx.tracer.record(key, decided, started, error="; ".join(failures) or None)
    namespace, name = key
    log.info(
        "reconciled %s/%s: %s, %d applied, %d scaled%s",
        namespace,
        name,
        decided.status.phase,
        len(decided.applies),
        len(decided.scales),
        f", canary {decided.status.canary.phase} at {decided.status.canary.weight}%"
        if decided.status.canary
        else "",
    )
    if failures:
        return APPLY_RETRY_SECONDS
    return decided.recheck_after


async def gather(ctx: Context, key: Key, md: ModelDeployment, body: Body) -> Gathered:
    previous = latest_status(ctx, body)
    children = ctx.children(key)
    pods = list(children.get("pods", ()))
    canary = previous.canary if previous else None
    figures = None
    smoke = None
    if canary is not None and previous is not None and previous.stable is not None:
        if canary.phase in MEASURED_PHASES and canary.step_started_at is not None:
            figures = ctx.telemetry.rollout_figures(
                md.served_name,
                stable_revision=previous.stable.revision,
                canary_revision=canary.revision,
                since=canary.step_started_at,
            )
        if canary.phase == "SmokeTesting":
            smoke = await _smoke(ctx, key, md, canary, pods)
    load: list[LoadSample] = []
    autoscaling = md.spec.autoscaling
    if autoscaling is not None and autoscaling.enabled:
        ready = [observe_pod(p) for p in pods]
        vllm = (
            [f"{md.namespace}/{p.name}" for p in ready if p.ready and not p.deleting]
            if md.spec.engine == "vllm"
            else []
        )
        load = ctx.telemetry.load_samples(
            md.served_name,
            vllm_pods=vllm,
            ready_replicas=sum(p.ready and not p.deleting for p in ready),
            since=ctx.now() - datetime.timedelta(seconds=history_seconds(autoscaling)),
        )
    return Gathered(
        md=md,
        uid=str(body["metadata"].get("uid", "")),
        generation=int(body["metadata"].get("generation", 0)),
        previous=previous,
        deployments=list(children.get("deployments", ())),
        pods=pods,
        services=list(children.get("services", ())),
        claims=list(children.get("claims", ())),
        now=ctx.now(),
        figures=figures,
        smoke=smoke,
        routing_problems=ctx.routing_problems(key),
        load=load,
    )


async def _smoke(
    ctx: Context, key: Key, md: ModelDeployment, canary: CanaryStatus, pods: list[Body]
) -> SmokeVerdict:
    rollout = md.spec.rollout or Rollout()
    targets = []
    for body in pods:
        pod = observe_pod(body)
        if pod.slot == canary.slot and pod.revision == canary.revision and pod.ready and pod.ip:
            targets.append(PodTarget(pod.name, pod.ip))
    return await ctx.smoke.verdict(
        key,
        engine=md.spec.engine,
        revision=canary.revision,
        model=backend_model(md),
        pods=targets,
        settings=rollout.smoke_test or SmokeTest(),
    )


async def execute(ctx: Context, body: Body, decided: Plan) -> list[str]:
    """Apply, scale, post, write: the plan's order. Returns the refused writes."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    for manifest in decided.applies:
        log.info("applying %s %s/%s", manifest["kind"], namespace, manifest["metadata"]["name"])
    writes_done = await asyncio.gather(
        *(writes.apply(ctx.client, manifest) for manifest in decided.applies),
        *(writes.scale_deployment(ctx.client, namespace, d, n) for d, n in decided.scales),
        return_exceptions=True,
    )
    failures = [str(r) for r in writes_done if isinstance(r, writes.ApplyError)]
    for result in writes_done:
        if isinstance(result, BaseException) and not isinstance(result, writes.ApplyError):
            raise result
    status = decided.status
    if failures:
        log.warning("applying children of %s/%s failed: %s", namespace, name, "; ".join(failures))
        status = _with_apply_failure(status, "; ".join(failures), ctx.now())
    for event in decided.rollout_events:
        await _post(ctx, body, event)
    await _publish_status(ctx, body, status, decided.status_events)
    ctx.routes[(namespace, name)] = decided.route
    ctx.on_change()
    return failures


async def _post(ctx: Context, body: Body, event: PlannedEvent) -> None:
    name = None
    if event.key is not None:
        name = f"{body['metadata']['name']}.{stable_hash([body['metadata'].get('uid'), event.key])}"
    await writes.post_event(
        ctx.client, body, type_=event.type, reason=event.reason, message=event.message, name=name
    )


def _with_apply_failure(
    status: ModelDeploymentStatus, message: str, now: datetime.datetime
) -> ModelDeploymentStatus:
    """The API server refused a child: Ready says so, with its message."""
    failed = make_condition(
        READY,
        "False",
        "ApplyFailed",
        message,
        now=now,
        observed_generation=status.observed_generation,
    )
    return status.model_copy(update={"conditions": set_condition(status.conditions, failed, now)})


async def _publish_status(
    ctx: Context,
    body: Body,
    status: ModelDeploymentStatus,
    events: Iterable[PlannedEvent] = (),
) -> None:
    previous = latest_status(ctx, body)
    new = dump_status(status)
    if previous is not None and dump_status(previous) == new:
        return
    meta = body["metadata"]
    version = await writes.patch_model_deployment_status(
        ctx.client, meta["namespace"], meta["name"], _with_removals(previous, new)
    )
    ctx.written[(meta["namespace"], meta["name"])] = (meta.get("uid", ""), version, status)
    for event in events:
        await _post(ctx, body, event)


def _with_removals(previous: ModelDeploymentStatus | None, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch keeps what it does not mention: a canary that ended must say null."""
    return new if previous is None else merge_patch(dump_status(previous), new)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 patch that turns `old` into `new` (nulls for removed keys, at any depth)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


async def _report_invalid(ctx: Context, body: Body, message: str) -> None:
    """A spec the CRD let through but the operator cannot use (e.g. an older CRD)."""
    now = ctx.now()
    previous = latest_status(ctx, body)
    generation = int(body["metadata"].get("generation", 0))
    conditions = list(previous.conditions) if previous else []
    conditions = set_condition(
        conditions,
        make_condition(
            READY, "False", "InvalidSpec", message, now=now, observed_generation=generation
        ),
        now,
    )
    status = ModelDeploymentStatus(
        observed_generation=generation, phase="Failed", conditions=conditions
    )
    await _publish_status(ctx, body, status)


def md_key(md: ModelDeployment) -> Key:
    return md.namespace, md.name
