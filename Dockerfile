# syntax=docker/dockerfile:1
# One image for `modelops operator` and `modelops router` (the Helm chart runs both from it).
#
#   docker build -t ghcr.io/modelops/modelops:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The project is installed exactly as `make install` does it: `pip wheel` builds the wheel,
# `pip install` installs that wheel (tests/unit/test_dockerfile.py keeps the two in step).
# Runs as a numeric non-root user and writes nothing outside /tmp, so it works with
# readOnlyRootFilesystem. No HEALTHCHECK: Kubernetes probes /healthz and /readyz.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The project's wheel (as `make install`), then wheels of every dependency, so the final
# stage installs offline and needs no compiler.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir dist . \
    && pip wheel --no-cache-dir --wheel-dir dist dist/modelops-*.whl

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="modelops" \
      org.opencontainers.image.description="Kubernetes operator and OpenAI-compatible router for vLLM and Ollama" \
      org.opencontainers.image.source="https://github.com/modelops/modelops" \
      org.opencontainers.image.url="https://github.com/modelops/modelops" \
      org.opencontainers.image.documentation="https://github.com/modelops/modelops/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# No .pyc writes at run time (read-only root; pip already compiled them at install), logs
# unbuffered, and HOME in the writable /tmp for libraries that want a home directory.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
RUN --mount=type=bind,from=builder,source=/src/dist,target=/src/dist \
    pip install --no-cache-dir --no-index --find-links /src/dist /src/dist/modelops-*.whl \
    && groupadd --system --gid 10001 modelops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin modelops
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["modelops"]
CMD ["operator"]
