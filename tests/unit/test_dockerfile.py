"""The Dockerfile cannot be built here (no container engine), so it is kept honest statically:
hadolint passes with no unexplained ignores, the final stage has the properties the Helm
chart relies on, and the project is installed the same way `make install` does it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
MAKEFILE = REPO / "Makefile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def stages(text: str) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def pip_commands(shell: str) -> list[list[str]]:
    """Each `pip wheel|install ...` of a shell line, as words, without the cache/quiet
    flags (which change output, not what gets installed) or a `$(BIN)/` prefix."""
    noise = {"--quiet", "-q", "--no-cache-dir"}
    commands = []
    for part in re.split(r"&&|;|\n", shell):
        words = shlex.split(part.strip()) if part.strip() else []
        words = [w for w in words if not w.startswith("--mount=")]
        if words and words[0] == "RUN":
            words = words[1:]
        if len(words) >= 2 and Path(words[0]).name == "pip" and words[1] in {"wheel", "install"}:
            commands.append(["pip", *(w for w in words[1:] if w not in noise)])
    return commands


def makefile_recipe(target: str) -> list[str]:
    lines = MAKEFILE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().replace("$(BIN)/", "").replace("$(WHEEL_DIR)", "dist"))
    return recipe


def normalized_wheel_path(word: str) -> str:
    return Path(word).name


def test_hadolint_passes_without_unexplained_ignores() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in DOCKERFILE.read_text().splitlines():
        if "hadolint ignore=" in line:
            # `# hadolint ignore=DLxxxx -- why it does not apply here`
            assert re.search(r"ignore=\S+\s+--\s+\S", line), f"unexplained ignore: {line}"


def test_hadolint_really_checks(tmp_path: Path) -> None:
    """A Dockerfile with textbook mistakes fails, so the pass above means something."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\nRUN cd /tmp && ls\n")
    result = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    for rule in ("DL3006", "DL3013", "DL3003"):
        assert rule in result.stdout


def test_the_image_installs_the_project_as_make_install_does() -> None:
    dockerfile = DOCKERFILE.read_text()
    make_commands = [c for line in makefile_recipe("install") for c in pip_commands(line)]
    docker_commands = [
        c for i in instructions(dockerfile) if i.keyword == "RUN" for c in pip_commands(i.arguments)
    ]
    make_wheel = next(c for c in make_commands if c[1] == "wheel")
    make_install = next(c for c in make_commands if c[1] == "install")
    assert make_wheel == ["pip", "wheel", "--no-deps", "--wheel-dir", "dist", "."]
    # The same wheel build, word for word.
    assert make_wheel in docker_commands
    # Both install the built wheel file, never the source tree (`pip install .` or -e).
    wheel_target = normalized_wheel_path(make_install[-1])
    assert wheel_target == "modelops-*.whl"
    docker_installs = [c for c in docker_commands if c[1] == "install"]
    assert docker_installs, "the final stage must pip install the wheel"
    for command in [*docker_installs, make_install]:
        assert normalized_wheel_path(command[-1]) == wheel_target, command
        assert not {".", "-e", "--editable"} & set(command), command


def test_the_final_stage_is_small_non_root_and_read_only_friendly() -> None:
    text = DOCKERFILE.read_text()
    build, final = stages(text)
    assert build[0].arguments.endswith("AS builder")
    assert "python:3.11-slim" in text
    keywords = [i.keyword for i in final]
    assert "HEALTHCHECK" not in keywords  # Kubernetes probes do that
    user = next(i for i in final if i.keyword == "USER").arguments
    uid = user.split(":")[0]
    assert uid.isdigit(), "numeric, so runAsNonRoot can verify it"
    assert int(uid) > 0
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    env = " ".join(i.arguments for i in final if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    final_runs = " ".join(i.arguments for i in final if i.keyword == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip wheel", "COPY . "):
        assert tool not in final_runs
    assert not any(i.keyword in {"COPY", "ADD"} for i in final)  # only the built wheels
    labels = " ".join(i.arguments for i in final if i.keyword == "LABEL")
    for key in ("title", "source", "version", "revision", "licenses", "description"):
        assert f"org.opencontainers.image.{key}=" in labels
    entrypoint = next(i for i in final if i.keyword == "ENTRYPOINT").arguments
    assert entrypoint == '["modelops"]'


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        (
            "$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .",
            [["pip", "wheel", "--no-deps", "--wheel-dir", "dist", "."]],
        ),
        (
            "pip install a && echo b; /x/bin/pip install --no-cache-dir c",
            [["pip", "install", "a"], ["pip", "install", "c"]],
        ),
        ("--mount=type=bind,source=x pip install y", [["pip", "install", "y"]]),
        ("echo pip install z", []),
    ],
)
def test_pip_command_extraction(shell: str, expected: list[list[str]]) -> None:
    assert pip_commands(shell.replace("$(BIN)/", "")) == expected
