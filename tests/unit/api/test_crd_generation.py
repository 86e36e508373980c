"""The generated CRD: structural, complete, committed and current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api.crd import (
    CRD_PATH,
    SchemaError,
    build_crd,
    render_crd,
    structural_problems,
    to_structural,
)
from modelops.api.resource import ROOT_RULES
from modelops.api.spec import SPEC_RULES
from modelops.cli import main

REPO = Path(__file__).parents[3]


def schema() -> dict[str, Any]:
    version = build_crd()["spec"]["versions"][0]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        found += walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        found += walk(node["items"], f"{path}[]")
    return found


def test_generated_schema_is_structural() -> None:
    assert structural_problems(schema()) == []
    for path, node in walk(schema()):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not {"$ref", "$defs", "title", "nullable", "oneOf", "allOf"} & node.keys(), path
        assert node.get("default", 0) is not None, path


def test_committed_crd_is_current() -> None:
    committed = (REPO / CRD_PATH).read_text()
    assert committed == render_crd(), "run `modelops crds` and commit the result"


def test_crd_fits_client_side_apply() -> None:
    # kubectl's last-applied annotation is limited to 256 KiB.
    assert len(render_crd().encode()) < 256 * 1024 // 2


def test_subresources_names_and_columns() -> None:
    crd = build_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "modeldeployments.modelops.io"
    assert spec["names"]["shortNames"] == ["md"]
    assert spec["names"]["categories"] == ["modelops"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    for name in ("Engine", "Model", "GPUs", "Ready", "Desired", "Phase", "Age"):
        assert name in columns


def test_cel_rules_and_defaults_land_in_the_schema() -> None:
    root = schema()
    spec = root["properties"]["spec"]
    assert root["x-kubernetes-validations"] == ROOT_RULES
    assert spec["x-kubernetes-validations"] == SPEC_RULES
    assert spec["properties"]["replicas"]["default"] == 1
    assert spec["properties"]["resources"]["default"] == {}
    assert spec["properties"]["resources"]["properties"]["gpus"]["default"] == 0
    assert spec["required"] == ["engine", "model"]
    cpu = spec["properties"]["resources"]["properties"]["cpu"]
    assert cpu["x-kubernetes-int-or-string"] is True
    assert cpu["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    utilization = spec["properties"]["vllm"]["properties"]["gpuMemoryUtilization"]
    assert utilization["exclusiveMinimum"] is True
    assert utilization["minimum"] == 0
    affinity = spec["properties"]["affinity"]
    assert affinity == {
        "type": "object",
        "description": affinity["description"],
        "x-kubernetes-preserve-unknown-fields": True,
    }
    conditions = root["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_every_cel_rule_has_a_message() -> None:
    for path, node in walk(schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), (path, rule)


@pytest.mark.parametrize(
    ("node", "error"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "unions"),
        ({"description": "Any"}, "no type"),
        ({"$ref": "#/$defs/Missing"}, "unresolved"),
        ({"type": "string", "oneOf": []}, "no structural equivalent"),
    ],
)
def test_translation_refuses_what_it_cannot_express(node: dict[str, Any], error: str) -> None:
    with pytest.raises(SchemaError, match=error):
        to_structural(node, {})


def test_translation_of_optional_ref_keeps_field_description() -> None:
    defs = {"Inner": {"type": "object", "description": "class doc", "properties": {}}}
    node = {
        "anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}],
        "default": None,
        "description": "field doc",
        "title": "T",
    }
    assert to_structural(node, defs) == {
        "type": "object",
        "description": "field doc",
        "properties": {},
    }


def test_cli_check_detects_stale_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "crd.yaml"
    assert main(["crds", "--check", "--output", str(target)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["crds", "--output", str(target)]) == 0
    assert main(["crds", "--check", "--output", str(target)]) == 0
    target.write_text(target.read_text().replace("md\n", "mdx\n"))
    assert main(["crds", "--check", "--output", str(target)]) == 1
    assert "stale" in capsys.readouterr().err
    assert yaml.safe_load(render_crd())["kind"] == "CustomResourceDefinition"


def test_docs_mention_every_spec_and_status_field() -> None:
    docs = (REPO / "docs" / "api.md").read_text()
    root = schema()
    for section in ("spec", "status"):
        for path, _node in walk(root["properties"][section]):
            if not path:
                continue
            leaf = path.rsplit(".", 1)[-1].removesuffix("[]").removesuffix(".*")
            if leaf and leaf != "*":
                assert leaf in docs, f"docs/api.md does not mention {section}{path}"


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    schema = yaml.safe_load(render_crd())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        for name, child in (node.get("properties") or {}).items():
            where = f"{path}.{name}"
            if where == ".metadata":
                continue  # the API server forbids anything but `type` there
            if not child.get("description"):
                missing.append(where)
            walk(child, where)
            if "items" in child:
                walk(child["items"], f"{where}[]")

    walk(schema, "")
    assert missing == []
