"""Building the local control plane's binaries from the Go module proxy.

Each component is a throwaway Go module kept in `gomod/<name>/` (go.mod and go.sum are
committed, so builds are pinned and checksummed). Binaries go to a cache directory keyed by
the pinned versions; a second build with the same versions finds them and does nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GOMOD_DIR = Path(__file__).parent / "gomod"


@dataclass(frozen=True)
class Component:
    name: str  # the gomod/ folder
    module: str  # the pinned module whose version keys the cache
    packages: tuple[str, ...]  # what `go build` builds ("." is the throwaway module itself)
    binaries: tuple[str, ...]  # what lands in the bin dir

    @property
    def module_dir(self) -> Path:
        return GOMOD_DIR / self.name

    @property
    def version(self) -> str:
        return pinned_version(self.module_dir / "go.mod", self.module)


KUBERNETES = Component(
    "kubernetes",
    "k8s.io/kubernetes",
    tuple(
        f"k8s.io/kubernetes/cmd/{cmd}"
        for cmd in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ),
    ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
)
ETCD = Component("etcd", "go.etcd.io/etcd/server/v3", (".",), ("etcd",))
KWOK = Component("kwok", "sigs.k8s.io/kwok", ("sigs.k8s.io/kwok/cmd/kwok",), ("kwok",))
HELM = Component("helm", "helm.sh/helm/v3", ("helm.sh/helm/v3/cmd/helm",), ("helm",))
# Not a cluster part: the kstatus library Flux uses, so tests judge health as GitOps tools do.
KSTATUS = Component("kstatus", "sigs.k8s.io/cli-utils", (".",), ("kstatus",))

COMPONENTS = (KUBERNETES, ETCD, KWOK, HELM, KSTATUS)


class BuildError(RuntimeError):
    pass


def pinned_version(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if not match:
        raise BuildError(f"{go_mod} does not pin {module}")
    return match.group(1)


def available_components() -> tuple[Component, ...]:
    return tuple(c for c in COMPONENTS if (c.module_dir / "go.mod").exists())


def cache_root() -> Path:
    base = os.environ.get("MODELOPS_CACHE_DIR") or Path.home() / ".cache" / "modelops"
    return Path(base)


def component_dir(component: Component) -> Path:
    """The cache folder for one component at its pinned version."""
    return cache_root() / "bin" / f"{component.name}-{component.version}"


def binary_path(binary: str) -> Path:
    """Where the pinned build of `binary` (kubectl, etcd, helm, ...) lives."""
    for component in available_components():
        if binary in component.binaries:
            return component_dir(component) / binary
    raise BuildError(f"no component builds {binary!r}")


def version_ldflags(component: Component) -> list[str]:
    """The -X flags that make `--version` print the real version."""
    version = component.version
    if component is KUBERNETES:
        major, minor = version.lstrip("v").split(".")[:2]
        flags = []
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {pkg}.gitVersion={version}",
                f"-X {pkg}.gitMajor={major}",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean",
                f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
            ]
        return flags
    if component is KWOK:
        return [f"-X sigs.k8s.io/kwok/pkg/consts.Version={version.lstrip('v')}"]
    if component is HELM:
        # As Helm's own Makefile does: the Kubernetes version `helm lint`/`helm template`
        # assume is the one of the client-go Helm is built with (v0.X.Y -> 1.X; its
        # Makefile computes the major as 0 + 1). Without these, Helm assumes 1.20.
        client_go = pinned_version(component.module_dir / "go.mod", "k8s.io/client-go")
        kube_major = str(int(client_go.lstrip("v").split(".")[0]) + 1)
        kube_minor = client_go.split(".")[1]
        flags = [
            f"-X helm.sh/helm/v3/internal/version.version={version}",
            "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
        ]
        for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
            flags += [
                f"-X {pkg}.k8sVersionMajor={kube_major}",
                f"-X {pkg}.k8sVersionMinor={kube_minor}",
            ]
        return flags
    return []


def is_built(component: Component) -> bool:
    return all((component_dir(component) / name).is_file() for name in component.binaries)


def build(*, log: bool = True) -> list[Component]:
    """Build the components missing from the cache; return those that were built."""
    missing = [c for c in available_components() if not is_built(c)]
    if missing and shutil.which("go") is None:
        raise BuildError("Go is required to build the local cluster (https://go.dev/dl/)")
    for component in missing:
        if log:
            print(f"building {component.name} {component.version} ...", file=sys.stderr, flush=True)
        target = component_dir(component)
        target.mkdir(parents=True, exist_ok=True)
        _go_build(component, target)
    return missing


def _go_build(component: Component, target: Path) -> None:
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=readonly")
    ldflags = " ".join(["-s", "-w", *version_ldflags(component)])
    with tempfile.TemporaryDirectory(dir=target, prefix=f".{component.name}-") as staging:
        # Work on a copy: the package may be installed read-only, and `go build` wants to
        # own its module directory.
        workdir = Path(staging) / "module"
        shutil.copytree(component.module_dir, workdir)
        out = Path(staging) / "out"
        out.mkdir()
        output = str(out / component.binaries[0]) if component.packages == (".",) else f"{out}/"
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", output, *component.packages]
        result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"building {component.name} failed:\n{result.stderr[-4000:]}")
        for name in component.binaries:
            os.replace(out / name, target / name)
