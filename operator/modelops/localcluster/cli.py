"""`modelops cluster build|up|down|status|kubeconfig|bin|add-nodes|stop|start|restart|node`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# components.COMPONENTS, checked by components.record_name (importing that module here would
# load the PKI code, and with it `cryptography`, into every modelops command).
COMPONENT_NAMES = (
    "etcd, kube-apiserver, controller-manager, scheduler, kwok, launcher, operator, router"
)


def register(subparsers: Any) -> None:
    register_cluster(subparsers)
    register_dev(subparsers)


def register_cluster(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cluster", help="the local Kubernetes control plane with simulated GPU nodes"
    )
    commands = parser.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")

    def add(name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        if name not in ("build", "bin"):
            sub.add_argument("--name", default="dev", help="cluster name (several can run at once)")
        return sub

    add("build", _build, "compile the Kubernetes, etcd and KWOK binaries (cached by version)")
    up = add("up", _up, "start the cluster (a no-op when it runs)")
    up.add_argument(
        "--nodes", type=Path, help="YAML file of node shapes (see docs/local-cluster.md)"
    )
    add("down", _down, "stop every process of the cluster and remove its state")
    add("status", _status, "what runs (JSON)")
    add("kubeconfig", _kubeconfig, "print the kubeconfig path")
    binary = add("bin", _bin, "print the folder holding a built binary (default kubectl)")
    binary.add_argument("binary", nargs="?", default="kubectl")
    nodes = add("add-nodes", _add_nodes, "add simulated nodes to a running cluster")
    nodes.add_argument("--nodes", type=Path, required=True, help="YAML file of node shapes")
    for action, text in (
        ("stop", "stop one component, keeping all state"),
        ("start", "start a stopped or crashed component again"),
        ("restart", "stop and start one component"),
    ):
        sub = add(action, _component, text)
        sub.add_argument("component", metavar="COMPONENT", help=COMPONENT_NAMES)
    node = add("node", _node, "simulate a node failure: down (its kubelet dies) or up")
    node.add_argument("direction", choices=("down", "up"))
    node.add_argument("node", metavar="NAME", help="a simulated node (kubectl get nodes)")


def register_dev(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev", help="the operator, the router and the examples on the local cluster (make dev)"
    )
    commands = parser.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    up = commands.add_parser("up", help="start the operator and router, apply the examples")
    up.add_argument("--name", default="dev", help="cluster name")
    up.add_argument("--crds", type=Path, default=Path("crds"), help="CRD folder (default ./crds)")
    up.add_argument(
        "--examples",
        type=Path,
        default=Path("examples"),
        help="kustomization of ModelDeployments to apply (default ./examples)",
    )
    up.add_argument("--no-examples", action="store_true", help="apply no ModelDeployments")
    up.add_argument("--router-port", type=int, default=8080)
    up.set_defaults(handler=_dev_up)


def _dev_up(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster, dev

    target = cluster.Cluster(args.name)
    try:
        port = dev.up(
            target,
            crds_dir=args.crds,
            examples_dir=None if args.no_examples else args.examples,
            router_port=args.router_port,
        )
    except (cluster.ClusterError, OSError) as error:
        return _fail(str(error))
    print(dev.next_steps(target, port))
    return 0


def _fail(message: str) -> int:
    print(f"modelops cluster: {message}", file=sys.stderr)
    return 1


def _build(args: argparse.Namespace) -> int:
    from modelops.localcluster import toolchain

    try:
        built = toolchain.build()
    except toolchain.BuildError as error:
        return _fail(str(error))
    for component in toolchain.available_components():
        state = "built" if component in built else "cached"
        print(
            f"{component.name} {component.version}: {state} in {toolchain.component_dir(component)}"
        )
    return 0


def _shapes(path: Path | None) -> Any:
    from modelops.localcluster import nodes

    if path is None:
        return nodes.DEFAULT_SHAPES
    return nodes.parse_shapes(path.read_text())


def _up(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster, nodes, toolchain

    try:
        toolchain.build()
        target = cluster.Cluster(args.name)
        started = cluster.up(target, _shapes(args.nodes))
    except (toolchain.BuildError, cluster.ClusterError, nodes.ShapeError, OSError) as error:
        return _fail(str(error))
    print(
        f"cluster {args.name!r} {'started' if started else 'already running'}; "
        f"kubeconfig: {target.kubeconfig}"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster

    stopped = cluster.down(cluster.Cluster(args.name))
    print(f"cluster {args.name!r} down; stopped: {', '.join(stopped) or 'nothing'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster

    report = cluster.status(cluster.Cluster(args.name))
    print(json.dumps(report, indent=2))
    return 0 if report["state"] != "degraded" else 1


def _kubeconfig(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster

    target = cluster.Cluster(args.name)
    if not target.kubeconfig.exists():
        return _fail(f"cluster {args.name!r} is not running (modelops cluster up)")
    print(target.kubeconfig)
    return 0


def _bin(args: argparse.Namespace) -> int:
    from modelops.localcluster import toolchain

    try:
        path = toolchain.binary_path(args.binary)
    except toolchain.BuildError as error:
        return _fail(str(error))
    print(path.parent)
    return 0


def _component(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster, components

    target = cluster.Cluster(args.name)
    try:
        if args.cluster_command == "stop":
            done = components.stop_component(target, args.component)
            state = "stopped" if done else "was not running"
        elif args.cluster_command == "start":
            state = "started" if components.start(target, args.component) else "already running"
        else:
            components.restart(target, args.component)
            state = "restarted"
    except (cluster.ClusterError, OSError) as error:
        return _fail(str(error))
    print(f"{args.component}: {state}")
    return 0


def _node(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster, components

    target = cluster.Cluster(args.name)
    try:
        if args.direction == "down":
            components.node_down(target, args.node)
        else:
            components.node_up(target, args.node)
    except (cluster.ClusterError, OSError) as error:
        return _fail(str(error))
    print(f"node {args.node}: {args.direction}")
    return 0


def _add_nodes(args: argparse.Namespace) -> int:
    from modelops.localcluster import cluster, nodes

    try:
        names = cluster.add_nodes(cluster.Cluster(args.name), _shapes(args.nodes))
    except (nodes.ShapeError, OSError) as error:
        return _fail(str(error))
    print("added: " + ", ".join(names))
    return 0
