"""examples/gitops/: no Argo CD or Flux controller runs here, so the manifests are checked
structurally: they parse, carry the fields those controllers require, point at paths that
exist in this repository, reference each other consistently, and their chart values pass
the chart's values schema (`helm template`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.localcluster import toolchain
from tests.conftest import REPO

GITOPS = REPO / "examples" / "gitops"
CHART = REPO / "helm" / "modelops"

Doc = dict[str, Any]


def documents(folder: Path) -> list[Doc]:
    return [
        doc
        for path in sorted(folder.rglob("*.yaml"))
        if path.name != "kustomization.yaml" and "patch" not in path.name
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def repo_path(path: str) -> Path:
    return REPO / path.removeprefix("./")


def chart_accepts(values: Doc, tmp_path: Path) -> None:
    if not toolchain.is_built(toolchain.HELM):
        toolchain.build()
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [str(toolchain.binary_path("helm")), "template", "x", str(CHART), "-f", str(file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_manifest_has_the_basics() -> None:
    docs = documents(GITOPS)
    assert docs
    for doc in docs:
        assert doc["apiVersion"]
        assert doc["kind"]
        assert doc["metadata"]["name"]


def test_every_kustomization_lists_files_that_exist() -> None:
    for path in GITOPS.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        assert kustomization["kind"] == "Kustomization"
        for resource in kustomization["resources"]:
            assert (path.parent / resource).exists(), f"{path}: {resource}"


def test_argo_cd_applications(tmp_path: Path) -> None:
    applications = of_kind(documents(GITOPS / "argocd"), "Application")
    by_name = {a["metadata"]["name"]: a for a in applications}
    assert set(by_name) == {"modelops", "modelops-models"}
    for app in applications:
        assert app["apiVersion"] == "argoproj.io/v1alpha1"
        assert app["metadata"]["namespace"] == "argocd"
        spec = app["spec"]
        assert spec["project"]
        assert spec["source"]["repoURL"].startswith("https://")
        assert spec["source"]["targetRevision"]
        assert spec["destination"]["server"] == "https://kubernetes.default.svc"
        assert spec["destination"]["namespace"]
        assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]
    chart_app = by_name["modelops"]["spec"]
    assert repo_path(chart_app["source"]["path"]) == CHART
    chart_accepts(chart_app["source"]["helm"]["valuesObject"], tmp_path)
    models_app = by_name["modelops-models"]["spec"]
    assert (repo_path(models_app["source"]["path"]) / "kustomization.yaml").exists()
    # The chart's watched namespace is where the models go, and it is created up front.
    watched = chart_app["source"]["helm"]["valuesObject"]["watchNamespaces"]
    assert models_app["destination"]["namespace"] in watched
    namespaces = of_kind(documents(GITOPS / "argocd"), "Namespace")
    assert {n["metadata"]["name"] for n in namespaces} == set(watched)


def test_flux_release_sources_and_kustomizations(tmp_path: Path) -> None:
    docs = documents(GITOPS / "flux")
    sources = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"].endswith("Repository")}
    (release,) = of_kind(docs, "HelmRelease")
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    chart = release["spec"]["chart"]["spec"]
    assert chart["chart"] == yaml.safe_load((CHART / "Chart.yaml").read_text())["name"]
    assert (chart["sourceRef"]["kind"], chart["sourceRef"]["name"]) in sources
    assert release["spec"]["install"]["crds"] == "CreateReplace"
    chart_accepts(release["spec"]["values"], tmp_path)
    kustomizations = {k["metadata"]["name"]: k for k in of_kind(docs, "Kustomization")}
    for kustomization in kustomizations.values():
        assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        spec = kustomization["spec"]
        assert (spec["sourceRef"]["kind"], spec["sourceRef"]["name"]) in sources
        assert (repo_path(spec["path"]) / "kustomization.yaml").exists(), spec["path"]
        assert spec["wait"] is True  # health through kstatus
        for dependency in spec.get("dependsOn", []):
            assert dependency["name"] in kustomizations
    models = kustomizations["modelops-models"]["spec"]
    (health,) = models["healthCheckExprs"]  # kstatus alone does not read Ready
    assert (health["apiVersion"], health["kind"]) == ("modelops.io/v1alpha1", "ModelDeployment")
    assert "'Ready'" in health["current"]
    assert "'Degraded'" in health["failed"]
    assert models["targetNamespace"] in release["spec"]["values"]["watchNamespaces"]
    # The HelmRelease is applied by the Kustomization the models depend on.
    operator_path = repo_path(kustomizations["modelops-operator"]["spec"]["path"])
    assert of_kind(documents(operator_path), "HelmRelease") == [release]


def argo_health(lua_source: str, obj: Doc) -> Doc:
    import lupa  # a test dependency: the Lua health check is run, not skipped

    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return runtime.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return runtime.table_from([to_lua(v) for v in value])
        return value

    check = runtime.eval(f"function(obj)\n{lua_source}\nend")
    result = check(to_lua(obj))
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize(
    ("status", "generation", "expected"),
    [
        (None, 1, "Progressing"),
        ({"observedGeneration": 1, "conditions": []}, 1, "Progressing"),
        (
            {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]},
            1,
            "Healthy",
        ),
        (
            {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]},
            2,
            "Progressing",
        ),
        (
            {
                "observedGeneration": 2,
                "conditions": [
                    {"type": "Ready", "status": "False", "message": "0/1"},
                    {"type": "Degraded", "status": "True", "message": "CrashLoopBackOff"},
                ],
            },
            2,
            "Degraded",
        ),
        (  # a rollout serves (Ready) but has not landed yet
            {
                "observedGeneration": 2,
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "Reconciling", "status": "True", "message": "step 1/3 at 10%"},
                ],
            },
            2,
            "Progressing",
        ),
        (  # rolled back: still serving, and this generation will not land
            {
                "observedGeneration": 2,
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "Stalled", "status": "True", "message": "error rate 0.31 > 0.05"},
                ],
            },
            2,
            "Degraded",
        ),
    ],
)
def test_argo_cd_health_check_maps_conditions(
    status: Doc | None, generation: int, expected: str
) -> None:
    patch = yaml.safe_load((GITOPS / "argocd" / "argocd-cm-health-patch.yaml").read_text())
    lua = patch["data"]["resource.customizations.health.modelops.io_ModelDeployment"]
    obj: Doc = {"metadata": {"generation": generation}}
    if status is not None:
        obj["status"] = status
    assert argo_health(lua, obj)["status"] == expected
