"""Render what the scanner (checkov, `make lint`) reads: the chart with every option on
(ci/all-values.yaml) and the children the operator builds for every example in examples/.

    python -m tests.security.render_manifests OUT_DIR

writes OUT_DIR/chart/all-values.yaml and OUT_DIR/workloads/<example>.yaml.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from modelops.api import parse_model_deployment
from modelops.builders import FIRST_SLOT, build_children
from modelops.localcluster import toolchain

REPO = Path(__file__).resolve().parent.parent.parent
CHART = REPO / "helm" / "modelops"
EXAMPLES = REPO / "examples"
# A model namespace of ci/all-values.yaml, so the scanner pairs the workloads with the chart's
# runtime NetworkPolicy there.
NAMESPACE = "ai-prod"


def example_documents() -> list[dict[str, Any]]:
    """Every ModelDeployment in examples/ (the catalog the README applies)."""
    documents = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "ModelDeployment":
                documents.append(document)
    return documents


def workloads(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The children the operator applies for one example, in its first slot."""
    name = document["metadata"]["name"]
    body = {**document, "metadata": {**document["metadata"], "namespace": NAMESPACE}}
    md = parse_model_deployment(body)
    children = build_children(
        md,
        namespace=NAMESPACE,
        name=name,
        uid=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        slot=FIRST_SLOT,
        replicas=md.spec.replicas,
    )
    return children.all()


def render_chart(out: Path) -> Path:
    if not toolchain.is_built(toolchain.HELM):
        toolchain.build()
    result = subprocess.run(
        [
            str(toolchain.binary_path("helm")),
            "template",
            "mo",
            str(CHART),
            "-n",
            "modelops-system",
            "-f",
            str(CHART / "ci" / "all-values.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    path = out / "chart" / "all-values.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.stdout)
    return path


def render_workloads(out: Path) -> list[Path]:
    folder = out / "workloads"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for document in example_documents():
        path = folder / f"{document['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump_all(workloads(document), sort_keys=False))
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.security.render_manifests OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    chart = render_chart(out)
    rendered = render_workloads(out)
    print(f"rendered {chart} and {len(rendered)} example workloads in {out / 'workloads'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
