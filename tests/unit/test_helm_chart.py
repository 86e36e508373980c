"""The Helm chart, offline: `helm lint` and `helm template` with the default values and with
ci/all-values.yaml (every option set), the values schema rejecting bad values, and the
rendered objects checked for what the install docs promise (least privilege, probes,
securityContext, NetworkPolicies, HA)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api.router_config import parse_router_config_yaml
from modelops.builders.common import COMPONENT, MANAGED_BY
from modelops.localcluster import toolchain
from tests.conftest import REPO

CHART = REPO / "helm" / "modelops"
ALL_VALUES = CHART / "ci" / "all-values.yaml"
RELEASE_NAMESPACE = "modelops-system"

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    if not toolchain.is_built(toolchain.HELM):
        toolchain.build()  # cached by version: a no-op once built
    return toolchain.binary_path("helm")


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def render(helm: Path, *args: str) -> list[Doc]:
    result = run_helm(helm, "template", "mo", str(CHART), "-n", RELEASE_NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [
        d
        for d in docs
        if d["kind"] == kind and (name is None or d["metadata"]["name"].endswith(name))
    ]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{kind} {name}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def leaf_paths(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaf_paths(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def rules_of(docs: list[Doc]) -> list[tuple[Doc, Doc]]:
    return [(d, rule) for d in docs if d["kind"] in {"Role", "ClusterRole"} for rule in d["rules"]]


@pytest.mark.parametrize("values", [[], ["-f", str(ALL_VALUES)]], ids=["defaults", "all-values"])
def test_lint_passes_strictly(helm: Path, values: list[str]) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_all_values_sets_every_option_and_the_schema_knows_every_option() -> None:
    defaults = set(leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text())))
    exercised = set(leaf_paths(yaml.safe_load(ALL_VALUES.read_text())))
    # Free-form maps ({} by default) are exercised by their children.
    missing = {p for p in defaults if not any(e == p or e.startswith(p + ".") for e in exercised)}
    assert not missing, f"ci/all-values.yaml does not set {sorted(missing)}"
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())

    def in_schema(path: str) -> bool:
        node = schema
        for part in path.split("."):
            properties = node.get("properties", {})
            if part not in properties:
                return node.get("additionalProperties", True) is not False
            node = properties[part]
        return True

    assert [p for p in defaults if not in_schema(p)] == []


def test_default_render_has_every_piece(helm: Path) -> None:
    docs = render(helm)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ClusterRole",  # operator: workloads cluster-wide + CRD watch
            "ClusterRoleBinding",
            "ClusterRole",  # router: pods list/watch
            "ClusterRoleBinding",
            "ConfigMap",  # router settings
            "Deployment",
            "Deployment",
            "NetworkPolicy",  # operator pods
            "NetworkPolicy",  # router pods
            "PodDisruptionBudget",
            "Role",  # operator: the router ConfigMap and the router pods
            "RoleBinding",
            "Role",  # router: its ConfigMap
            "RoleBinding",
            "Service",  # router
            "Service",  # operator metrics
            "ServiceAccount",
            "ServiceAccount",
        ]
    )
    operator = one(docs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    args = container(operator)["args"]
    assert args[0] == "operator"
    assert "--all-namespaces" in args
    assert f"--router-config-namespace={RELEASE_NAMESPACE}" in args
    assert "--router-config-name=modelops-router-config" in args
    router = one(docs, "Deployment", "-router")
    assert router["spec"]["replicas"] == 2
    router_args = container(router)["args"]
    assert router_args[:2] == ["router", "--kubernetes"]
    assert f"--config-namespace={RELEASE_NAMESPACE}" in router_args
    assert container(router)["image"] == "ghcr.io/modelops/modelops:0.1.0"
    assert container(operator)["image"] == container(router)["image"]
    service = one(docs, "Service", "-router")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert container(router)["ports"][0] == {
        "name": "http",
        "containerPort": 8080,
        "protocol": "TCP",
    }
    assert service["spec"]["selector"] == router["spec"]["selector"]["matchLabels"]
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("values", [[], ["-f", str(ALL_VALUES)]], ids=["defaults", "all-values"])
def test_pods_are_locked_down_and_probed(helm: Path, values: list[str]) -> None:
    for deployment in find(render(helm, *values), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert main["resources"]["requests"]["memory"]
        assert main["resources"]["limits"]["memory"]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        if deployment["metadata"]["name"].endswith("-operator"):
            ready = next(p for p in main["ports"] if p["name"] == "ready")
            assert main["readinessProbe"]["httpGet"]["port"] == "ready"
            assert f"--readiness=http://0.0.0.0:{ready['containerPort']}/readyz" in main["args"]


def test_no_wildcards_and_no_secrets_beyond_the_api_keys(helm: Path) -> None:
    for values in ([], ["-f", str(ALL_VALUES)]):
        for doc, rule in rules_of(render(helm, *values)):
            assert "*" not in rule["verbs"], doc
            assert "*" not in rule["resources"], doc
            assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(
                rule["verbs"]
            )
            if "secrets" in rule["resources"]:
                assert doc["kind"] == "Role"
                assert doc["metadata"]["namespace"] == RELEASE_NAMESPACE
                assert rule["resourceNames"] == ["modelops-api-keys"]
                assert rule["verbs"] == ["get"]


def test_watched_namespaces_get_roles_and_nothing_cluster_wide_but_discovery(helm: Path) -> None:
    docs = render(helm, "--set", "watchNamespaces={team-a,team-b}")
    operator = one(docs, "Deployment", "-operator")
    args = container(operator)["args"]
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    assert "--all-namespaces" not in args
    cluster_rules = [rule for doc, rule in rules_of(docs) if doc["kind"] == "ClusterRole"]
    # kopf's discovery only: it watches CRDs and namespaces, read-only.
    assert cluster_rules == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]
    for namespace in ("team-a", "team-b"):
        roles = [d for d in find(docs, "Role") if d["metadata"]["namespace"] == namespace]
        assert len(roles) == 2  # the operator's workloads and the router's pod watch
        bindings = [d for d in find(docs, "RoleBinding") if d["metadata"]["namespace"] == namespace]
        assert {b["subjects"][0]["namespace"] for b in bindings} == {RELEASE_NAMESPACE}
    # NetworkPolicies follow the watched namespaces by default.
    policies = find(docs, "NetworkPolicy", "-runtimes")
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["team-a", "team-b"]


def test_runtime_network_policy_admits_only_the_router_and_limits_egress(helm: Path) -> None:
    docs = render(helm, "--set", "networkPolicy.modelNamespaces={ai}")
    policy = one(docs, "NetworkPolicy", "-runtimes")
    # The labels the operator puts on every runtime pod.
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": COMPONENT,
    }
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    sources = policy["spec"]["ingress"][0]["from"]
    router_labels = one(docs, "Deployment", "-router")["spec"]["selector"]["matchLabels"]
    assert sources[0]["podSelector"]["matchLabels"] == router_labels
    assert sources[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": RELEASE_NAMESPACE
    }
    ports = {p["port"] for p in policy["spec"]["ingress"][0]["ports"]}
    assert ports == {8000, 11434}
    # Default egress: DNS only (no model-pull destination configured).
    assert len(policy["spec"]["egress"]) == 1
    assert {p["port"] for p in policy["spec"]["egress"][0]["ports"]} == {53}

    open_egress = one(
        render(
            helm,
            "--set",
            "networkPolicy.modelNamespaces={ai}",
            "--set",
            "networkPolicy.modelPull.allowAllEgress=true",
        ),
        "NetworkPolicy",
        "-runtimes",
    )
    assert {} in open_egress["spec"]["egress"]
    pull = find(render(helm, "-f", str(ALL_VALUES)), "NetworkPolicy", "-runtimes")[0]
    cidrs = [peer["ipBlock"]["cidr"] for peer in pull["spec"]["egress"][1]["to"]]
    assert cidrs == ["10.20.0.0/16", "2001:db8::/32"]


def test_all_values_render_every_optional_piece(helm: Path) -> None:
    docs = render(helm, "-f", str(ALL_VALUES))
    operator = one(docs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 2
    assert operator["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "--peering=modelops-ha" in container(operator)["args"]
    assert container(operator)["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    peerings = find(docs, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["ai-prod", "ai-staging"]
    router = one(docs, "Deployment", "-router")
    assert "replicas" not in router["spec"]  # the HPA owns it
    assert container(router)["image"] == "registry.example.com/platform/modelops:0.1.0-router"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": router["spec"]["selector"],
    }
    monitor = one(docs, "ServiceMonitor", "-router")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert one(docs, "Service", "-router")["spec"]["type"] == "LoadBalancer"
    settings = one(docs, "ConfigMap", "-router-settings")["data"]["router-settings.yaml"]
    config = parse_router_config_yaml(settings)
    assert config.auth.enabled
    assert config.auth.secret_ref is not None
    assert config.auth.secret_ref.name == "modelops-api-keys"
    assert config.demotion_window_seconds == 120
    assert config.hold_seconds == 600
    assert config.default_model == "llama3.1-8b-instruct"
    assert sorted(p["metadata"]["namespace"] for p in find(docs, "NetworkPolicy", "-runtimes")) == [
        "ai-batch",
        "ai-prod",
        "ai-staging",
    ]


RUNTIME_LABELS = {
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/component": COMPONENT,
}
ENGINE_PORTS = {8000, 11434}


def tcp_ports(rule: Doc) -> set[int]:
    return {p["port"] for p in rule["ports"] if p["protocol"] == "TCP"}


@pytest.mark.parametrize("values", [[], ["-f", str(ALL_VALUES)]], ids=["defaults", "all-values"])
def test_operator_network_policy_allows_exactly_probes_api_router_metrics_and_smoke_tests(
    helm: Path, values: list[str]
) -> None:
    docs = render(helm, "--set", "networkPolicy.modelNamespaces={ai}", *values)
    operator = one(docs, "Deployment", "-operator")
    router = one(docs, "Deployment", "-router")
    policy = one(docs, "NetworkPolicy", "-operator")
    assert policy["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert (
        policy["spec"]["podSelector"]["matchLabels"] == operator["spec"]["selector"]["matchLabels"]
    )
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # Ingress: the probe and metrics ports only (the kubelet probes from the node).
    [ingress] = policy["spec"]["ingress"]
    probe_ports = {p["containerPort"] for p in container(operator)["ports"]}
    assert tcp_ports(ingress) == probe_ports
    assert "from" not in ingress
    dns, api, metrics, smoke = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert tcp_ports(api) <= {443, 6443}
    # The router pods' port, where it serves /metrics; nothing else of theirs.
    router_port = container(router)["ports"][0]["containerPort"]
    assert tcp_ports(metrics) == {router_port}
    assert [peer["podSelector"]["matchLabels"] for peer in metrics["to"]] == [
        router["spec"]["selector"]["matchLabels"]
    ]
    # The runtime pods' engine ports, in the model namespaces: the smoke test.
    assert tcp_ports(smoke) == ENGINE_PORTS
    assert [
        (peer["namespaceSelector"]["matchLabels"], peer["podSelector"]["matchLabels"])
        for peer in smoke["to"]
    ] == [
        (
            {"kubernetes.io/metadata.name": ns},
            RUNTIME_LABELS,
        )
        for ns in ["ai"]
    ]


def test_router_network_policy_admits_clients_and_the_operator_and_reaches_runtimes(
    helm: Path,
) -> None:
    docs = render(helm, "--set", "networkPolicy.modelNamespaces={ai}")
    router = one(docs, "Deployment", "-router")
    policy = one(docs, "NetworkPolicy", "-router")
    assert policy["spec"]["podSelector"]["matchLabels"] == router["spec"]["selector"]["matchLabels"]
    [ingress] = policy["spec"]["ingress"]
    assert tcp_ports(ingress) == {container(router)["ports"][0]["containerPort"]}
    assert "from" not in ingress  # default: the front door takes any client
    dns, api, runtimes = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert tcp_ports(api) == {443, 6443}
    assert "to" not in api  # no API server CIDR given: those ports anywhere
    assert tcp_ports(runtimes) == ENGINE_PORTS
    assert runtimes["to"][0]["podSelector"]["matchLabels"] == RUNTIME_LABELS

    docs = render(helm, "-f", str(ALL_VALUES))
    policy = one(docs, "NetworkPolicy", "-router")
    operator = one(docs, "Deployment", "-operator")
    dashboard = one(docs, "Deployment", "-dashboard")
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}},
        {"podSelector": {"matchLabels": operator["spec"]["selector"]["matchLabels"]}},
        {"podSelector": {"matchLabels": dashboard["spec"]["selector"]["matchLabels"]}},
    ]
    api = policy["spec"]["egress"][1]
    assert api == {
        "ports": [{"protocol": "TCP", "port": 6443}],
        "to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}],
    }
    namespaces = [p["namespaceSelector"]["matchLabels"] for p in policy["spec"]["egress"][2]["to"]]
    assert namespaces == [
        {"kubernetes.io/metadata.name": ns} for ns in ("ai-prod", "ai-staging", "ai-batch")
    ]


def test_without_model_namespaces_operator_and_router_reach_runtimes_anywhere(helm: Path) -> None:
    docs = render(helm)  # watches every namespace, lists none
    assert find(docs, "NetworkPolicy", "-runtimes") == []
    for name in ("-operator", "-router"):
        runtimes = one(docs, "NetworkPolicy", name)["spec"]["egress"][-1]
        assert runtimes["to"] == [
            {"namespaceSelector": {}, "podSelector": {"matchLabels": RUNTIME_LABELS}}
        ]
        assert tcp_ports(runtimes) == ENGINE_PORTS


def test_network_policies_off_renders_none(helm: Path) -> None:
    docs = render(helm, "-f", str(ALL_VALUES), "--set", "networkPolicy.enabled=false")
    assert find(docs, "NetworkPolicy") == []


def test_the_operator_reads_the_router_pods_of_its_namespace_only(helm: Path) -> None:
    docs = render(helm, "--set", "watchNamespaces={team-a}")
    own = [
        rule
        for doc, rule in rules_of(docs)
        if doc["kind"] == "Role"
        and doc["metadata"]["namespace"] == RELEASE_NAMESPACE
        and doc["metadata"]["name"].endswith("-operator-router-config")
    ]
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]} in own


def test_default_router_settings_parse_and_roll_the_operator(helm: Path) -> None:
    docs = render(helm)
    settings = one(docs, "ConfigMap", "-router-settings")["data"]["router-settings.yaml"]
    assert not parse_router_config_yaml(settings).auth.enabled
    before = one(docs, "Deployment", "-operator")["spec"]["template"]["metadata"]["annotations"]
    changed = render(helm, "--set", "router.settings.demotionWindowSeconds=60")
    after = one(changed, "Deployment", "-operator")["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/router-settings"] != after["checksum/router-settings"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"router": {"replicas": "three"}}, "/router/replicas"),
        ({"watchNamespaces": "team-a"}, "/watchNamespaces"),
        ({"router": {"replica": 3}}, "'replica'"),  # a typo is an error, not ignored
        ({"operator": {"ha": {"enabled": "yes"}}}, "/operator/ha/enabled"),
        ({"router": {"service": {"type": "Ingress"}}}, "/router/service/type"),
        (
            {"networkPolicy": {"modelPull": {"cidrs": ["example.com"]}}},
            "/networkPolicy/modelPull/cidrs/0",
        ),
        (
            {"router": {"settings": {"retries": {"maxAttempts": 0}}}},
            "/router/settings/retries/maxAttempts",
        ),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"router": {"settings": {"holdSeconds": 0}}}, "/router/settings/holdSeconds"),
        ({"operator": {"metrics": {"port": 0}}}, "/operator/metrics/port"),
        (
            {"operator": {"serviceMonitor": {"interval": "often"}}},
            "/operator/serviceMonitor/interval",
        ),
    ],
)
def test_values_of_the_wrong_shape_fail_on_the_schema(
    helm: Path, tmp_path: Path, values: Doc, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(values))
    for command in ("template", "lint"):
        args = ["mo", str(CHART)] if command == "template" else [str(CHART)]
        result = run_helm(helm, command, *args, "-f", str(bad))
        assert result.returncode != 0, f"{command} accepted {values}"
        output = result.stdout + result.stderr
        assert "values don't meet the specifications of the schema" in output
        assert message in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "operator.replicas=2"], "operator.replicas > 1 needs operator.ha.enabled"),
        (
            ["--set", "operator.metrics.port=8081"],
            "operator.metrics.port must differ from operator.livenessPort",
        ),
        (
            [
                *("--set", "operator.metrics.enabled=false"),
                *("--set", "operator.serviceMonitor.enabled=true"),
            ],
            "operator.serviceMonitor.enabled needs operator.metrics.enabled",
        ),
        (
            [
                *("--set", "router.autoscaling.enabled=true"),
                *("--set", "router.autoscaling.minReplicas=5"),
                *("--set", "router.autoscaling.maxReplicas=3"),
            ],
            "minReplicas must be <= router.autoscaling.maxReplicas",
        ),
    ],
)
def test_contradictory_values_fail_with_a_clear_message(
    helm: Path, args: list[str], message: str
) -> None:
    result = run_helm(helm, "template", "mo", str(CHART), *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_chart_crds_are_identical_to_the_generated_ones() -> None:
    generated = REPO / "crds" / "modelops.io_modeldeployments.yaml"
    packaged = CHART / "crds" / generated.name
    assert packaged.read_bytes() == generated.read_bytes(), "stale chart CRD: run `make crds`"
    chart_crds = {
        doc["metadata"]["name"]
        for path in (CHART / "crds").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert chart_crds == {
        "modeldeployments.modelops.io",
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    }


def test_chart_version_matches_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


def test_operator_metrics_port_service_and_service_monitor(helm: Path) -> None:
    docs = render(helm)
    operator = one(docs, "Deployment", "-operator")
    args = container(operator)["args"]
    assert "--metrics-port=9090" in args
    assert "--metrics-host=0.0.0.0" in args  # Prometheus scrapes the pod IP
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container(operator)[
        "ports"
    ]
    service = one(docs, "Service", "-operator-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == operator["spec"]["selector"]["matchLabels"]
    assert find(docs, "ServiceMonitor") == []  # off by default: needs the Prometheus Operator

    docs = render(helm, "-f", str(ALL_VALUES))
    operator = one(docs, "Deployment", "-operator")
    assert "--metrics-port=9191" in container(operator)["args"]
    monitor = one(docs, "ServiceMonitor", "-operator")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(docs, "Service", "-operator-metrics")
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    assert selected <= service["metadata"]["labels"].items()  # the monitor finds the Service

    docs = render(helm, "--set", "operator.metrics.enabled=false")
    operator = one(docs, "Deployment", "-operator")
    assert not any(a.startswith("--metrics-port") for a in container(operator)["args"])
    assert [p["name"] for p in container(operator)["ports"]] == ["health", "ready"]
    assert find(docs, "Service", "-operator-metrics") == []


def test_the_dashboard_is_off_by_default_and_read_only_when_on(helm: Path) -> None:
    assert not [d for d in render(helm) if "dashboard" in d["metadata"]["name"]]
    docs = render(helm, "--set", "dashboard.enabled=true")
    mine = [d for d in docs if d["metadata"]["name"].endswith(("-dashboard", "-dashboard-routers"))]
    assert sorted(d["kind"] for d in mine) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    policy = one(docs, "NetworkPolicy", "-dashboard")
    [ingress] = policy["spec"]["ingress"]
    assert tcp_ports(ingress) == {3100}
    deployment = one(docs, "Deployment", "-dashboard")
    spec = deployment["spec"]["template"]["spec"]
    assert (
        spec["serviceAccountName"] == one(docs, "ServiceAccount", "-dashboard")["metadata"]["name"]
    )
    args = container(deployment)["args"]
    assert args[0] == "dashboard"
    assert f"--router-namespace={RELEASE_NAMESPACE}" in args
    assert "--router-port=8080" in args
    router = one(docs, "Deployment", "-router")
    selector = router["spec"]["selector"]["matchLabels"]
    wanted = dict(
        pair.split("=", 1)
        for pair in next(a for a in args if a.startswith("--router-selector="))
        .split("=", 1)[1]
        .split(",")
    )
    assert wanted.items() <= selector.items()  # it finds exactly the router's pods
    assert container(deployment)["securityContext"]["readOnlyRootFilesystem"] is True
    service = one(docs, "Service", "-dashboard")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    for doc in (d for d in mine if d["kind"] in ("Role", "ClusterRole")):
        for rule in doc["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, doc["metadata"]["name"]
    proxy = [
        r for d in mine if d["kind"] == "Role" for r in d["rules"] if "pods/proxy" in r["resources"]
    ]
    assert proxy == [{"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]}]
    assert one(docs, "Role", "-dashboard-routers")["metadata"]["namespace"] == RELEASE_NAMESPACE
    policy = one(docs, "NetworkPolicy", "-dashboard")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 3100}]}]


def test_the_dashboard_with_watched_namespaces_reads_only_those(helm: Path) -> None:
    docs = render(
        helm, "--set", "dashboard.enabled=true", "--set", "watchNamespaces={team-a,team-b}"
    )
    args = container(one(docs, "Deployment", "-dashboard"))["args"]
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    cluster_role = one(docs, "ClusterRole", "-dashboard")
    assert cluster_role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}
    ]
    roles = [
        d
        for d in find(docs, "Role", "-dashboard")
        if d["metadata"]["namespace"] != RELEASE_NAMESPACE
    ]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert {res for r in roles for rule in r["rules"] for res in rule["resources"]} == {
        "modeldeployments",
        "pods",
        "events",
    }


def test_the_grafana_dashboard_configmap_carries_the_json_for_the_sidecar(helm: Path) -> None:
    assert not find(render(helm), "ConfigMap", "-grafana-dashboard")
    docs = render(helm, "-f", str(ALL_VALUES))
    config_map = one(docs, "ConfigMap", "-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "LLM"}
    shipped = json.loads((CHART / "dashboards" / "modelops.json").read_text())
    assert json.loads(config_map["data"]["modelops.json"]) == shipped
    deployment = one(docs, "Deployment", "-dashboard")
    assert (
        container(deployment)["image"] == "registry.example.com/platform/modelops:0.1.0-dashboard"
    )
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "modelops-dashboard-sa"


def test_tracing_values_switch_the_sdk_on_for_router_and_operator(helm: Path) -> None:
    for docs in (render(helm),):
        for name in ("-router", "-operator"):
            env = {e["name"] for e in container(one(docs, "Deployment", name)).get("env", [])}
            assert "OTEL_TRACES_EXPORTER" not in env  # off by default
    docs = render(helm, "-f", str(ALL_VALUES))
    for name, service in (("-router", "modelops-router"), ("-operator", "modelops-operator")):
        env = {e["name"]: e.get("value") for e in container(one(docs, "Deployment", name))["env"]}
        assert env["OTEL_TRACES_EXPORTER"] == "otlp"
        assert env["OTEL_SERVICE_NAME"] == service
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
