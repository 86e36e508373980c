"""The Helm chart against the real local control plane (issue 6's must-show list).

The chart's operator and router pods cannot really run here (their image is not pullable on
simulated nodes; KWOK only marks them Running), so the operator runs as a local process
that authenticates as the chart's ServiceAccount with a TokenRequest token: what it can do
is exactly what the chart's RBAC grants.

Note on the session `operator` fixture (an admin operator over every namespace): these tests
do not use it, and they prove the RBAC from what *our* process did (its own log of
reconciles, no 403 in it, and the router ConfigMap that only it writes), so they hold even
when that fixture is running in the same session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.localcluster import toolchain
from tests.conftest import (
    REPO,
    ClusterHandle,
    OperatorProcess,
    free_port,
    terminate,
    wait_until,
)

CHART = REPO / "helm" / "modelops"
EXAMPLE_NAMES = sorted(
    yaml.safe_load(path.read_text())["metadata"]["name"]
    for path in (REPO / "examples").glob("*.yaml")
    if path.name != "kustomization.yaml"
)
API_KEYS_SECRET = "modelops-api-keys"
API_KEY = "sk-helm-test-0123456789"


@dataclass
class Release:
    name: str
    namespace: str  # the release namespace (operator, router, router ConfigMap)
    models: str  # the one namespace the chart watches
    helm: Path
    cluster: ClusterHandle
    env: dict[str, str]
    installed: bool = False

    @property
    def operator_sa(self) -> str:
        return f"{self.name}-modelops-operator"

    @property
    def router_sa(self) -> str:
        return f"{self.name}-modelops-router"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.helm), "--kubeconfig", str(self.cluster.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl("get", *args, "-o", "json").stdout)


@contextmanager
def new_release(cluster: ClusterHandle, helm_home: Path) -> Iterator[Release]:
    """A release name, its namespace and a models namespace; uninstalled and removed after."""
    if not toolchain.is_built(toolchain.HELM):
        toolchain.build()
    suffix = uuid.uuid4().hex[:5]
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(helm_home / "cache"),
        HELM_CONFIG_HOME=str(helm_home / "config"),
        HELM_DATA_HOME=str(helm_home / "data"),
    )
    handle = Release(
        name=f"mo-{suffix}",
        namespace=f"modelops-system-{suffix}",
        models=f"helm-models-{suffix}",
        helm=toolchain.binary_path("helm"),
        cluster=cluster,
        env=env,
    )
    cluster.kubectl("create", "namespace", handle.models)
    try:
        yield handle
    finally:
        if handle.installed:
            handle.run("uninstall", handle.name, "-n", handle.namespace, "--wait", check=False)
        for namespace in (handle.models, handle.namespace):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(cluster: ClusterHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    with new_release(cluster, tmp_path_factory.mktemp("helm-home")) as handle:
        yield handle


def install(release: Release, *values: str) -> subprocess.CompletedProcess[str]:
    """helm install with the models namespace watched and API keys wired (no --wait: on the
    simulated nodes the router's readiness probe never passes, as nothing really runs)."""
    result = release.run(
        "install",
        release.name,
        str(CHART),
        "-n",
        release.namespace,
        "--create-namespace",
        "--set",
        f"watchNamespaces={{{release.models}}}",
        "--set",
        f"router.auth.existingSecret={API_KEYS_SECRET}",
        *values,
    )
    release.installed = True
    return result


@pytest.fixture(scope="module")
def installed(release: Release) -> subprocess.CompletedProcess[str]:
    return install(release)


def token_kubeconfig(release: Release, service_account: str, path: Path) -> Path:
    """A kubeconfig for the cluster that logs in as `service_account` (TokenRequest API)."""
    token = release.cluster.kubectl(
        "create", "token", service_account, "-n", release.namespace, "--duration=1h"
    ).stdout.strip()
    config = yaml.safe_load(release.cluster.kubectl("config", "view", "--raw", "--minify").stdout)
    context = config["contexts"][0]
    config["users"] = [{"name": service_account, "user": {"token": token}}]
    context["context"]["user"] = service_account
    path.write_text(yaml.safe_dump(config))
    return path


def can_i(release: Release, service_account: str, *args: str) -> bool:
    result = release.cluster.kubectl(
        "auth",
        "can-i",
        *args,
        f"--as=system:serviceaccount:{release.namespace}:{service_account}",
        check=False,
    )
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    return answer == "yes"


def test_install_creates_everything(release: Release, installed: Any) -> None:
    assert "kubectl wait" in installed.stdout  # NOTES: the next command to run
    status = json.loads(
        release.run("status", release.name, "-n", release.namespace, "-o", "json").stdout
    )
    assert status["info"]["status"] == "deployed"
    manifest = release.run("get", "manifest", release.name, "-n", release.namespace).stdout
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    # Every object the chart rendered exists in the cluster.
    found = json.loads(
        release.cluster.kubectl("get", "-f", "-", "-o", "json", input=manifest).stdout
    )["items"]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in documents) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in found
    )
    kinds = {d["kind"] for d in documents}
    assert {
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
    } <= kinds
    crd = release.get("crd", "modeldeployments.modelops.io")
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True"
    for component in ("operator", "router"):
        deployment = release.get(
            "deployment", "-n", release.namespace, f"{release.name}-modelops-{component}"
        )
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == (
            f"{release.name}-modelops-{component}"
        )
    policy = release.get("networkpolicy", "-n", release.models, f"{release.name}-modelops-runtimes")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "model-server"
    )


