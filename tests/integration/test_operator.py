"""The operator against the real local control plane (issue 4's must-show list)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml

from modelops.localcluster import cluster as localcluster
from modelops.localcluster import nodes
from tests.conftest import REPO, ClusterHandle, OperatorProcess, wait_until

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def get(cluster: ClusterHandle, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in body.get("status", {}).get("conditions", []):
        if item["type"] == type_:
            return item  # type: ignore[no-any-return]
    return {}


def apply_yaml(cluster: ClusterHandle, namespace: str, document: dict[str, Any]) -> None:
    cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(document)
    )


def small_model(name: str, **spec: Any) -> dict[str, Any]:
    base = {"engine": "ollama", "model": "phi3:mini", "resources": {"gpus": 0, "cpu": "1"}}
    base.update(spec)
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": base,
    }


def wait_ready(cluster: ClusterHandle, namespace: str, *what: str, timeout: int = 120) -> None:
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        *what,
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )


def example_docs() -> list[dict[str, Any]]:
    return [
        yaml.safe_load(path.read_text()) for path in EXAMPLES if path.name != "kustomization.yaml"
    ]


def test_every_example_becomes_ready_with_the_right_workload(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-k", str(REPO / "examples"))
    wait_ready(cluster, namespace, "md", "--all", timeout=180)
    node_labels = {
        n["metadata"]["name"]: n["metadata"]["labels"] for n in get(cluster, "nodes")["items"]
    }
    for doc in example_docs():
        name, spec = doc["metadata"]["name"], doc["spec"]
        md = get(cluster, "md", "-n", namespace, name)
        assert md["status"]["phase"] == "Ready"
        assert md["status"]["readyReplicas"] == spec.get("replicas", 1)
        assert condition(md, "Ready")["reason"] == "AllReplicasReady"
        deployment = get(cluster, "deployment", "-n", namespace, f"{name}-blue")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        gpus = spec["resources"].get("gpus", 0)
        if spec["engine"] == "vllm":
            assert container["image"].startswith("vllm/vllm-openai:")
            args = container["args"]
            assert args[args.index("--model") + 1] == spec["model"]
            assert args[args.index("--served-model-name") + 1] == name
            assert args[args.index("--tensor-parallel-size") + 1] == str(
                spec["vllm"].get("tensorParallelSize", gpus)
            )
            assert args[args.index("--max-model-len") + 1] == str(spec["vllm"]["maxModelLen"])
        else:
            assert container["image"].startswith("ollama/ollama:")
            post_start = " ".join(container["lifecycle"]["postStart"]["exec"]["command"])
            assert f"ollama pull {spec['model']}" in post_start
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["OLLAMA_CONTEXT_LENGTH"] == str(spec["ollama"]["contextLength"])
        limits = container.get("resources", {}).get("limits", {})
        assert limits.get("nvidia.com/gpu") == (str(gpus) if gpus else None)
        pods = get(cluster, "pods", "-n", namespace, "-l", f"modelops.io/model={name}")["items"]
        assert len(pods) == 1
        labels = node_labels[pods[0]["spec"]["nodeName"]]
        product = spec["resources"].get("gpuProduct")
        if product:
            assert labels["nvidia.com/gpu.product"] == product
        if gpus == 0:
            assert "nvidia.com/gpu.present" not in labels  # the GPU taint keeps CPU models off
        assert pods[0]["status"]["podIP"].startswith("127.")


def test_spec_update_rolls_out_to_the_other_slot_and_observed_generation(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    """A new revision goes to the idle slot; with minRequests 0 nothing is asked of traffic,
    so the steps pass on the smoke test alone and the new slot becomes stable."""
    rollout = {"analysis": {"minRequests": 0}}
    apply_yaml(
        cluster, namespace, small_model("tiny", ollama={"contextLength": 2048}, rollout=rollout)
    )
    wait_ready(cluster, namespace, "md/tiny")
    apply_yaml(
        cluster, namespace, small_model("tiny", ollama={"contextLength": 4096}, rollout=rollout)
    )

    def context_length(deployment: str) -> str | None:
        body = get(cluster, "deployment", "-n", namespace, deployment)
        env = body["spec"]["template"]["spec"]["containers"][0]["env"]
        return next((e.get("value") for e in env if e["name"] == "OLLAMA_CONTEXT_LENGTH"), None)

    def promoted() -> bool:
        md = get(cluster, "md", "-n", namespace, "tiny")
        status = md["status"]
        return (
            (status.get("stable") or {}).get("slot") == "green"
            and "canary" not in status
            and status.get("observedGeneration") == md["metadata"]["generation"] == 2
            and condition(md, "Ready").get("observedGeneration") == 2
        )

    wait_until(promoted, timeout=90, what="the new revision promoted to the green slot")
    assert context_length("tiny-green") == "4096"
    assert context_length("tiny-blue") == "2048"  # the old slot keeps its template, at 0
    blue = get(cluster, "deployment", "-n", namespace, "tiny-blue")
    assert blue["spec"]["replicas"] == 0
    wait_ready(cluster, namespace, "md/tiny")
    reasons = [
        e["reason"]
        for e in get(
            cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=tiny"
        )["items"]
    ]
    for reason in ("RolloutStarted", "RolloutStep", "RolloutPromoting", "RolloutPromoted"):
        assert reason in reasons


def test_a_deleted_or_edited_child_is_restored(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    apply_yaml(cluster, namespace, small_model("drift"))
    wait_ready(cluster, namespace, "md/drift")
    first_uid = get(cluster, "deployment", "-n", namespace, "drift-blue")["metadata"]["uid"]
    cluster.kubectl("delete", "deployment", "-n", namespace, "drift-blue")
    wait_until(
        lambda: (
            (
                r := cluster.kubectl(
                    "get", "deployment", "-n", namespace, "drift-blue", "-o", "json", check=False
                )
            ).returncode
            == 0
            and json.loads(r.stdout)["metadata"]["uid"] != first_uid
        ),
        what="deployment recreated",
    )
    cluster.kubectl("delete", "service", "-n", namespace, "drift")
    wait_until(
        lambda: (
            cluster.kubectl("get", "service", "-n", namespace, "drift", check=False).returncode == 0
        ),
        what="service recreated",
    )
    cluster.kubectl("scale", "deployment", "-n", namespace, "drift-blue", "--replicas=3")
    cluster.kubectl("set", "image", "-n", namespace, "deployment/drift-blue", "server=busybox")

    def restored() -> bool:
        spec = get(cluster, "deployment", "-n", namespace, "drift-blue")["spec"]
        return bool(
            spec["replicas"] == 1
            and spec["template"]["spec"]["containers"][0]["image"].startswith("ollama/")
        )

    wait_until(restored, what="edited deployment restored")
    wait_ready(cluster, namespace, "md/drift")


def test_deleting_the_model_deployment_removes_children_and_route(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    served = f"gone-{uuid.uuid4().hex[:6]}"
    apply_yaml(cluster, namespace, small_model("gone", servedModelName=served))
    wait_ready(cluster, namespace, "md/gone")
    wait_until(lambda: served in operator.router_config().get("models", {}), what="route added")
    cluster.kubectl("delete", "md", "-n", namespace, "gone", "--timeout=60s")
    assert served not in operator.router_config().get("models", {})  # finalizer waited for it
    wait_until(
        lambda: (
            not get(
                cluster,
                "deployments,services,pods",
                "-n",
                namespace,
                "-l",
                "modelops.io/model=gone",
            )["items"]
        ),
        what="children garbage-collected",
    )


def test_insufficient_gpu_is_reported_then_ready_once_a_node_is_added(
    cluster: ClusterHandle,
    local_cluster: localcluster.Cluster,
    operator: OperatorProcess,
    namespace: str,
) -> None:
    product = f"TEST-GPU-{namespace[-5:].upper()}"
    small = nodes.NodeShape(f"small-{namespace[-5:]}", gpus=4, gpu_product=product)
    big = nodes.NodeShape(f"big-{namespace[-5:]}", gpus=8, gpu_product=product)
    added = localcluster.add_nodes(local_cluster, [small])
    try:
        apply_yaml(
            cluster,
            namespace,
            {
                "apiVersion": "modelops.io/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "huge"},
                "spec": {
                    "engine": "vllm",
                    "model": "big/model",
                    "resources": {"gpus": 8, "gpuProduct": product},
                },
            },
        )

        def insufficient() -> dict[str, Any] | None:
            ready = condition(get(cluster, "md", "-n", namespace, "huge"), "Ready")
            return ready if ready.get("reason") == "InsufficientGPU" else None

        ready = wait_until(insufficient, what="Ready=False InsufficientGPU")
        assert ready["status"] == "False"
        assert "Insufficient nvidia.com/gpu" in ready["message"]
        assert ready["message"].startswith("0/")  # the scheduler's own wording
        events = get(
            cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=huge"
        )["items"]
        assert any(e["reason"] == "InsufficientGPU" and e["type"] == "Warning" for e in events)
        added += localcluster.add_nodes(local_cluster, [big])
        wait_ready(cluster, namespace, "md/huge")
    finally:
        cluster.kubectl(
            "delete", "md", "-n", namespace, "huge", "--wait=true", "--timeout=60s", check=False
        )
        cluster.kubectl("delete", "nodes", *added, "--wait=false")


def test_scale_subresource_and_kubectl_scale(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    apply_yaml(cluster, namespace, small_model("scaled"))
    wait_ready(cluster, namespace, "md/scaled")
    cluster.kubectl("scale", "md/scaled", "-n", namespace, "--replicas=3")
    wait_until(
        lambda: get(cluster, "md", "-n", namespace, "scaled")["status"].get("readyReplicas") == 3,
        what="3 ready replicas",
    )
    wait_ready(cluster, namespace, "md/scaled")
    assert get(cluster, "deployment", "-n", namespace, "scaled-blue")["spec"]["replicas"] == 3


def test_operator_restart_changes_nothing(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    apply_yaml(cluster, namespace, small_model("steady"))
    wait_ready(cluster, namespace, "md/steady")
    wait_until(lambda: "steady" in operator.router_config().get("models", {}), what="route")

    def versions() -> dict[str, str]:
        items = get(cluster, "md,deployments,services,pods,configmaps", "-n", namespace)["items"]
        items.append(
            get(cluster, "configmap", "-n", operator.config_namespace, "modelops-router-config")
        )
        return {
            f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items
        }

    before = versions()
    operator.restart()
    wait_until(
        lambda: f"reconciled {namespace}/steady: Ready, 0 applied" in operator.log(),
        what="the restarted operator reconciled the object",
    )
    assert versions() == before


def test_a_crash_looping_runtime_is_degraded(
    cluster: ClusterHandle, operator: OperatorProcess, namespace: str
) -> None:
    # A knob the simulator cannot parse makes it exit at start, as a bad flag makes vLLM exit;
    # the launcher restarts it with back-off, like the kubelet.
    env = [{"name": "MODELOPS_SIM_TOKENS_PER_SECOND", "value": "not-a-number"}]
    apply_yaml(cluster, namespace, small_model("crashy", env=env))

    def degraded() -> dict[str, Any] | None:
        md = get(cluster, "md", "-n", namespace, "crashy")
        found = condition(md, "Degraded")
        return md if found.get("status") == "True" else None

    md = wait_until(degraded, timeout=120, what="Degraded=True")
    assert condition(md, "Degraded")["reason"] == "CrashLoopBackOff"
    assert md["status"]["phase"] == "Degraded"
    assert condition(md, "Ready")["status"] == "False"
    assert condition(md, "Stalled")["status"] == "True"
    events = get(
        cluster, "events", "-n", namespace, "--field-selector", "involvedObject.name=crashy"
    )["items"]
    assert any(e["reason"] == "CrashLoopBackOff" and e["type"] == "Warning" for e in events)
