"""One idempotent reconcile for every trigger: observe -> plan -> apply -> status.

Observed children come from kopf indexes (the operator's informer cache), so a reconcile
costs no API reads; writes happen only where the live objects differ from the plan.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Iterable, Mapping
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
from modelops.api.status import READY
from modelops.builders import (
    FIRST_SLOT,
    SLOTS,
    Slot,
    build_children,
    model_selector,
    revision,
    selector_string,
)
from modelops.k8s import writes
from modelops.k8s.client import ApiClient
from modelops.policies.drift import plan_applies
from modelops.policies.observed import observe
from modelops.policies.status import derive_status, transitions

log = logging.getLogger(__name__)

Key = tuple[str, str]
Body = Mapping[str, Any]
ROUTED = "Routed"
NOT_READY_RECHECK_SECONDS = 15.0
APPLY_RETRY_SECONDS = 10.0
CHILD_KINDS = {
    "deployments": "Deployment",
    "services": "Service",
    "claims": "PersistentVolumeClaim",
}


class Children(Protocol):
    """Children of one ModelDeployment by kind (`deployments`, `pods`, `services`, `claims`)."""

    def __call__(self, key: Key) -> Mapping[str, Iterable[Body]]: ...


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
    # Our last status write per object, until the cache shows it: (uid, resourceVersion,
    # status). Comparing with the stale cached status would patch again and post the same
    # Events twice.
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


def stable_slot(body: Body) -> Slot:
    slot = ((body.get("status") or {}).get("stable") or {}).get("slot")
    return slot if slot in SLOTS else FIRST_SLOT


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
        ctx.on_change()
        return None
    namespace, name = key
    try:
        md = parse_model_deployment(body)
    except InvalidModelDeploymentError as error:
        await _report_invalid(ctx, body, str(error))
        return None

    slot = stable_slot(body)
    desired = md.spec.replicas
    wanted = build_children(
        md,
        namespace=namespace,
        name=name,
        uid=body["metadata"]["uid"],
        slot=slot,
        replicas=desired,
    )
    children = ctx.children(key)
    live = {
        (CHILD_KINDS[kind], child["metadata"]["name"]): child
        for kind in CHILD_KINDS
        for child in children.get(kind, ())
    }
    applies = plan_applies(wanted.all(), live)
    for manifest in applies:
        log.info("applying %s %s/%s", manifest["kind"], namespace, manifest["metadata"]["name"])
    results = await asyncio.gather(
        *(writes.apply(ctx.client, manifest) for manifest in applies), return_exceptions=True
    )
    failures = [str(r) for r in results if isinstance(r, writes.ApplyError)]
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, writes.ApplyError):
            raise result

    status = _status(md, body, slot, children, ctx)
    if failures:
        log.warning("applying children of %s/%s failed: %s", namespace, name, "; ".join(failures))
        status = _with_apply_failure(status, "; ".join(failures), ctx.now())
    await _publish_status(ctx, body, status)
    ctx.on_change()
    log.info("reconciled %s/%s: %s, %d applied", namespace, name, status.phase, len(applies))
    if failures:
        return APPLY_RETRY_SECONDS
    return None if status.phase == "Ready" else NOT_READY_RECHECK_SECONDS


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


def _status(
    md: ModelDeployment,
    body: Body,
    slot: Slot,
    children: Mapping[str, Iterable[Body]],
    ctx: Context,
) -> ModelDeploymentStatus:
    now = ctx.now()
    previous = latest_status(ctx, body)
    status = derive_status(
        observe(children.get("deployments", ()), children.get("pods", ())),
        slot=slot,
        revision=revision(md.spec, name=md.name),
        desired=md.spec.replicas,
        generation=int(body["metadata"].get("generation", 0)),
        served_name=md.served_name,
        selector=selector_string(model_selector(md.name)),
        previous=previous,
        now=now,
    )
    problems = ctx.routing_problems(md_key(md))
    if problems is not None:
        routed = (
            make_condition(
                ROUTED,
                "False",
                "RoutingConflict",
                "; ".join(problems),
                now=now,
                observed_generation=status.observed_generation,
            )
            if problems
            else make_condition(
                ROUTED,
                "True",
                "InRouterConfig",
                f"served as {md.served_name!r} by the router",
                now=now,
                observed_generation=status.observed_generation,
            )
        )
        status = status.model_copy(
            update={"conditions": set_condition(status.conditions, routed, now)}
        )
    return status


def md_key(md: ModelDeployment) -> Key:
    return md.namespace, md.name


async def _publish_status(ctx: Context, body: Body, status: ModelDeploymentStatus) -> None:
    previous = latest_status(ctx, body)
    new = dump_status(status)
    if previous is not None and dump_status(previous) == new:
        return
    meta = body["metadata"]
    version = await writes.patch_model_deployment_status(
        ctx.client, meta["namespace"], meta["name"], new
    )
    ctx.written[(meta["namespace"], meta["name"])] = (meta.get("uid", ""), version, status)
    for event in transitions(previous, status):
        await writes.post_event(
            ctx.client, body, type_=event.type, reason=event.reason, message=event.message
        )


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