def test_operator_as_the_chart_service_account_reconciles_every_example(
    release: Release, installed: Any, tmp_path: Path
) -> None:
    kubeconfig = token_kubeconfig(release, release.operator_sa, tmp_path / "operator.kubeconfig")
    whoami = release.cluster.kubectl(
        "--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json"
    )
    username = json.loads(whoami.stdout)["status"]["userInfo"]["username"]
    assert username == f"system:serviceaccount:{release.namespace}:{release.operator_sa}"
    # The API keys the chart wires in, and the operator's settings exactly as the chart
    # renders them (they reference that Secret).
    keys = yaml.safe_dump({"keys": [{"key": API_KEY, "models": ["*"], "name": "test"}]})
    release.cluster.kubectl(
        "create",
        "secret",
        "generic",
        API_KEYS_SECRET,
        "-n",
        release.namespace,
        f"--from-literal=keys.yaml={keys}",
    )
    settings = tmp_path / "chart-router-settings.yaml"
    settings.write_text(
        release.get(
            "configmap", "-n", release.namespace, f"{release.name}-modelops-router-settings"
        )["data"]["router-settings.yaml"]
    )
    as_operator = ClusterHandle(kubeconfig, release.cluster.bin_dir, None)
    (tmp_path / "operator").mkdir()
    # Our --router-settings comes last on its command line, so it wins over any default.
    process = OperatorProcess(as_operator, release.namespace, tmp_path / "operator")
    process.start("--namespace", release.models, "--router-settings", str(settings))
    try:
        release.cluster.kubectl("apply", "-n", release.models, "-k", str(REPO / "examples"))
        release.cluster.kubectl(
            "wait",
            "-n",
            release.models,
            "--for=condition=Ready",
            "md",
            "--all",
            "--timeout=180s",
            timeout=190,
        )
        # Only our process writes this ConfigMap (the release namespace is its own).
        wait_until(
            lambda: sorted(process.router_config().get("models", {})) == EXAMPLE_NAMES,
            what="every example routed in the release's router ConfigMap",
        )
        config = process.router_config()
        assert {route["namespace"] for route in config["models"].values()} == {release.models}
        wait_until(
            lambda: all(
                f"reconciled {release.models}/{name}: Ready" in process.log()
                for name in EXAMPLE_NAMES
            ),
            what="our operator's own Ready reconciles",
        )
        assert config["auth"]["secretRef"]["name"] == API_KEYS_SECRET
        # Events are written as the ServiceAccount too.
        events = release.get("events", "-n", release.models)["items"]
        assert any(e["involvedObject"]["kind"] == "ModelDeployment" for e in events)
        router_log = serve_through_the_router_as_its_service_account(release, tmp_path)
        for word in ("forbidden", "403"):
            assert word not in router_log.lower(), router_log[-4000:]
        # Deleting goes through the finalizer, which this operator must be allowed to remove.
        release.cluster.kubectl(
            "delete", "md", "--all", "-n", release.models, "--timeout=90s", timeout=100
        )
        wait_until(lambda: process.router_config().get("models", {}) == {}, what="routes removed")
    finally:
        process.stop()
    log = process.log()
    assert "Forbidden" not in log, log[-4000:]
    assert "status=403" not in log, log[-4000:]


