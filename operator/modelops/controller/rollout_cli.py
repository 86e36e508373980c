"""`modelops rollout status|promote|abort|pause|resume NAME [-n NS]`.

Each command is an annotation under modelops.io/ on the ModelDeployment, so plain kubectl does
the same (`kubectl annotate md NAME modelops.io/rollout-promote=<canary revision>`). promote and
abort name the canary revision they mean: a leftover annotation never acts on a later rollout.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

ACTIONS = ("status", "promote", "abort", "pause", "resume")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="watch or steer a ModelDeployment's rollout",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("name", help="the ModelDeployment")
    parser.add_argument("-n", "--namespace", default=None, help="default: the kubeconfig's")
    parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelops.k8s import model_deployments
    from modelops.k8s.client import load_config, sync_client
    from modelops.policies.plan import ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_PROMOTE

    current = load_config(args.kubeconfig).get()
    namespace = args.namespace or (current.namespace if current else "default")
    client = sync_client(args.kubeconfig, namespace=namespace)
    try:
        body = model_deployments.get(client, namespace, args.name)
        status = body.get("status") or {}
        canary = status.get("canary")
        if args.action == "status":
            print(describe(body))
            return 0
        if args.action in ("pause", "resume"):
            value = "true" if args.action == "pause" else None
            model_deployments.annotate(client, namespace, args.name, {ANNOTATION_PAUSED: value})
            print(f"modeldeployment {namespace}/{args.name}: rollout {args.action}d")
            return 0
        if not canary:
            print(
                f"modeldeployment {namespace}/{args.name} has no rollout in progress",
                file=sys.stderr,
            )
            return 1
        key = ANNOTATION_PROMOTE if args.action == "promote" else ANNOTATION_ABORT
        model_deployments.annotate(client, namespace, args.name, {key: canary["revision"]})
        print(
            f"modeldeployment {namespace}/{args.name}: {args.action} of revision "
            f"{canary['revision']} requested"
        )
        return 0
    except model_deployments.NotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def describe(body: dict[str, Any]) -> str:
    """The rollout in a few lines (pure, for `status`)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    stable = status.get("stable") or {}
    lines = [
        f"{meta.get('namespace')}/{meta.get('name')}: {status.get('phase', 'Unknown')}",
        f"  stable:  slot {stable.get('slot', '-')}, revision {stable.get('revision', '-')}, "
        f"{stable.get('replicas', 0)} pod(s)",
    ]
    canary = status.get("canary")
    if canary:
        lines.append(
            f"  canary:  slot {canary.get('slot')}, revision {canary.get('revision')}, "
            f"{canary.get('replicas', 0)} pod(s), {canary.get('phase')}, "
            f"step {int(canary.get('step', 0)) + 1}, weight {canary.get('weight', 0)}%"
        )
        analysis = canary.get("analysis") or {}
        if analysis.get("message"):
            lines.append(f"  analysis: {analysis['message']}")
    failed = status.get("failedRollout")
    if failed:
        lines.append(
            f"  rolled back: revision {failed.get('revision')} ({failed.get('reason')}): "
            f"{failed.get('message', '')}"
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Ready", "Progressing", "Degraded"):
            lines.append(
                f"  {condition['type']}={condition.get('status')} {condition.get('reason', '')}"
                f": {condition.get('message', '')}"
            )
    return "\n".join(lines)