def http(
    port: int, path: str, body: dict[str, Any] | None = None, key: str | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {key}"} if key else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, None


def serve_through_the_router_as_its_service_account(release: Release, tmp_path: Path) -> str:
    """`modelops router --kubernetes` logged in as the chart's router ServiceAccount: it
    reads the ConfigMap the operator wrote and the API-key Secret, finds the runtime pods,
    and (on the local cluster, where simulators answer on pod IPs) serves a completion."""
    kubeconfig = token_kubeconfig(release, release.router_sa, tmp_path / "router.kubeconfig")
    port = free_port()
    log_path = tmp_path / "router.log"
    with log_path.open("wb") as log:
        router = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelops",
                "router",
                "--kubernetes",
                "--kubeconfig",
                str(kubeconfig),
                "--config-namespace",
                release.namespace,
                "--config-name",
                "modelops-router-config",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def listed() -> list[str]:
            if router.poll() is not None:
                raise AssertionError(f"router exited:\n{log_path.read_text()}")
            status, body = http(port, "/v1/models", key=API_KEY)
            return sorted(m["id"] for m in body["data"]) if status == 200 else []

        assert wait_until(listed, timeout=60, what="router lists the models") == EXAMPLE_NAMES
        assert http(port, "/v1/models")[0] == 401  # the keys came from the Secret
        if release.cluster.local is not None:  # simulators answer on the pod IPs
            request = {
                "model": "phi3-mini-4k",
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 8,
            }
            _, answer = wait_until(
                lambda: (
                    r
                    if (r := http(port, "/v1/chat/completions", request, key=API_KEY))[0] == 200
                    else None
                ),
                timeout=60,
                what="a completion through the router",
            )
            assert answer["choices"][0]["message"]["content"]
    finally:
        terminate(router)
    return log_path.read_text(errors="replace")


@pytest.mark.parametrize(
    "verb_and_resource",
    [
        ("get", "secrets", "-n", "{models}"),
        ("list", "secrets", "-n", "{release}"),
        ("get", "secrets", "-n", "kube-system"),
        ("patch", "nodes"),
        ("create", "clusterroles"),
        ("create", "rolebindings", "-n", "{models}"),
        ("delete", "deployments", "-n", "{models}"),
        ("create", "pods", "-n", "{models}"),
        ("create", "deployments", "-n", "default"),  # not a watched namespace
        ("patch", "modeldeployments.modelops.io", "-n", "default"),
        ("get", "configmaps/some-other-config", "-n", "{release}"),
        ("patch", "configmaps", "-n", "kube-system"),
        ("impersonate", "serviceaccounts"),
        # Router pods are read (their /metrics), never changed; other namespaces' pods unseen.
        ("delete", "pods", "-n", "{release}"),
        ("create", "pods", "-n", "{release}"),
        ("list", "pods", "-n", "kube-system"),
    ],
)
def test_the_operator_service_account_is_denied_what_it_does_not_need(
    release: Release, installed: Any, verb_and_resource: tuple[str, ...]
) -> None:
    args = [a.format(models=release.models, release=release.namespace) for a in verb_and_resource]
    assert not can_i(release, release.operator_sa, *args)


def test_the_operator_service_account_has_what_it_needs(release: Release, installed: Any) -> None:
    models, own = release.models, release.namespace
    for args in (
        ("patch", "modeldeployments.modelops.io", "-n", models),
        ("patch", "modeldeployments.modelops.io", "--subresource=status", "-n", models),
        ("create", "deployments.apps", "-n", models),
        ("watch", "pods", "-n", models),
        ("create", "events", "-n", models),
        ("patch", "configmaps/modelops-router-config", "-n", own),
        ("list", "pods", "-n", own),  # the router pods, whose /metrics it scrapes
        ("watch", "pods", "-n", own),
    ):
        assert can_i(release, release.operator_sa, *args), args


def test_the_router_service_account_reads_only_its_config_keys_and_pods(
    release: Release, installed: Any
) -> None:
    sa, own, models = release.router_sa, release.namespace, release.models
    assert can_i(release, sa, "get", f"secrets/{API_KEYS_SECRET}", "-n", own)
    assert can_i(release, sa, "watch", "configmaps/modelops-router-config", "-n", own)
    assert can_i(release, sa, "list", "pods", "-n", models)
    assert not can_i(release, sa, "get", "secrets/other", "-n", own)
    assert not can_i(release, sa, "list", "secrets", "-n", own)
    assert not can_i(release, sa, "get", "configmaps/other", "-n", own)
    assert not can_i(release, sa, "list", "pods", "-n", "kube-system")
    for verb in ("create", "patch", "delete"):
        assert not can_i(release, sa, verb, "configmaps", "-n", own)
        assert not can_i(release, sa, verb, "pods", "-n", models)


def test_upgrade_with_changed_values(release: Release, installed: Any) -> None:
    deployment = f"{release.name}-modelops-router"
    before = release.get("deployment", "-n", release.namespace, f"{release.name}-modelops-operator")
    release.run(
        "upgrade",
        release.name,
        str(CHART),
        "-n",
        release.namespace,
        "--reuse-values",
        "--set",
        "router.replicas=3",
        "--set",
        "router.settings.demotionWindowSeconds=60",
    )
    assert release.get("deployment", "-n", release.namespace, deployment)["spec"]["replicas"] == 3
    settings = release.get(
        "configmap", "-n", release.namespace, f"{release.name}-modelops-router-settings"
    )["data"]["router-settings.yaml"]
    assert yaml.safe_load(settings)["demotionWindowSeconds"] == 60
    after = release.get("deployment", "-n", release.namespace, f"{release.name}-modelops-operator")
    annotation = "checksum/router-settings"
    assert (
        before["spec"]["template"]["metadata"]["annotations"][annotation]
        != after["spec"]["template"]["metadata"]["annotations"][annotation]
    )  # the operator restarts to read its new settings
    wait_until(
        lambda: (
            release.get("deployment", "-n", release.namespace, deployment)["status"].get("replicas")
            == 3
        ),
        what="three router pods",
    )
    history = json.loads(
        release.run("history", release.name, "-n", release.namespace, "-o", "json").stdout
    )
    assert [h["revision"] for h in history] == [1, 2]
    assert history[-1]["status"] == "deployed"


def test_uninstall_removes_the_release_and_keeps_the_crds(release: Release, installed: Any) -> None:
    cluster_roles = [
        f"{release.name}-modelops-operator-{release.namespace}",
        f"{release.name}-modelops-router-pods-{release.namespace}",
    ]
    # A ModelDeployment outlives the release (no operator = no finalizer on it here).
    model = {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "kept"},
        "spec": {"engine": "ollama", "model": "phi3:mini"},
    }
    release.cluster.kubectl("apply", "-n", release.models, "-f", "-", input=json.dumps(model))
    release.run("uninstall", release.name, "-n", release.namespace, "--wait")
    release.installed = False
    leftovers = release.cluster.kubectl(
        "get",
        "deployments,services,serviceaccounts,roles,rolebindings,configmaps,networkpolicies,pdb",
        "-n",
        release.namespace,
        "-l",
        f"app.kubernetes.io/instance={release.name}",
        "-o",
        "name",
    ).stdout.split()
    assert leftovers == []
    for name in cluster_roles:
        assert release.cluster.kubectl("get", "clusterrole", name, check=False).returncode != 0
    release.get("crd", "modeldeployments.modelops.io")  # still there, as Helm does with crds/
    assert release.get("md", "-n", release.models, "kept")["spec"]["model"] == "phi3:mini"
    release.cluster.kubectl("delete", "md", "-n", release.models, "kept", "--wait=false")


def test_gitops_kustomization_applies_as_a_gitops_tool_would(
    cluster: ClusterHandle, crds: None, namespace: str, tmp_path: Path
) -> None:
    """`kubectl apply -k examples/` is what Argo CD (path: examples) and Flux
    (Kustomization path ./examples with targetNamespace) do; run it server-side, twice
    (a GitOps tool re-applies on every sync), and with an overlay as a fleet repo would."""
    for _ in range(2):
        cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-n",
            namespace,
            "-k",
            str(REPO / "examples"),
        )
    names = sorted(
        item["metadata"]["name"]
        for item in json.loads(cluster.kubectl("get", "md", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
    )
    assert names == EXAMPLE_NAMES
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "resources": [os.path.relpath(REPO / "examples", overlay)],
                "patches": [
                    {
                        "target": {"kind": "ModelDeployment", "name": "phi3-mini-4k"},
                        "patch": yaml.safe_dump(
                            [{"op": "replace", "path": "/spec/replicas", "value": 2}]
                        ),
                    }
                ],
            }
        )
    )
    cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "-k", str(overlay))
    phi3 = json.loads(
        cluster.kubectl("get", "md", "-n", namespace, "phi3-mini-4k", "-o", "json").stdout
    )
    assert phi3["spec"]["replicas"] == 2
    # The GitOps manifests themselves build with kustomize (their CRDs are not installed here).
    for folder in ("argocd", "flux", "flux/operator"):
        built = cluster.kubectl("kustomize", str(REPO / "examples" / "gitops" / folder)).stdout
        assert [d for d in yaml.safe_load_all(built) if d]
    cluster.kubectl("delete", "md", "--all", "-n", namespace, "--wait=false")


def test_ha_replicas_elect_one_active_operator(cluster: ClusterHandle, tmp_path: Path) -> None:
    """operator.ha.enabled: two replicas as the chart's ServiceAccount share the chart's
    KopfPeering; one reconciles, and the RBAC covers the peering."""
    with new_release(cluster, tmp_path / "helm-home") as ha:
        install(ha, "--set", "operator.ha.enabled=true", "--set", "operator.replicas=2")
        deployment = ha.get("deployment", "-n", ha.namespace, f"{ha.name}-modelops-operator")
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        ha.get("kopfpeering", "-n", ha.models, "modelops")
        kubeconfig = token_kubeconfig(ha, ha.operator_sa, tmp_path / "operator.kubeconfig")
        replicas = []
        for index in range(2):
            (tmp_path / f"replica-{index}").mkdir()
            replica = OperatorProcess(
                ClusterHandle(kubeconfig, cluster.bin_dir, None),
                ha.namespace,
                tmp_path / f"replica-{index}",
            )
            replicas.append(replica)
        try:
            for replica in replicas:
                replica.start("--namespace", ha.models, "--peering", "modelops")
            wait_until(
                lambda: (
                    len(ha.get("kopfpeering", "-n", ha.models, "modelops").get("status", {})) == 2
                ),
                what="both replicas in the peering",
            )
            model = {
                "apiVersion": "modelops.io/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "ha-model"},
                "spec": {"engine": "ollama", "model": "phi3:mini", "resources": {"cpu": "1"}},
            }
            cluster.kubectl("apply", "-n", ha.models, "-f", "-", input=json.dumps(model))
            cluster.kubectl(
                "wait",
                "-n",
                ha.models,
                "--for=condition=Ready",
                "md/ha-model",
                "--timeout=60s",
                timeout=70,
            )
            cluster.kubectl("delete", "md", "-n", ha.models, "ha-model", "--timeout=60s")
        finally:
            for replica in replicas:
                replica.stop()
        for replica in replicas:
            assert "Forbidden" not in replica.log()
